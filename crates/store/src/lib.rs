//! The metric store: the last two points per node and per container, replaced as a whole on every
//! scrape cycle, from which CPU rate, window and memory are served.
//!
//! The scraper hands the store a [`MetricsBatch`] per cycle; the API reads consistent snapshots.
//!
//! ## Usage window
//!
//! [`Store::new`] follows upstream exactly: CPU is the rate between the last two samples. A store
//! built with [`Store::with_usage_window`] (`--usage-window`) instead keeps every sample of a node
//! or container taken within the window before its newest one, and serves CPU as the rate from
//! the oldest kept sample to the newest, with that distance as `window`; memory and swap are the
//! newest values. Bursty CPU then reads steadier (fewer HPA flaps), at the cost of a slower
//! reaction to a real change.
//!
//! - A series keeps at most `ceil(window / resolution) + 1` samples, the newest included, and
//!   never more than [`MAX_SAMPLES_PER_SERIES`]; the newest older sample is kept even beyond the
//!   window, so a late scrape still gets upstream's two-point rate.
//! - A restart (upstream's rule: a start not before the stored newest sample), a CPU counter
//!   going backwards or a start time going backwards starts the series over from the new sample:
//!   the window shrinks to the samples since then. Upstream serves the last two as a one-cycle
//!   usage error (a pod then being served without that container); with a window the container
//!   has no older sample for a cycle, so its pod is left out, as after a restart.
//! - A container with a single real sample is still served through the fresh-container rule;
//!   once it has two, real samples are used (upstream prefers the synthetic start while the
//!   container is younger than a resolution).
//! - A pod reports the timestamp and window of its container with the earliest newest sample,
//!   as upstream; the window is that container's distance to its oldest kept sample.
//!
//! Memory: without a window a series is 80 bytes inline, as before windows existed, and nothing
//! else is allocated. With one, each older sample adds 16 bytes (timestamp and cumulative CPU)
//! in one vector per snapshot: 128 bytes more per series at `--usage-window=2m` with a 15 s
//! resolution (8 older samples), 640 at the cap.
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
//! `window` the usage window's, `snapshot` one cycle's readable state, `store` the shared handle,
//! `summary` a cycle's counts.

mod advance;
mod batch;
mod snapshot;
mod store;
mod summary;
mod usage;
mod window;

pub use batch::{ContainerPoint, MetricsBatch, MetricsPoint, NameMap, PodRef, Timestamp};
pub use snapshot::{PodUsage, PodsByName, Readiness, Snapshot};
pub use store::Store;
pub use summary::StoreSummary;
pub use usage::{ContainerUsage, NodeUsage, Usage, UsageError};
pub use window::MAX_SAMPLES_PER_SERIES;
