//! `/healthz`, `/livez` and `/readyz` with the Go apiserver's check names, order and text,
//! which upstream's e2e test compares byte for byte.
//!
//! A failing check's reason is only logged; the response says "reason withheld", as Go does.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cluster_state::ClusterState;
use metric_store::Store;
use tokio::time::Instant;

use super::MetricsApi;
use crate::percent;

/// The process state the checks look at.
#[derive(Debug)]
pub struct Health {
    cluster: Arc<ClusterState>,
    store: Arc<Store>,
    metric_resolution: Duration,
    last_tick_start: Mutex<Option<Instant>>,
    shutting_down: AtomicBool,
}

impl Health {
    pub fn new(
        cluster: Arc<ClusterState>,
        store: Arc<Store>,
        metric_resolution: Duration,
    ) -> Health {
        Health {
            cluster,
            store,
            metric_resolution,
            last_tick_start: Mutex::new(None),
            shutting_down: AtomicBool::new(false),
        }
    }

    /// Called when a scrape cycle starts; `metric-collection-timely` watches the gap.
    pub fn tick_started(&self, at: Instant) {
        *self
            .last_tick_start
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(at);
    }

    /// From now on `/readyz` fails, so endpoints drain while requests are still served.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    fn check(&self, check: Check) -> Result<(), String> {
        match check {
            Check::Ping
            | Check::Log
            | Check::MaxInFlightFilter
            | Check::StorageObjectCountTracker => Ok(()),
            Check::MetricStorageReady => {
                let readiness = self.store.snapshot().readiness();
                match (readiness.nodes, readiness.pods) {
                    (true, true) => Ok(()),
                    (false, true) => Err("no metrics to serve: node metrics are missing".into()),
                    (true, false) => Err("no metrics to serve: pod metrics are missing".into()),
                    (false, false) => Err("no metrics to serve".into()),
                }
            }
            Check::MetricInformerSync => {
                match (self.cluster.nodes_synced(), self.cluster.pods_synced()) {
                    (true, true) => Ok(()),
                    _ => Err("cache for node/pod informer has not synced".into()),
                }
            }
            Check::MetadataInformerSync => {
                if self.cluster.pods_synced() {
                    Ok(())
                } else {
                    Err("1 informers not started yet: [pods]".into())
                }
            }
            Check::MetricCollectionTimely => {
                let last = *self
                    .last_tick_start
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                // Before the first tick there is nothing to be late for (upstream has no grace period either).
                match last {
                    Some(start) if start.elapsed() > self.metric_resolution.mul_f64(1.5) => {
                        Err(format!(
                            "metric collection didn't finish on time: last scrape cycle started {:?} ago, resolution is {:?}",
                            start.elapsed(),
                            self.metric_resolution
                        ))
                    }
                    _ => Ok(()),
                }
            }
            Check::Shutdown => {
                if self.shutting_down.load(Ordering::Acquire) {
                    Err("process is shutting down".into())
                } else {
                    Ok(())
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    Ping,
    Log,
    MaxInFlightFilter,
    StorageObjectCountTracker,
    MetricStorageReady,
    MetricInformerSync,
    MetadataInformerSync,
    MetricCollectionTimely,
    Shutdown,
}

impl Check {
    fn name(self) -> &'static str {
        match self {
            Check::Ping => "ping",
            Check::Log => "log",
            Check::MaxInFlightFilter => "poststarthook/max-in-flight-filter",
            Check::StorageObjectCountTracker => "poststarthook/storage-object-count-tracker-hook",
            Check::MetricStorageReady => "metric-storage-ready",
            Check::MetricInformerSync => "metric-informer-sync",
            Check::MetadataInformerSync => "metadata-informer-sync",
            Check::MetricCollectionTimely => "metric-collection-timely",
            Check::Shutdown => "shutdown",
        }
    }
}

const HEALTHZ: &[Check] = &[
    Check::Ping,
    Check::Log,
    Check::MaxInFlightFilter,
    Check::StorageObjectCountTracker,
    Check::MetadataInformerSync,
];
const LIVEZ: &[Check] = &[
    Check::Ping,
    Check::Log,
    Check::MaxInFlightFilter,
    Check::StorageObjectCountTracker,
    Check::MetricCollectionTimely,
    Check::MetadataInformerSync,
];
const READYZ: &[Check] = &[
    Check::Ping,
    Check::Log,
    Check::MaxInFlightFilter,
    Check::StorageObjectCountTracker,
    Check::MetricStorageReady,
    Check::MetricInformerSync,
    Check::MetadataInformerSync,
    Check::Shutdown,
];

fn text(code: StatusCode, body: String) -> Response {
    let mut answer = (code, body).into_response();
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    answer
}

/// One endpoint: every check in order, `?verbose` detail, `?exclude=<name>` (repeatable).
fn run_checks(health: &Health, endpoint: &str, checks: &[Check], query: Option<&str>) -> Response {
    let mut verbose = false;
    let mut excluded: Vec<String> = Vec::new();
    for (key, value) in percent::query_pairs(query.unwrap_or("")) {
        match key.as_str() {
            "verbose" => verbose = true,
            "exclude" => excluded.push(value),
            _ => {}
        }
    }
    let mut detail = String::new();
    let mut failed = Vec::new();
    for check in checks {
        let name = check.name();
        if let Some(position) = excluded.iter().position(|e| e == name) {
            excluded.remove(position);
            detail.push_str(&format!("[+]{name} excluded: ok\n"));
            continue;
        }
        match health.check(*check) {
            Ok(()) => detail.push_str(&format!("[+]{name} ok\n")),
            Err(reason) => {
                tracing::info!(check = name, %reason, "{endpoint} check failed");
                detail.push_str(&format!("[-]{name} failed: reason withheld\n"));
                failed.push(name);
            }
        }
    }
    if !excluded.is_empty() {
        let quoted: Vec<String> = excluded.iter().map(|e| format!("{e:?}")).collect();
        detail.push_str(&format!(
            "warn: some health checks cannot be excluded: no matches for {}\n",
            quoted.join(",")
        ));
    }
    if !failed.is_empty() {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{detail}{endpoint} check failed\n"),
        );
    }
    if verbose {
        text(StatusCode::OK, format!("{detail}{endpoint} check passed\n"))
    } else {
        text(StatusCode::OK, "ok".to_string())
    }
}

/// `/<endpoint>/<check>`: just that check.
fn run_one(health: &Health, checks: &[Check], requested: &str) -> Response {
    match checks.iter().find(|check| check.name() == requested) {
        Some(check) => match health.check(*check) {
            Ok(()) => text(StatusCode::OK, "ok".to_string()),
            Err(reason) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal server error: {reason}\n"),
            ),
        },
        None => text(StatusCode::NOT_FOUND, "404 page not found\n".to_string()),
    }
}

pub async fn healthz(State(api): State<MetricsApi>, RawQuery(query): RawQuery) -> Response {
    run_checks(&api.health, "healthz", HEALTHZ, query.as_deref())
}

pub async fn livez(State(api): State<MetricsApi>, RawQuery(query): RawQuery) -> Response {
    run_checks(&api.health, "livez", LIVEZ, query.as_deref())
}

pub async fn readyz(State(api): State<MetricsApi>, RawQuery(query): RawQuery) -> Response {
    run_checks(&api.health, "readyz", READYZ, query.as_deref())
}

pub async fn healthz_check(State(api): State<MetricsApi>, Path(check): Path<String>) -> Response {
    run_one(&api.health, HEALTHZ, &check)
}

pub async fn livez_check(State(api): State<MetricsApi>, Path(check): Path<String>) -> Response {
    run_one(&api.health, LIVEZ, &check)
}

pub async fn readyz_check(State(api): State<MetricsApi>, Path(check): Path<String>) -> Response {
    run_one(&api.health, READYZ, &check)
}
