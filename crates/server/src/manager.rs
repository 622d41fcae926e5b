//! The scrape loop: every `--metric-resolution`, scrape the selected nodes and store the batch.
//!
//! As upstream: the first cycle starts at once, a cycle that overruns makes the next tick be
//! skipped rather than queued, and each cycle's deadline is one resolution. Unlike upstream,
//! cycles are a third of a resolution apart until the first metrics are served, so they come
//! within one resolution of start instead of after it.

use std::sync::Arc;
use std::time::Duration;

use cluster_state::{ClusterState, NodeInfo};
use kubelet_scraper::{NodeAddress, NodeTarget, Scraper};
use metric_store::Store;
use metrics_api::routes::Health;
use metrics_types::selector::LabelSelector;
use prometheus::{Histogram, HistogramOpts, IntGaugeVec, Opts, Registry};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// `metrics_server_manager_tick_duration_seconds` and `metrics_server_storage_points`.
#[derive(Clone, Debug)]
pub struct ManagerMetrics {
    tick_duration: Histogram,
    storage_points: IntGaugeVec,
}

impl ManagerMetrics {
    pub fn register(
        registry: &Registry,
        resolution: Duration,
    ) -> prometheus::Result<ManagerMetrics> {
        let tick_duration = Histogram::with_opts(
            HistogramOpts::new(
                "metrics_server_manager_tick_duration_seconds",
                "[ALPHA] The total time spent collecting and storing metrics in seconds.",
            )
            .buckets(tick_buckets(resolution)),
        )?;
        let storage_points = IntGaugeVec::new(
            Opts::new(
                "metrics_server_storage_points",
                "[ALPHA] Number of metrics points stored.",
            ),
            &["type"],
        )?;
        registry.register(Box::new(tick_duration.clone()))?;
        registry.register(Box::new(storage_points.clone()))?;
        Ok(ManagerMetrics {
            tick_duration,
            storage_points,
        })
    }
}

/// Prometheus' default buckets, plus points around the resolution so an operator can see how
/// close cycles come to overrunning it (upstream's choice).
fn tick_buckets(resolution: Duration) -> Vec<f64> {
    let mut buckets = prometheus::DEFAULT_BUCKETS.to_vec();
    let r = resolution.as_secs_f64();
    if r > 10.0 {
        buckets.extend([10.0 + (r - 10.0) / 2.0, r, 1.5 * r, 2.0 * r]);
    } else if !buckets.iter().any(|b| (b - r).abs() < 0.005) {
        buckets.push(r);
        buckets.sort_by(f64::total_cmp);
    }
    buckets
}

/// Everything the loop drives.
#[derive(Debug)]
pub struct Manager {
    pub scraper: Scraper,
    pub store: Arc<Store>,
    pub cluster: Arc<ClusterState>,
    pub health: Arc<Health>,
    pub node_selector: LabelSelector,
    pub resolution: Duration,
    pub metrics: ManagerMetrics,
}

/// Warm-up cycles (until the first metrics are served) are this fraction of a resolution apart.
const WARM_UP_STEPS: u32 = 3;

/// What the scraper needs to reach a node's kubelet.
pub fn target(node: &NodeInfo) -> NodeTarget {
    NodeTarget {
        name: node.name.clone(),
        addresses: node
            .addresses
            .iter()
            .map(|a| NodeAddress::new(a.kind.clone(), a.address.clone()))
            .collect(),
        kubelet_endpoint_port: node.kubelet_port,
        metrics_path: node.metrics_path.clone(),
    }
}

impl Manager {
    pub async fn run(self, cancel: CancellationToken) {
        // CPU needs two points per node, so upstream serves nothing for a whole resolution
        // after start. Until metrics are served, cycles repeat every third of a resolution:
        // the second point is taken as soon as the kubelets have a newer sample, and /readyz
        // turns green within one resolution. Afterwards cycles are a full resolution apart.
        let first = Instant::now();
        let mut last = first;
        let mut serving = self.cycle().await;
        let step = self.resolution / WARM_UP_STEPS;
        let mut next = first + step;
        while !serving && next < first + self.resolution {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = cancel.cancelled() => return,
            }
            last = Instant::now();
            serving = self.cycle().await;
            next += step;
        }
        // Once serving, the next window is a full resolution; otherwise keep the third's pace
        // for the first regular tick.
        let start = if serving {
            last + self.resolution
        } else {
            next
        };
        let mut ticks = tokio::time::interval_at(start, self.resolution);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = cancel.cancelled() => return,
            }
            self.cycle().await;
        }
    }

    /// One scrape-and-store cycle; returns whether metrics are served after it. (The scraper
    /// itself forgets nodes that left the cluster.)
    async fn cycle(&self) -> bool {
        let start = Instant::now();
        self.health.tick_started(start);
        let targets: Vec<NodeTarget> = self
            .cluster
            .nodes()
            .iter()
            .filter(|node| self.node_selector.matches(&*node.labels))
            .map(|node| target(node))
            .collect();
        let nodes = targets.len();
        let report = self
            .scraper
            .scrape_all(targets, start + self.resolution)
            .await;
        let failed = report.outcomes.iter().filter(|o| o.result.is_err()).count();
        let summary = self.store.store(report.batch);

        let points = &self.metrics.storage_points;
        points
            .with_label_values(&["node"])
            .set(i64::try_from(summary.node_points).unwrap_or(i64::MAX));
        points
            .with_label_values(&["container"])
            .set(i64::try_from(summary.container_points).unwrap_or(i64::MAX));
        let elapsed = start.elapsed();
        self.metrics.tick_duration.observe(elapsed.as_secs_f64());
        tracing::debug!(
            nodes,
            failed,
            servable_nodes = summary.servable_nodes,
            servable_pods = summary.servable_pods,
            duration = ?elapsed,
            "scrape cycle done"
        );
        if summary.readiness_changed() {
            tracing::info!(
                ready = summary.readiness_after.is_ready(),
                node_metrics = summary.readiness_after.nodes,
                pod_metrics = summary.readiness_after.pods,
                "metric storage readiness changed"
            );
        }
        let serving = summary.readiness_after.is_ready();
        // The outcomes hold the cycle's error messages; free them before handing pages back.
        drop(report.outcomes);
        crate::allocator::release_free_memory();
        serving
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_buckets_follow_upstream() {
        let fifteen = tick_buckets(Duration::from_secs(15));
        assert_eq!(
            &fifteen[fifteen.len() - 5..],
            [10.0, 12.5, 15.0, 22.5, 30.0]
        );
        let minute = tick_buckets(Duration::from_secs(60));
        assert_eq!(&minute[minute.len() - 4..], [35.0, 60.0, 90.0, 120.0]);
        let ten = tick_buckets(Duration::from_secs(10));
        assert_eq!(
            ten,
            prometheus::DEFAULT_BUCKETS.to_vec(),
            "10 is already a bucket"
        );
    }
}
