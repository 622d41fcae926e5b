//! Arbitrary sequences of batches: the store never panics, every served window is positive, lists
//! are ordered and consistent with lookups, and every answer equals the naive model's.

use std::time::Duration;

use metric_store::{
    ContainerPoint, MetricsBatch, MetricsPoint, PodRef, Snapshot, Store, StoreSummary, Timestamp,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use crate::model::Model;
use crate::support::{S, T0};

pub const NODES: [&str; 3] = ["n1", "n2", "n3"];
const NAMESPACES: [&str; 3] = ["a", "b", "kube-system"];
const PODS: [&str; 2] = ["p", "q"];
const CONTAINERS: [&str; 3] = ["c1", "c2", "c3"];

/// Mostly instants within a few seconds of `T0` (the test moves them forward per cycle), so that
/// equal, older and newer samples, restarts and fresh containers all happen; sometimes the
/// unknown instant or anything at all.
fn timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        8 => (0_i64..8).prop_map(|half_seconds| Timestamp(T0 + half_seconds * S / 2)),
        1 => Just(Timestamp::ZERO),
        1 => any::<i64>().prop_map(Timestamp),
    ]
}

/// Often one long-running start shared by many samples (history carries over), otherwise like
/// sample times (restarts, fresh containers, start-time decreases).
fn start_time() -> impl Strategy<Value = Timestamp> {
    prop_oneof![1 => Just(Timestamp(T0 - 3_600 * S)), 1 => timestamp()]
}

fn cpu() -> impl Strategy<Value = u64> {
    prop_oneof![8 => 0_u64..10_000_000_000, 1 => Just(0), 1 => any::<u64>()]
}

fn point() -> impl Strategy<Value = MetricsPoint> {
    (
        start_time(),
        timestamp(),
        cpu(),
        any::<u64>(),
        option::of(any::<u64>()),
    )
        .prop_map(
            |(start_time, timestamp, cumulative_cpu_ns, memory_bytes, swap_bytes)| MetricsPoint {
                start_time,
                timestamp,
                cumulative_cpu_ns,
                memory_bytes,
                swap_bytes,
            },
        )
}

fn container() -> impl Strategy<Value = ContainerPoint> {
    (prop::sample::select(&CONTAINERS[..]), point()).prop_map(|(name, point)| ContainerPoint {
        name: name.to_owned(),
        point,
    })
}

/// Each known node present with probability 0.8, each known pod with 0.7 (with 0–3 containers,
/// names possibly repeated).
pub fn metrics_batch() -> impl Strategy<Value = MetricsBatch> {
    let pod_count = NAMESPACES.len() * PODS.len();
    (
        vec(option::weighted(0.8, point()), NODES.len()),
        vec(option::weighted(0.7, vec(container(), 0..4)), pod_count),
    )
        .prop_map(|(nodes, pods)| MetricsBatch {
            nodes: NODES
                .iter()
                .zip(nodes)
                .filter_map(|(name, point)| Some(((*name).to_owned(), point?)))
                .collect(),
            pods: every_pod_ref()
                .zip(pods)
                .filter_map(|(pod, containers)| Some((pod, containers?)))
                .collect(),
        })
}

pub fn every_pod_ref() -> impl Iterator<Item = PodRef> {
    NAMESPACES
        .iter()
        .flat_map(|namespace| PODS.iter().map(|pod| PodRef::new(*namespace, *pod)))
}

/// Moves sample times `cycles × step` forward and counters by 20 CPU-seconds per cycle.
pub fn advance_samples(batch: &mut MetricsBatch, cycles: i64, step_ns: i64) {
    let cpu_ns = u64::try_from(cycles).unwrap() * 20_000_000_000;
    let points = batch
        .nodes
        .values_mut()
        .chain(batch.pods.values_mut().flatten().map(|c| &mut c.point));
    for point in points {
        point.timestamp = Timestamp(point.timestamp.0.saturating_add(cycles * step_ns));
        point.cumulative_cpu_ns = point.cumulative_cpu_ns.saturating_add(cpu_ns);
    }
}

pub fn check_invariants(
    snapshot: &Snapshot,
    summary: &StoreSummary,
    batch: &MetricsBatch,
) -> Result<(), TestCaseError> {
    let nodes: Vec<_> = snapshot.nodes().collect();
    prop_assert!(
        nodes.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "nodes sorted by name"
    );
    for (name, usage) in &nodes {
        prop_assert!(usage.window_ns > 0);
        prop_assert!(
            batch.nodes.contains_key(*name),
            "only nodes of the latest batch are served"
        );
        prop_assert_eq!(snapshot.node(name), Some(*usage));
    }
    prop_assert_eq!(nodes.len(), snapshot.servable_node_count());
    prop_assert_eq!(nodes.len(), summary.servable_nodes);

    let pods: Vec<_> = snapshot.pods().collect();
    let keys: Vec<(&str, &str)> = pods
        .iter()
        .map(|pod| (pod.namespace(), pod.name()))
        .collect();
    prop_assert!(
        keys.windows(2).all(|pair| pair[0] < pair[1]),
        "pods sorted by namespace, then name"
    );
    prop_assert_eq!(pods.len(), snapshot.servable_pod_count());
    for pod in &pods {
        prop_assert!(
            batch
                .pods
                .contains_key(&PodRef::new(pod.namespace(), pod.name()))
        );
        let containers: Vec<_> = pod.containers().collect();
        prop_assert!(
            containers.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "containers sorted by name"
        );
        for (_, usage) in &containers {
            prop_assert!(usage.window_ns > 0);
        }
        match containers.iter().map(|(_, usage)| usage.timestamp).min() {
            Some(earliest) => {
                prop_assert_eq!(pod.timestamp(), earliest);
                prop_assert!(pod.window_ns() > 0);
            }
            None => prop_assert_eq!((pod.timestamp(), pod.window_ns()), (Timestamp::ZERO, 0)),
        }
        let looked_up = snapshot
            .pod(pod.namespace(), pod.name())
            .map(|p| (p.namespace(), p.name()));
        prop_assert_eq!(looked_up, Some((pod.namespace(), pod.name())));
    }
    for namespace in NAMESPACES.iter().chain(&["", "b-", "zzz"]) {
        let alone: Vec<_> = snapshot
            .pods_in_namespace(namespace)
            .map(|pod| pod.name())
            .collect();
        let filtered: Vec<_> = pods
            .iter()
            .filter(|pod| pod.namespace() == *namespace)
            .map(|pod| pod.name())
            .collect();
        prop_assert_eq!(alone, filtered);
    }

    prop_assert_eq!(summary.node_points, snapshot.node_points());
    prop_assert_eq!(summary.container_points, snapshot.container_points());
    prop_assert_eq!(summary.readiness_after, snapshot.readiness());
    prop_assert_eq!(
        snapshot.is_ready(),
        snapshot.node_ready() && snapshot.pod_ready()
    );
    Ok(())
}

fn check_against_model(snapshot: &Snapshot, model: &Model) -> Result<(), TestCaseError> {
    for name in NODES {
        prop_assert_eq!(snapshot.node(name), model.node(name), "node {}", name);
    }
    for pod in every_pod_ref() {
        let served = snapshot.pod(&pod.namespace, &pod.name).map(|usage| {
            let containers = usage
                .containers()
                .map(|(name, usage)| (name.to_owned(), usage))
                .collect::<Vec<_>>();
            (usage.timestamp(), usage.window_ns(), containers)
        });
        prop_assert_eq!(served, model.pod(&pod), "pod {}", pod);
    }
    prop_assert_eq!(snapshot.node_points(), model.node_points());
    prop_assert_eq!(snapshot.container_points(), model.container_points());
    prop_assert_eq!(snapshot.is_ready(), model.ready());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_batches_is_served_like_the_model(
        resolution_s in 5_u64..=60,
        step_s in prop_oneof![1 => Just(0_i64), 4 => 1_i64..20],
        batches in vec(metrics_batch(), 1..8),
    ) {
        let store = Store::new(Duration::from_secs(resolution_s));
        let mut model = Model::new(i64::try_from(resolution_s).unwrap() * S);
        for (cycle, mut batch) in (0_i64..).zip(batches) {
            // Sample times and counters mostly move forward from cycle to cycle, as scrapes do;
            // start times stay put, so containers age and pass through the fresh window.
            advance_samples(&mut batch, cycle, step_s * S);
            model.store(&batch);
            let summary = store.store(batch.clone());
            let snapshot = store.snapshot();
            check_invariants(&snapshot, &summary, &batch)?;
            check_against_model(&snapshot, &model)?;
        }
    }
}

#[test]
fn the_model_agrees_on_a_plain_two_scrape_history() {
    // Guards the model itself: a property test against a model that serves nothing proves little.
    let mut model = Model::new(15 * S);
    let point = |ts: i64, cpu: u64| MetricsPoint {
        timestamp: Timestamp(T0 + ts * S),
        cumulative_cpu_ns: cpu,
        ..MetricsPoint::default()
    };
    for (ts, cpu) in [(0, 0), (15, 3_000_000_000)] {
        let mut batch = MetricsBatch::default();
        batch.nodes.insert("n1".to_owned(), point(ts, cpu));
        batch.pods.insert(
            PodRef::new("a", "p"),
            vec![ContainerPoint {
                name: "c1".to_owned(),
                point: point(ts, cpu),
            }],
        );
        model.store(&batch);
    }
    assert_eq!(
        model.node("n1").map(|usage| usage.cpu_nanocores),
        Some(200_000_000)
    );
    assert_eq!(
        model.pod(&PodRef::new("a", "p")).map(|pod| pod.2.len()),
        Some(1)
    );
    assert!(model.ready());
}
