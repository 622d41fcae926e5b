//! Decoders for the two kubelet payloads metrics-server reads: `/metrics/resource` (Prometheus
//! text) and `/stats/summary` (JSON). Both produce a [`KubeletMetrics`] for one node, with the
//! validity rules of upstream metrics-server already applied (incomplete node points and pods
//! are left out, never reported as zero).
//!
//! `/metrics/resource` has two decoders that share one set of rules (the `assemble` module) and differ
//! only in how they split lines into series: [`decode_resource`], a byte-level tokenizer that
//! allocates nothing per line (the hot path), and `decode_resource_with_prometheus_parse`,
//! built on the `prometheus-parse` crate and kept as the differential test oracle (feature
//! `oracle`, on only in this crate's tests and benchmarks).

mod assemble;
mod family;
mod hand;
#[cfg(feature = "oracle")]
mod prom_parse;
mod summary;
mod text;

use metric_store::{ContainerPoint, MetricsPoint, NameMap, PodRef};

pub use hand::decode_resource;
#[cfg(feature = "oracle")]
pub use prom_parse::decode_resource_with_prometheus_parse;
pub use summary::{SummaryDecodeError, decode_summary};
pub use text::{ResourceDecodeError, ResourceErrorKind};

/// What one kubelet reported, after upstream's validity rules.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KubeletMetrics {
    /// The node's own point; `None` when the kubelet gave no complete one (no timestamp, or
    /// zero or missing CPU or memory).
    pub node: Option<MetricsPoint>,
    /// Every pod whose containers all have CPU and memory. Containers keep the kubelet's order.
    pub pods: NameMap<PodRef, Vec<ContainerPoint>>,
    /// Pods left out because one of their containers lacked CPU or memory (or had zero). They
    /// are reported so the caller can log them; upstream drops them the same way.
    pub incomplete_pods: Vec<PodRef>,
    /// Pods left out because they reported more than [`MAX_CONTAINERS_PER_POD`] containers.
    pub oversized_pods: Vec<PodRef>,
    /// Series that appeared more than once in the body; the later line was kept, as upstream.
    pub duplicate_series: usize,
}

/// Most containers one pod may report. Real pods have a handful; the bound keeps a hostile or
/// broken kubelet from filling memory through one pod's name (the other bound, on the whole
/// body, is the response size limit: decoding is linear in it).
pub const MAX_CONTAINERS_PER_POD: usize = 1_000;

impl KubeletMetrics {
    /// Number of container points across all pods.
    pub fn container_count(&self) -> usize {
        self.pods.values().map(Vec::len).sum()
    }
}

/// Why a kubelet response could not be decoded.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("/metrics/resource body, {0}")]
    Resource(#[from] ResourceDecodeError),
    #[error("/stats/summary body, {0}")]
    Summary(#[from] SummaryDecodeError),
}

impl DecodeError {
    /// The 1-based line the problem was found on.
    pub fn line(&self) -> usize {
        match self {
            DecodeError::Resource(e) => e.line,
            DecodeError::Summary(e) => e.line,
        }
    }
}
