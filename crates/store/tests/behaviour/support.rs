//! Shorthand for building batches and reading results in the behaviour tests.

use std::time::Duration;

use metric_store::{
    ContainerPoint, MetricsBatch, MetricsPoint, PodRef, Snapshot, Store, Timestamp, Usage,
};

/// One second in nanoseconds.
pub const S: i64 = 1_000_000_000;
/// One CPU-second in core-nanoseconds.
pub const CPU_S: u64 = 1_000_000_000;
/// An arbitrary, realistic epoch for the scenarios (2025-06-15).
pub const T0: i64 = 1_750_000_000 * S;
/// The resolution the upstream manifests use.
pub const RESOLUTION: Duration = Duration::from_secs(15);

/// `seconds` after [`T0`].
pub fn at(seconds: i64) -> Timestamp {
    Timestamp(T0 + seconds * S)
}

/// A sample taken at `at(ts)` of something started at `at(start)`.
pub fn sample(start: i64, ts: i64, cpu_ns: u64) -> MetricsPoint {
    MetricsPoint {
        start_time: at(start),
        timestamp: at(ts),
        cumulative_cpu_ns: cpu_ns,
        memory_bytes: 1 << 20,
        swap_bytes: None,
    }
}

/// A sample of a node or container started an hour before `T0`, so never "fresh".
pub fn old(ts: i64, cpu_ns: u64) -> MetricsPoint {
    sample(-3600, ts, cpu_ns)
}

pub fn store() -> Store {
    Store::new(RESOLUTION)
}

/// Builds a [`MetricsBatch`] one item at a time.
#[derive(Default)]
pub struct Batch(MetricsBatch);

pub fn batch() -> Batch {
    Batch::default()
}

impl Batch {
    pub fn node(mut self, name: &str, point: MetricsPoint) -> Self {
        self.0.nodes.insert(name.to_owned(), point);
        self
    }

    pub fn container(
        mut self,
        namespace: &str,
        pod: &str,
        container: &str,
        point: MetricsPoint,
    ) -> Self {
        self.0
            .pods
            .entry(PodRef::new(namespace, pod))
            .or_default()
            .push(ContainerPoint {
                name: container.to_owned(),
                point,
            });
        self
    }

    pub fn empty_pod(mut self, namespace: &str, pod: &str) -> Self {
        self.0.pods.entry(PodRef::new(namespace, pod)).or_default();
        self
    }

    pub fn build(self) -> MetricsBatch {
        self.0
    }
}

/// The containers a pod serves, by name.
pub fn containers(snapshot: &Snapshot, namespace: &str, pod: &str) -> Option<Vec<(String, Usage)>> {
    let pod = snapshot.pod(namespace, pod)?;
    Some(
        pod.containers()
            .map(|(name, usage)| (name.to_owned(), usage))
            .collect(),
    )
}

/// The names of the containers a pod serves.
pub fn container_names(snapshot: &Snapshot, namespace: &str, pod: &str) -> Option<Vec<String>> {
    containers(snapshot, namespace, pod)
        .map(|list| list.into_iter().map(|(name, _)| name).collect())
}

/// The pods the snapshot serves, as `namespace/name`.
pub fn pod_names(snapshot: &Snapshot) -> Vec<String> {
    snapshot
        .pods()
        .map(|pod| format!("{}/{}", pod.namespace(), pod.name()))
        .collect()
}
