//! The usage window (`Store::with_usage_window`): CPU over the samples of the last `window`,
//! restarts and counter resets starting over, the bound on samples kept, and a zero window
//! being upstream's two points exactly.

use std::time::Duration;

use metric_store::{MAX_SAMPLES_PER_SERIES, MetricsBatch, MetricsPoint, Store, Usage};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::model::Model;
use crate::properties::{NODES, advance_samples, check_invariants, every_pod_ref, metrics_batch};
use crate::support::*;
use crate::window_model::WindowModel;

/// A store with a `window_s` usage window at the manifests' 15 s resolution.
fn windowed(window_s: u64) -> Store {
    Store::with_usage_window(RESOLUTION, Duration::from_secs(window_s))
}

/// Node `n1` and container `ns/p/c` with the same long-running sample.
fn both(point: MetricsPoint) -> MetricsBatch {
    batch()
        .node("n1", point)
        .container("ns", "p", "c", point)
        .build()
}

fn container(store: &Store) -> Option<Usage> {
    containers(&store.snapshot(), "ns", "p").map(|list| list[0].1)
}

/// `(window, nanocores)` of a usage.
fn rate(usage: Option<Usage>) -> Option<(i64, u64)> {
    usage.map(|usage| (usage.window_ns, usage.cpu_nanocores))
}

/// Cumulative CPU-seconds at each 15 s scrape, irregular so that every pair of samples gives a
/// different rate.
const CPU_SECONDS: [u64; 10] = [0, 1, 5, 6, 20, 30, 31, 40, 52, 53];

#[test]
fn after_six_cycles_cpu_is_the_rate_from_the_oldest_sample_within_the_window() {
    let store = windowed(60);
    let mut served = Vec::new();
    for (cycle, cpu) in (0..6).zip(CPU_SECONDS) {
        store.store(both(old(cycle * 15, cpu * CPU_S)));
        served.push(rate(store.snapshot().node("n1")));
    }
    assert_eq!(
        served,
        [
            None,
            Some((15 * S, 66_666_666)),  // 1 CPU-s over 0..15
            Some((30 * S, 166_666_666)), // 5 over 0..30
            Some((45 * S, 133_333_333)), // 6 over 0..45
            Some((60 * S, 333_333_333)), // 20 over 0..60
            Some((60 * S, 483_333_333)), // 29 over 15..75; two points would give 666_666_666
        ]
    );
    let snapshot = store.snapshot();
    let pod = snapshot.pod("ns", "p").unwrap();
    assert_eq!((pod.timestamp(), pod.window_ns()), (at(75), 60 * S));
    assert_eq!(
        rate(container(&store)),
        Some((60 * S, 483_333_333)),
        "containers follow the same rule"
    );
}

#[test]
fn samples_older_than_the_window_are_dropped() {
    let store = windowed(60);
    for (cycle, cpu) in (0..10).zip(CPU_SECONDS) {
        let summary = store.store(both(old(cycle * 15, cpu * CPU_S)));
        // Four older samples per series at most: 60 s at 15 s, the newest aside.
        let older = usize::try_from(cycle).unwrap().min(4);
        assert_eq!(summary.window_samples, 2 * older, "cycle {cycle}");
    }
    // 53 − 30 CPU-seconds between 75 s and 135 s; the samples at 0..60 s are gone.
    assert_eq!(
        rate(store.snapshot().node("n1")),
        Some((60 * S, 383_333_333))
    );
    assert_eq!(rate(container(&store)), Some((60 * S, 383_333_333)));
}

#[test]
fn memory_and_swap_are_the_newest_values() {
    let store = windowed(60);
    for cycle in 0..4 {
        let mut point = old(cycle * 15, 0);
        point.memory_bytes = 1_000 + u64::try_from(cycle).unwrap();
        point.swap_bytes = (cycle == 3).then_some(77);
        store.store(both(point));
    }
    let node = store.snapshot().node("n1").unwrap();
    assert_eq!(
        (node.window_ns, node.memory_bytes, node.swap_bytes),
        (45 * S, 1_003, Some(77))
    );
    let container = container(&store).unwrap();
    assert_eq!(
        (container.memory_bytes, container.swap_bytes),
        (1_003, Some(77))
    );
}

#[test]
fn a_container_restart_starts_over() {
    let store = windowed(60);
    for cycle in 0..5 {
        store.store(both(old(cycle * 15, 100 * CPU_S)));
    }
    assert_eq!(rate(container(&store)).map(|r| r.0), Some(60 * S));

    // Started at 70 s, after the stored newest sample at 60 s: a restart, 5 s old, not fresh.
    let restarted = |ts: i64, cpu: u64| {
        batch()
            .node("n1", old(ts, 100 * CPU_S))
            .container("ns", "p", "c", sample(70, ts, cpu))
            .build()
    };
    let summary = store.store(restarted(75, 0));
    assert_eq!(container(&store), None);
    assert!(store.snapshot().pod("ns", "p").is_none());
    assert_eq!(
        summary.container_histories_started_over, 0,
        "a restart is not a reset"
    );

    // The window grows again from the restart: 15 s, 30 s, ... up to 60 s.
    let mut windows = Vec::new();
    for (cycle, cpu) in (6..11).zip([3, 6, 9, 12, 15]) {
        store.store(restarted(cycle * 15, cpu * CPU_S));
        windows.push(rate(container(&store)));
    }
    assert_eq!(
        windows,
        [
            Some((15 * S, 200_000_000)),
            Some((30 * S, 200_000_000)),
            Some((45 * S, 200_000_000)),
            Some((60 * S, 200_000_000)),
            Some((60 * S, 200_000_000)),
        ]
    );
    assert_eq!(
        rate(store.snapshot().node("n1")).map(|r| r.0),
        Some(60 * S),
        "the node kept its window"
    );
}

#[test]
fn a_restart_within_the_fresh_window_is_served_from_its_start_until_a_second_sample() {
    let store = windowed(60);
    for cycle in 0..5 {
        store.store(both(old(cycle * 15, 100 * CPU_S)));
    }
    // Started at 63 s, 12 s old at 75 s: fresh, served at once over 12 s, as upstream.
    store.store(
        batch()
            .container("ns", "p", "c", sample(63, 75, 3 * CPU_S))
            .build(),
    );
    assert_eq!(rate(container(&store)), Some((12 * S, 250_000_000)));
    // Then real samples only: the synthetic start is not kept.
    store.store(
        batch()
            .container("ns", "p", "c", sample(63, 90, 6 * CPU_S))
            .build(),
    );
    assert_eq!(rate(container(&store)), Some((15 * S, 200_000_000)));
}

#[test]
fn a_counter_decrease_starts_over() {
    let store = windowed(60);
    for cycle in 0..5 {
        store.store(both(old(
            cycle * 15,
            100 * CPU_S + u64::try_from(cycle).unwrap(),
        )));
    }
    // A node reboot and a container counter reset: both lower than the newest kept sample.
    let summary = store.store(both(old(75, CPU_S)));
    let snapshot = store.snapshot();
    assert_eq!(snapshot.node("n1"), None);
    assert!(
        snapshot.pod("ns", "p").is_none(),
        "the container has no older sample, so the pod waits a cycle as after a restart"
    );
    assert_eq!(
        (
            summary.node_histories_started_over,
            summary.container_histories_started_over,
            summary.usage_errors(),
            summary.window_samples,
        ),
        (1, 1, 0, 0)
    );
    assert_eq!((summary.node_points, summary.container_points), (0, 0));

    store.store(both(old(90, 4 * CPU_S)));
    assert_eq!(
        rate(store.snapshot().node("n1")),
        Some((15 * S, 200_000_000))
    );
    assert_eq!(rate(container(&store)), Some((15 * S, 200_000_000)));
}

#[test]
fn a_start_time_decrease_starts_over() {
    let store = windowed(60);
    store.store(batch().node("n1", sample(-100, 0, CPU_S)).build());
    store.store(batch().node("n1", sample(-100, 15, 2 * CPU_S)).build());
    let summary = store.store(batch().node("n1", sample(-200, 30, 3 * CPU_S)).build());
    assert_eq!(store.snapshot().node("n1"), None);
    assert_eq!(summary.node_histories_started_over, 1);
    store.store(batch().node("n1", sample(-200, 45, 4 * CPU_S)).build());
    assert_eq!(
        rate(store.snapshot().node("n1")),
        Some((15 * S, 66_666_666))
    );
}

#[test]
fn new_items_with_one_sample_are_served_as_today() {
    let first = batch()
        .node("n1", old(0, CPU_S))
        .container("ns", "steady", "c", old(0, CPU_S))
        .container("ns", "fresh", "c", sample(-12, 0, 3 * CPU_S))
        .container("ns", "young", "c", sample(-5, 0, 3 * CPU_S))
        .build();
    let upstream = store();
    let upstream_summary = upstream.store(first.clone());
    let window = windowed(120);
    let window_summary = window.store(first);
    let (upstream, window) = (upstream.snapshot(), window.snapshot());

    assert_eq!(window.node("n1"), None);
    assert_eq!(
        containers(&window, "ns", "fresh"),
        containers(&upstream, "ns", "fresh")
    );
    assert_eq!(
        rate(containers(&window, "ns", "fresh").map(|list| list[0].1)),
        Some((12 * S, 250_000_000))
    );
    assert_eq!(pod_names(&window), ["ns/fresh"]);
    assert_eq!(pod_names(&window), pod_names(&upstream));
    assert_eq!(window_summary, upstream_summary);
}

#[test]
fn a_repeated_sample_keeps_the_window() {
    let store = windowed(60);
    for cycle in 0..4 {
        store.store(both(old(
            cycle * 15,
            u64::try_from(cycle).unwrap() * 3 * CPU_S,
        )));
    }
    let before = (store.snapshot().node("n1"), container(&store));
    // The kubelet repeats its cached sample.
    let summary = store.store(both(old(45, 9 * CPU_S)));
    assert_eq!((store.snapshot().node("n1"), container(&store)), before);
    assert_eq!(rate(before.0), Some((45 * S, 200_000_000)));
    assert_eq!(summary.prevs_dropped(), 0);
}

#[test]
fn a_late_scrape_still_gets_a_rate_over_the_one_longer_interval() {
    // The smallest window allowed, the resolution: jitter puts the previous sample just outside.
    let store = Store::with_usage_window(RESOLUTION, RESOLUTION);
    store.store(both(old(0, 0)));
    store.store(both(old(16, 4 * CPU_S)));
    assert_eq!(
        rate(store.snapshot().node("n1")),
        Some((16 * S, 250_000_000))
    );
    assert_eq!(rate(container(&store)), Some((16 * S, 250_000_000)));
}

#[test]
fn a_pod_reports_the_time_of_its_container_with_the_earliest_newest_sample() {
    let store = windowed(60);
    for cycle in 0..6 {
        let mut b = batch().container("ns", "p", "early", old(cycle * 15, 0));
        // `late` appears at the fourth scrape, and is sampled 3 s after `early`.
        if cycle >= 3 {
            b = b.container("ns", "p", "late", old(cycle * 15 + 3, 0));
        }
        store.store(b.build());
    }
    let snapshot = store.snapshot();
    let pod = snapshot.pod("ns", "p").unwrap();
    let windows: Vec<(&str, i64)> = pod
        .containers()
        .map(|(name, usage)| (name, usage.window_ns))
        .collect();
    assert_eq!(windows, [("early", 60 * S), ("late", 30 * S)]);
    // `early`'s newest sample is the earliest: its time and window, not the smallest window.
    assert_eq!((pod.timestamp(), pod.window_ns()), (at(75), 60 * S));
}

#[test]
fn ten_minutes_at_ten_seconds_keeps_at_most_the_cap() {
    let resolution = Duration::from_secs(10);
    let store = Store::with_usage_window(resolution, Duration::from_secs(600));
    let mut summary = None;
    for cycle in 0..100 {
        let stored = store.store(both(old(cycle * 10, u64::try_from(cycle).unwrap() * CPU_S)));
        assert!(
            stored.window_samples <= 2 * (MAX_SAMPLES_PER_SERIES - 1),
            "cycle {cycle}: {stored:?}"
        );
        summary = Some(stored);
    }
    assert_eq!(
        summary.unwrap().window_samples,
        2 * (MAX_SAMPLES_PER_SERIES - 1)
    );
    // 41 samples span 400 s, not the 600 s asked for.
    assert_eq!(
        rate(store.snapshot().node("n1")),
        Some((400 * S, 100_000_000)),
        "40 CPU-seconds over 400 s"
    );
    assert_eq!(rate(container(&store)).map(|r| r.0), Some(400 * S));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A zero window is upstream's two-point store: the same answers as the naive model of
    /// upstream and the same summaries as `Store::new`.
    #[test]
    fn a_zero_window_is_upstream(
        resolution_s in 5_u64..=60,
        step_s in prop_oneof![1 => Just(0_i64), 4 => 1_i64..20],
        batches in vec(metrics_batch(), 1..8),
    ) {
        let resolution = Duration::from_secs(resolution_s);
        let zero = Store::with_usage_window(resolution, Duration::ZERO);
        let upstream = Store::new(resolution);
        let mut model = Model::new(i64::try_from(resolution_s).unwrap() * S);
        for (cycle, mut batch) in (0_i64..).zip(batches) {
            advance_samples(&mut batch, cycle, step_s * S);
            model.store(&batch);
            let summary = zero.store(batch.clone());
            prop_assert_eq!(summary, upstream.store(batch.clone()));
            prop_assert_eq!(summary.window_samples, 0);
            let snapshot = zero.snapshot();
            check_invariants(&snapshot, &summary, &batch)?;
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
        }
    }

    /// Any window over arbitrary batches: the store's invariants hold, every answer equals the
    /// naive windowed model's, and no series keeps more than its bound.
    #[test]
    fn any_window_is_served_like_the_windowed_model(
        resolution_s in 5_u64..=60,
        window_s in 1_u64..=240,
        step_s in prop_oneof![1 => Just(0_i64), 4 => 1_i64..20],
        batches in vec(metrics_batch(), 1..16),
    ) {
        let store = Store::with_usage_window(
            Duration::from_secs(resolution_s),
            Duration::from_secs(window_s),
        );
        let window_ns = i64::try_from(window_s).unwrap() * S;
        let mut model = WindowModel::new(i64::try_from(resolution_s).unwrap() * S, window_ns);
        for (cycle, mut batch) in (0_i64..).zip(batches) {
            advance_samples(&mut batch, cycle, step_s * S);
            model.store(&batch);
            let summary = store.store(batch.clone());
            let snapshot = store.snapshot();
            check_invariants(&snapshot, &summary, &batch)?;
            // The window's rules never pair samples whose counters went backwards.
            prop_assert_eq!(summary.usage_errors(), 0);
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
            prop_assert_eq!(summary.window_samples, model.window_samples());
        }
    }
}

#[test]
fn the_windowed_model_agrees_on_a_plain_history() {
    // Guards the model itself, as the upstream model's own test does.
    let mut model = WindowModel::new(15 * S, 30 * S);
    for (ts, cpu) in [(0, 0), (15, 3), (30, 9), (45, 12)] {
        model.store(&both(old(ts, cpu * CPU_S)));
    }
    assert_eq!(
        rate(model.node("n1")),
        Some((30 * S, 300_000_000)),
        "9 CPU-seconds over 15..45"
    );
    assert_eq!(model.window_samples(), 4);
}
