//! Kubelet scraping for metrics-server-rs: fetch every node's resource metrics over HTTPS and
//! decode them into one [`metric_store::MetricsBatch`] per cycle.
//!
//! - [`decode`]: `/metrics/resource` (Prometheus text) and `/stats/summary` (JSON) decoders with
//!   upstream metrics-server's validity rules.
//! - [`KubeletClient`]: address/port/path selection, TLS and bearer-token credentials, bounded
//!   requests, and [`ScrapeError`]s that tell an operator what to fix.
//! - [`Scraper`]: one cycle over all nodes with jitter, a concurrency bound, a deadline,
//!   self-metrics ([`ScraperMetrics`]) and merging into a batch.

mod address;
mod auth;
mod client;
mod config;
mod connect;
mod cycle;
pub mod decode;
mod error;
mod health;
mod metrics;

pub use address::{
    Endpoint, NodeAddress, NodeTarget, RESOURCE_METRICS_PATH_ANNOTATION, endpoint_url,
    select_address, select_port,
};
pub use client::{AUTO_REPROBE_INTERVAL, KubeletClient, ScrapedNode};
pub use config::{
    BearerToken, DEFAULT_MAX_BODY_BYTES, DEFAULT_PREFERRED_ADDRESS_TYPES, KubeletClientConfig,
    MetricsSource, NODE_ADDRESS_TYPES,
};
pub use cycle::{AdmitAll, CycleReport, NodeOutcome, NodeStats, PodAdmission, Scraper};
pub use error::{ClientBuildError, ScrapeError, TlsProblem};
pub use health::{Failure, NodeHealth, ScrapeHealth, Transition};
pub use metrics::ScraperMetrics;
