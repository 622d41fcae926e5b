//! Store and read costs at upstream's largest benchmark scenario: 1,000 nodes × 30 pods × 2
//! containers (30,000 pods in 10 namespaces).
//!
//! Run with `cargo bench -p metric-store --bench store`.

use std::time::Duration;

use divan::{Bencher, black_box};
use metric_store::{
    ContainerPoint, MetricsBatch, MetricsPoint, PodRef, Snapshot, Store, Timestamp,
};

const NODES: usize = 1_000;
const PODS_PER_NODE: usize = 30;
const NAMESPACES: usize = 10;
const CONTAINERS: [&str; 2] = ["app", "istio-proxy"];
const RESOLUTION: Duration = Duration::from_secs(15);
const S: i64 = 1_000_000_000;
const T0: i64 = 1_750_000_000 * S;

fn main() {
    divan::main();
}

/// The batch of scrape cycle `cycle`: the same nodes, pods and containers every cycle, sampled
/// one resolution later with counters advanced, as in a steady cluster.
fn batch(cycle: i64) -> MetricsBatch {
    let mut batch = MetricsBatch::default();
    let cycle_u64 = u64::try_from(cycle).unwrap_or_default();
    for node in 0..NODES {
        // Kubelets sample at their own cadence: spread the timestamps over a second.
        let jitter = i64::try_from(node).unwrap_or_default() * 1_000_000;
        let timestamp = Timestamp(T0 + cycle * 15 * S + jitter);
        let point = |cpu_per_cycle: u64, memory_bytes: u64| MetricsPoint {
            start_time: Timestamp(T0 - 86_400 * S),
            timestamp,
            cumulative_cpu_ns: cycle_u64 * cpu_per_cycle,
            memory_bytes,
            swap_bytes: None,
        };
        batch.nodes.insert(
            format!("ip-10-0-{}-{}.ec2.internal", node / 256, node % 256),
            point(6_000_000_000, 3 << 30),
        );
        for slot in 0..PODS_PER_NODE {
            let pod = node * PODS_PER_NODE + slot;
            let pod_ref = PodRef::new(
                format!("team-{}", pod % NAMESPACES),
                format!("deployment-{:03}-7db6d8ff4d-{pod:05x}", pod % 100),
            );
            let containers = CONTAINERS
                .iter()
                .map(|name| ContainerPoint {
                    name: (*name).to_owned(),
                    point: point(150_000_000, 64 << 20),
                })
                .collect();
            batch.pods.insert(pod_ref, containers);
        }
    }
    batch
}

/// A store that has seen two cycles, so every node and container is served.
fn steady_store() -> Store {
    let store = Store::new(RESOLUTION);
    store.store(batch(0));
    let summary = store.store(batch(1));
    assert_eq!(summary.servable_nodes, NODES);
    assert_eq!(summary.servable_pods, NODES * PODS_PER_NODE);
    store
}

/// One full `store()` cycle in steady state: the state already holds the previous cycle.
#[divan::bench(sample_count = 30, sample_size = 1)]
fn store_cycle(bencher: Bencher) {
    let store = steady_store();
    let mut cycle = 2;
    bencher
        .with_inputs(|| {
            cycle += 1;
            batch(cycle)
        })
        .bench_local_values(|batch| store.store(batch));
}

/// The same cycle with `--usage-window=2m`: each series also carries its 8 older samples into
/// the next snapshot.
#[divan::bench(sample_count = 30, sample_size = 1)]
fn store_cycle_with_usage_window(bencher: Bencher) {
    let store = Store::with_usage_window(RESOLUTION, Duration::from_secs(120));
    let mut cycle = 0;
    // Enough cycles to fill the window.
    while cycle < 10 {
        store.store(batch(cycle));
        cycle += 1;
    }
    bencher
        .with_inputs(|| {
            cycle += 1;
            batch(cycle)
        })
        .bench_local_values(|batch| store.store(batch));
}

/// What a `GET .../pods` needs from the store: every pod with its containers' usage.
#[divan::bench]
fn read_all_pods(bencher: Bencher) {
    let store = steady_store();
    bencher.bench_local(|| {
        let snapshot = store.snapshot();
        let mut checksum = 0_u64;
        for pod in snapshot.pods() {
            checksum +=
                pod.namespace().len() as u64 + pod.name().len() as u64 + pod.window_ns() as u64;
            for (name, usage) in pod.containers() {
                checksum += name.len() as u64 + usage.cpu_nanocores + usage.memory_bytes;
            }
        }
        black_box(checksum)
    });
}

/// What a `GET .../namespaces/team-3/pods` needs: the 3,000 pods of one namespace.
#[divan::bench]
fn read_one_namespace(bencher: Bencher) {
    let store = steady_store();
    bencher.bench_local(|| {
        let snapshot = store.snapshot();
        let mut checksum = 0_u64;
        for pod in snapshot.pods_in_namespace(black_box("team-3")) {
            checksum += pod.name().len() as u64 + pod.window_ns() as u64;
            for (name, usage) in pod.containers() {
                checksum += name.len() as u64 + usage.cpu_nanocores + usage.memory_bytes;
            }
        }
        black_box(checksum)
    });
}

/// What a `GET .../nodes` needs: every node's usage.
#[divan::bench]
fn read_all_nodes(bencher: Bencher) {
    let store = steady_store();
    bencher.bench_local(|| {
        let snapshot = store.snapshot();
        black_box(
            snapshot
                .nodes()
                .map(|(name, usage)| name.len() as u64 + usage.cpu_nanocores)
                .sum::<u64>(),
        )
    });
}

/// What a `GET .../namespaces/team-3/pods/<name>` needs: one lookup.
#[divan::bench]
fn get_one_pod(bencher: Bencher) {
    let store = steady_store();
    assert!(
        store
            .snapshot()
            .pod("team-3", "deployment-003-7db6d8ff4d-0138b")
            .is_some()
    );
    bencher.bench_local(|| {
        let snapshot = store.snapshot();
        let pod = snapshot.pod(
            black_box("team-3"),
            black_box("deployment-003-7db6d8ff4d-0138b"),
        );
        black_box(pod.map(|pod| pod.window_ns()))
    });
}

/// Every pod's name by namespace, sorted as the pod cache iterates them: what a list of all
/// pods walks to join the cache with the snapshot.
fn cache_order() -> Vec<(String, Vec<String>)> {
    let store = steady_store();
    let snapshot = store.snapshot();
    let mut namespaces: Vec<(String, Vec<String>)> = Vec::new();
    for pod in snapshot.pods() {
        match namespaces.last_mut() {
            Some((namespace, names)) if namespace == pod.namespace() => {
                names.push(pod.name().to_owned());
            }
            _ => namespaces.push((pod.namespace().to_owned(), vec![pod.name().to_owned()])),
        }
    }
    namespaces
}

/// Joins every cached pod with the snapshot through `lookup` (one namespace's names at a time)
/// and counts the pods found.
fn bench_join(bencher: Bencher, lookup: impl Fn(&Snapshot, &str, &[String]) -> usize) {
    let store = steady_store();
    let cache = cache_order();
    bencher.bench_local(|| {
        let snapshot = store.snapshot();
        let found: usize = cache
            .iter()
            .map(|(namespace, names)| lookup(&snapshot, namespace, names))
            .sum();
        black_box(found)
    });
}

/// Joining all 30,000 cached pods with the snapshot by a binary search per pod (how lists
/// looked pods up before `pods_by_name`).
#[divan::bench]
fn join_all_pods_by_binary_search(bencher: Bencher) {
    bench_join(bencher, |snapshot, namespace, names| {
        names
            .iter()
            .filter(|name| snapshot.pod(namespace, name).is_some())
            .count()
    });
}

/// The same join walking each namespace once with `pods_by_name`.
#[divan::bench]
fn join_all_pods_in_order(bencher: Bencher) {
    bench_join(bencher, |snapshot, namespace, names| {
        let mut stored = snapshot.pods_by_name(namespace);
        names
            .iter()
            .filter(|name| stored.get(name).is_some())
            .count()
    });
}
