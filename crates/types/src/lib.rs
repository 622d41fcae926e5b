//! Wire types of `metrics.k8s.io/v1beta1` and every Go formatting rule they rely on.
//!
//! This crate is pure: no I/O, no clocks. Callers pass times as Unix
//! nanoseconds and get bytes or strings back. Modules:
//!
//! - [`v1beta1`]: `NodeMetrics`, `PodMetrics`, their lists (also streamed from
//!   an iterator) with borrowed names and labels; JSON in Go's field order.
//! - [`status`]: `metav1.Status` error bodies worded like the Go apiserver.
//! - [`table`]: server-side `Table` output for `kubectl get`.
//! - [`negotiate`]: `Accept` header handling (Table, aggregated discovery, 406).
//! - [`discovery`] and [`openapi`]: the fixed documents the aggregator reads,
//!   plus `/version`.
//! - [`selector`]: label and field selectors with apimachinery's grammar,
//!   errors and SubjectAccessReview form.
//! - [`quantity`], [`duration`], [`time`]: Go's text of `resource.Quantity`,
//!   `time.Duration` and `metav1.Time`, and parsers for them.
//! - [`gojson`] and [`goquote`]: Go's JSON string escaping and `%q` quoting.
#![warn(missing_docs)]

mod decimal;
pub mod discovery;
pub mod duration;
pub mod gojson;
pub mod goquote;
pub mod negotiate;
pub mod openapi;
pub mod quantity;
pub mod selector;
pub mod status;
pub mod table;
pub mod time;
pub mod v1beta1;

pub use quantity::{Quantity, QuantityError};
pub use selector::{FieldSelector, LabelSelector, SelectorError};
pub use status::{RequestAttributes, ResourceAttributes, Status, StatusDetails};
pub use v1beta1::{
    ContainerMetrics, ListStream, NodeMetrics, NodeMetricsList, ObjectMeta, PodMetrics,
    PodMetricsList, Usage,
};
