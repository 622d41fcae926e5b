//! Wire types of `metrics.k8s.io` (`v1` and `v1beta1`) and the fixed documents the aggregator reads.
//!
//! This crate is pure: no I/O, no clocks. The Go text rules it relies on (quantities,
//! durations, times, JSON escaping) come from [`apimachinery`]. Modules:
//!
//! - [`metrics`]: `NodeMetrics`, `PodMetrics`, their lists (also streamed from
//!   an iterator) with borrowed names and labels; JSON in Go's field order.
//! - [`protobuf`]: the same objects and lists as Kubernetes protobuf.
//! - [`table`]: server-side `Table` output for `kubectl get`.
//! - [`discovery`] and [`openapi`]: the fixed documents the aggregator reads,
//!   plus `/version`.
#![warn(missing_docs)]

pub mod discovery;
pub mod metrics;
pub mod openapi;
pub mod protobuf;
pub mod table;

pub use metrics::{
    ApiVersion, ContainerMetrics, ListStream, NodeMetrics, NodeMetricsList, ObjectMeta, PodMetrics,
    PodMetricsList, Usage,
};
