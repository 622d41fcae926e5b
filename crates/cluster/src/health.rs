//! How the two watches are doing, as self-metrics: a watch that fails (the kube-apiserver
//! restarting, a network cut) is retried by kube's watcher with backoff and relists when its
//! resource version is gone (410); operators see each of those here instead of guessing
//! from stale metrics.

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

/// Handles to the watch health families; cheap to clone.
#[derive(Clone, Debug)]
pub struct WatchMetrics {
    failures: IntCounterVec,
    relists: IntCounterVec,
    healthy: IntGaugeVec,
}

impl WatchMetrics {
    /// Creates the families and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = WatchMetrics::unregistered()?;
        registry.register(Box::new(metrics.failures.clone()))?;
        registry.register(Box::new(metrics.relists.clone()))?;
        registry.register(Box::new(metrics.healthy.clone()))?;
        Ok(metrics)
    }

    /// Families that record but are exposed nowhere.
    pub fn unregistered() -> Result<Self, prometheus::Error> {
        Ok(WatchMetrics {
            failures: IntCounterVec::new(
                Opts::new(
                    "cluster_watch_failures_total",
                    "Times a watch of the kube-apiserver failed and was retried, by resource",
                ),
                &["resource"],
            )?,
            relists: IntCounterVec::new(
                Opts::new(
                    "cluster_watch_relists_total",
                    "Complete listings after the first (a watch that could not resume, e.g. 410 Gone), by resource",
                ),
                &["resource"],
            )?,
            healthy: IntGaugeVec::new(
                Opts::new(
                    "cluster_watch_healthy",
                    "1 while a watch delivers events, 0 from a failure until it recovers, by resource",
                ),
                &["resource"],
            )?,
        })
    }

    pub(crate) fn failed(&self, resource: &str) {
        self.failures.with_label_values(&[resource]).inc();
        self.healthy.with_label_values(&[resource]).set(0);
    }

    pub(crate) fn relisted(&self, resource: &str) {
        self.relists.with_label_values(&[resource]).inc();
    }

    pub(crate) fn delivering(&self, resource: &str) {
        self.healthy.with_label_values(&[resource]).set(1);
    }
}
