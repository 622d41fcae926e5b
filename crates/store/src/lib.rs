//! The metric store: the last two points per node and per container, replaced as a whole on every
//! scrape cycle, from which CPU rate, window and memory are served.
//!
//! The scraper hands the store a [`MetricsBatch`] per cycle; the API reads consistent snapshots.

mod batch;

pub use batch::{ContainerPoint, MetricsBatch, MetricsPoint, PodRef, Timestamp};
