//! `/metrics`: the process's own metrics in the Prometheus text format, and the API's share of
//! them (`metrics_server_api_metric_freshness_seconds`).

use apimachinery::status::Status;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use prometheus::{Encoder, Histogram, HistogramOpts, Registry, TextEncoder};

use crate::MetricsApi;
use crate::response;

/// Metrics recorded while answering metrics requests.
#[derive(Clone, Debug)]
pub struct ApiMetrics {
    freshness: Histogram,
}

impl ApiMetrics {
    /// Registers `metrics_server_api_metric_freshness_seconds` with upstream's buckets.
    pub fn register(registry: &Registry) -> prometheus::Result<ApiMetrics> {
        let buckets = prometheus::exponential_buckets(1.0, 1.364, 20)?;
        let freshness = Histogram::with_opts(
            HistogramOpts::new(
                "metrics_server_api_metric_freshness_seconds",
                "[ALPHA] Freshness of metrics exported",
            )
            .buckets(buckets),
        )?;
        registry.register(Box::new(freshness.clone()))?;
        Ok(ApiMetrics { freshness })
    }

    /// Records how old each served item's sample is, batching into a local copy so that a list of
    /// 30,000 pods does not contend on the shared histogram.
    pub fn freshness_recorder(&self, now_nanos: i64) -> FreshnessRecorder {
        FreshnessRecorder {
            local: self.freshness.local(),
            now_nanos,
        }
    }
}

/// Observations for one request; flushed when dropped.
#[derive(Debug)]
pub struct FreshnessRecorder {
    local: prometheus::local::LocalHistogram,
    now_nanos: i64,
}

impl FreshnessRecorder {
    pub fn observe(&mut self, timestamp: Option<i64>) {
        if let Some(timestamp) = timestamp {
            #[allow(clippy::cast_precision_loss)]
            // seconds with sub-nanosecond precision loss are fine here
            self.local
                .observe(self.now_nanos.saturating_sub(timestamp) as f64 / 1e9);
        }
    }
}

impl Drop for FreshnessRecorder {
    fn drop(&mut self) {
        self.local.flush();
    }
}

pub async fn metrics(State(api): State<MetricsApi>) -> Response {
    let encoder = TextEncoder::new();
    let mut body = Vec::with_capacity(16 * 1024);
    match encoder.encode(&api.registry.gather(), &mut body) {
        Ok(()) => response::bytes(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            body,
        ),
        Err(error) => response::status(
            Status::internal_error(format!("failed to encode metrics: {error}")),
            &axum::http::HeaderMap::new(),
        ),
    }
}
