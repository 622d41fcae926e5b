//! The metric store: the last two points per node and per container, replaced as a whole on every
//! scrape cycle, from which CPU rate, window and memory are served.
//!
//! The scraper hands the store a [`MetricsBatch`] per cycle; the API reads consistent snapshots.
//!
//! ```
//! use std::time::Duration;
//! use metric_store::{MetricsBatch, MetricsPoint, Store, Timestamp};
//!
//! let store = Store::new(Duration::from_secs(15));
//! let sample = |seconds: i64, cpu_ns: u64| MetricsPoint {
//!     timestamp: Timestamp(seconds * 1_000_000_000),
//!     cumulative_cpu_ns: cpu_ns,
//!     memory_bytes: 1 << 20,
//!     ..MetricsPoint::default()
//! };
//! for (seconds, cpu_ns) in [(100, 0), (115, 3_000_000_000)] {
//!     let mut batch = MetricsBatch::default();
//!     batch.nodes.insert("node-1".to_owned(), sample(seconds, cpu_ns));
//!     store.store(batch);
//! }
//! let usage = store.snapshot().node("node-1").unwrap();
//! assert_eq!(usage.cpu_nanocores, 200_000_000); // 3 CPU-seconds over 15 s
//! assert_eq!(usage.window_ns, 15_000_000_000);
//! ```
//!
//! Modules: `batch` is the input, `usage` the rate math, `advance` upstream's history rules,
//! `snapshot` one cycle's readable state, `store` the shared handle, `summary` a cycle's counts.

mod advance;
mod batch;
mod snapshot;
mod store;
mod summary;
mod usage;

pub use batch::{ContainerPoint, MetricsBatch, MetricsPoint, PodRef, Timestamp};
pub use snapshot::{PodUsage, Readiness, Snapshot};
pub use store::Store;
pub use summary::StoreSummary;
pub use usage::{ContainerUsage, NodeUsage, Usage, UsageError};
