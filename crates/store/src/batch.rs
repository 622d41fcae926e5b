//! What one scrape cycle produces: one point per node and per container.

use std::collections::HashMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// An instant as nanoseconds since the Unix epoch. `Timestamp::ZERO` stands for Go's zero time
/// (unknown), which sorts before every real sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The unknown instant.
    pub const ZERO: Timestamp = Timestamp(0);

    /// The wall clock now (`ZERO` for a clock before 1970, the last instant past 2262).
    pub fn now() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        Timestamp(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    /// From milliseconds since the epoch, as Prometheus text carries them.
    pub const fn from_unix_millis(ms: i64) -> Self {
        Timestamp(ms.saturating_mul(1_000_000))
    }

    /// Nanoseconds since the epoch.
    pub const fn as_unix_nanos(self) -> i64 {
        self.0
    }

    /// Whether this is the unknown instant.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// One sample of a node or a container, as the kubelet reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsPoint {
    /// When the node or container started; `ZERO` when the kubelet did not say.
    pub start_time: Timestamp,
    /// When the kubelet took the sample (or when the scrape started, if it gave no time).
    pub timestamp: Timestamp,
    /// Cumulative CPU time in nanoseconds (core-nanoseconds).
    pub cumulative_cpu_ns: u64,
    /// Working set in bytes.
    pub memory_bytes: u64,
    /// Swap in use in bytes, when the kubelet reports it.
    pub swap_bytes: Option<u64>,
}

/// A pod's identity in the batch and in the store.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
}

impl PodRef {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        PodRef {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One container's sample inside a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerPoint {
    pub name: String,
    pub point: MetricsPoint,
}

/// A map keyed by names a kubelet sent, hashed with foldhash instead of std's SipHash: a
/// scrape cycle hashes every pod and container name several times (decode, merge, store), and
/// SipHash made that a tenth of a cycle's CPU. The seed is still random per process, so a
/// kubelet cannot pick colliding names in advance; how much one node can send is bounded by the
/// response size limit anyway.
pub type NameMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Everything one scrape cycle collected, keyed by Node object name and by pod.
#[derive(Clone, Debug, Default)]
pub struct MetricsBatch {
    pub nodes: NameMap<String, MetricsPoint>,
    pub pods: NameMap<PodRef, Vec<ContainerPoint>>,
}
