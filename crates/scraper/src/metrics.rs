//! The scraper's self-metrics, with upstream metrics-server's exact names, labels, help texts
//! and buckets, plus a failure-reason counter kept outside the `metrics_server_` prefix
//! (upstream's e2e test asserts exactly six families under that prefix).

use std::time::Duration;

use metric_store::Timestamp;
use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Handles to the scraper's metric families; cheap to clone.
#[derive(Clone, Debug)]
pub struct ScraperMetrics {
    request_duration: HistogramVec,
    request_total: IntCounterVec,
    last_request_time: GaugeVec,
    failures: IntCounterVec,
    duplicate_series: IntCounterVec,
}

impl ScraperMetrics {
    /// Creates the families and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = ScraperMetrics::unregistered()?;
        registry.register(Box::new(metrics.request_duration.clone()))?;
        registry.register(Box::new(metrics.request_total.clone()))?;
        registry.register(Box::new(metrics.last_request_time.clone()))?;
        registry.register(Box::new(metrics.failures.clone()))?;
        registry.register(Box::new(metrics.duplicate_series.clone()))?;
        Ok(metrics)
    }

    /// Families that record but are exposed nowhere (for callers without a registry).
    pub fn unregistered() -> Result<Self, prometheus::Error> {
        Ok(ScraperMetrics {
            request_duration: HistogramVec::new(
                HistogramOpts::new(
                    "metrics_server_kubelet_request_duration_seconds",
                    "[ALPHA] Duration of requests to Kubelet API in seconds",
                )
                .buckets(prometheus::DEFAULT_BUCKETS.to_vec()),
                &["node"],
            )?,
            request_total: IntCounterVec::new(
                Opts::new(
                    "metrics_server_kubelet_request_total",
                    "[ALPHA] Number of requests sent to Kubelet API",
                ),
                &["success"],
            )?,
            last_request_time: GaugeVec::new(
                Opts::new(
                    "metrics_server_kubelet_last_request_time_seconds",
                    "[ALPHA] Time of last request performed to Kubelet API since unix epoch in seconds",
                ),
                &["node"],
            )?,
            failures: IntCounterVec::new(
                Opts::new(
                    "kubelet_scrape_failures_total",
                    "Kubelet scrapes that failed, by reason",
                ),
                &["reason"],
            )?,
            duplicate_series: IntCounterVec::new(
                Opts::new(
                    "kubelet_duplicate_series_total",
                    "Series a kubelet repeated in one response (the later line is used), by node",
                ),
                &["node"],
            )?,
        })
    }

    /// Records one node's request, successful or not (address failures included, as upstream).
    pub(crate) fn observe(&self, node: &str, duration: Duration, failure: Option<&'static str>) {
        self.request_duration
            .with_label_values(&[node])
            .observe(duration.as_secs_f64());
        let end = Timestamp::now().as_unix_nanos() / 1_000_000_000;
        self.last_request_time
            .with_label_values(&[node])
            .set(end as f64);
        self.request_total
            .with_label_values(&[if failure.is_none() { "true" } else { "false" }])
            .inc();
        if let Some(reason) = failure {
            self.failures.with_label_values(&[reason]).inc();
        }
    }

    /// Counts the series a node's kubelet repeated in one response.
    pub(crate) fn observe_duplicate_series(&self, node: &str, repeats: usize) {
        if repeats > 0 {
            self.duplicate_series
                .with_label_values(&[node])
                .inc_by(repeats as u64);
        }
    }

    /// Removes a node's series once it has left the cluster (upstream keeps them forever).
    pub fn forget_node(&self, node: &str) {
        // Err only means the node had no series yet.
        let _ = self.request_duration.remove_label_values(&[node]);
        let _ = self.last_request_time.remove_label_values(&[node]);
        let _ = self.duplicate_series.remove_label_values(&[node]);
    }
}
