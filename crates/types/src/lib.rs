//! Wire types of `metrics.k8s.io/v1beta1` and the fixed documents the aggregator reads.
//!
//! This crate is pure: no I/O, no clocks. The Go text rules it relies on (quantities,
//! durations, times, JSON escaping) come from [`apimachinery`]. Modules:
//!
//! - [`v1beta1`]: `NodeMetrics`, `PodMetrics`, their lists (also streamed from
//!   an iterator) with borrowed names and labels; JSON in Go's field order.
//! - [`table`]: server-side `Table` output for `kubectl get`.
//! - [`discovery`] and [`openapi`]: the fixed documents the aggregator reads,
//!   plus `/version`.
#![warn(missing_docs)]

pub mod discovery;
pub mod openapi;
pub mod table;
pub mod v1beta1;

pub use v1beta1::{
    ContainerMetrics, ListStream, NodeMetrics, NodeMetricsList, ObjectMeta, PodMetrics,
    PodMetricsList, Usage,
};
