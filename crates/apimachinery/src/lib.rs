//! What every Kubernetes API speaks, whatever its group: apimachinery's text formats, errors
//! and selectors, written to match the Go libraries byte for byte.
//!
//! This crate is pure: no I/O, no clocks. Callers pass times as Unix nanoseconds and get
//! bytes or strings back. It knows no API group; `metrics-types` builds `metrics.k8s.io` on it.
//!
//! - [`status`]: `metav1.Status` error bodies worded like the Go apiserver, and the
//!   SubjectAccessReview attributes of a request.
//! - [`selector`]: label and field selectors with apimachinery's grammar, errors and
//!   SubjectAccessReview form.
//! - [`negotiate`]: `Accept` header handling (JSON or protobuf, Table, aggregated discovery, 406).
//! - [`protobuf`]: Kubernetes protobuf: the `k8s\0` envelope, the `meta.k8s.io/v1` messages
//!   (ObjectMeta, ListMeta, Time, Status…) and watch frames.
//! - [`quantity`], [`duration`], [`time`]: Go's text of `resource.Quantity`,
//!   `time.Duration` and `metav1.Time`, and parsers for them.
//! - [`gojson`] and [`goquote`]: Go's JSON string escaping and `%q` quoting.
#![warn(missing_docs)]

mod decimal;

pub use decimal::TextBuf;
pub mod duration;
pub mod gojson;
pub mod goquote;
pub mod negotiate;
pub mod protobuf;
pub mod quantity;
pub mod selector;
pub mod status;
pub mod time;

pub use quantity::{Quantity, QuantityError};
pub use selector::{FieldSelector, LabelSelector, SelectorError};
pub use status::{RequestAttributes, ResourceAttributes, Status, StatusDetails};
