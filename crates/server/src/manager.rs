//! The scrape loop: every `--metric-resolution`, scrape the selected nodes and store the batch.
//!
//! As upstream: the first cycle starts at once, a cycle that overruns is followed by one late
//! cycle and the other ticks it covered are dropped, and each cycle's deadline is one
//! resolution after its start. Unlike upstream,
//! cycles are a third of a resolution apart until the first metrics are served, so they come
//! within one resolution of start instead of after it.

use std::sync::Arc;
use std::time::Duration;

use apimachinery::selector::LabelSelector;
use cluster_state::{ClusterState, NodeInfo};
use kubelet_scraper::{NodeAddress, NodeTarget, ScrapeHealth, Scraper};
use metric_store::{Store, Timestamp};
use prometheus::{GaugeVec, Histogram, HistogramOpts, IntGaugeVec, Opts, Registry};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::node_events::NodeEvents;
use crate::timeliness::CollectionTimeliness;

/// `metrics_server_manager_tick_duration_seconds` and `metrics_server_storage_points` (as
/// upstream), and ours: each node's last successful scrape and the failing nodes by reason.
#[derive(Clone, Debug)]
pub struct ManagerMetrics {
    tick_duration: Histogram,
    storage_points: IntGaugeVec,
    last_successful_scrape: GaugeVec,
    failing_nodes: IntGaugeVec,
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
        let last_successful_scrape = GaugeVec::new(
            Opts::new(
                "kubelet_last_successful_scrape_timestamp_seconds",
                "When each node's kubelet was last scraped successfully (Unix seconds); absent for a node never scraped successfully since start.",
            ),
            &["node"],
        )?;
        let failing_nodes = IntGaugeVec::new(
            Opts::new(
                "kubelet_scrape_failing_nodes",
                "Nodes whose last scrape failed, by the reason of kubelet_scrape_failures_total.",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(tick_duration.clone()))?;
        registry.register(Box::new(storage_points.clone()))?;
        registry.register(Box::new(last_successful_scrape.clone()))?;
        registry.register(Box::new(failing_nodes.clone()))?;
        Ok(ManagerMetrics {
            tick_duration,
            storage_points,
            last_successful_scrape,
            failing_nodes,
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
    pub timeliness: Arc<CollectionTimeliness>,
    /// Each node's scrape health, for events, the API's 404s and self-metrics.
    pub scrape_health: Arc<ScrapeHealth>,
    /// Where scrape transitions become Node events (`--node-scrape-events`).
    pub node_events: Option<NodeEvents>,
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
        drive(self.resolution, &cancel, |deadline| self.cycle(deadline)).await;
    }

    /// One scrape-and-store cycle; returns whether metrics are served after it. (The scraper
    /// itself forgets nodes that left the cluster.)
    async fn cycle(&self, deadline: Instant) -> bool {
        let start = Instant::now();
        self.timeliness.cycle_started(start);
        let targets: Vec<NodeTarget> = self
            .cluster
            .nodes()
            .iter()
            .filter(|node| self.node_selector.matches(&*node.labels))
            .map(|node| target(node))
            .collect();
        let nodes = targets.len();
        let report = self.scraper.scrape_all(targets, deadline).await;
        let failed = report.outcomes.iter().filter(|o| o.result.is_err()).count();
        let summary = self.store.store(report.batch);
        let transitions = self
            .scrape_health
            .record(&report.outcomes, Timestamp::now());
        self.publish_scrape_health();
        if let Some(events) = &self.node_events {
            events.tell(transitions);
        }

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

impl Manager {
    /// The per-node self-metrics, rebuilt from the health so nodes that left disappear.
    fn publish_scrape_health(&self) {
        let last = &self.metrics.last_successful_scrape;
        last.reset();
        for (node, success) in self.scrape_health.last_successes() {
            if let Some(at) = success {
                last.with_label_values(&[&node])
                    .set(at.as_unix_nanos() as f64 / 1e9);
            }
        }
        let failing = &self.metrics.failing_nodes;
        failing.reset();
        for (reason, nodes) in self.scrape_health.failing_by_reason() {
            failing
                .with_label_values(&[reason])
                .set(i64::try_from(nodes).unwrap_or(i64::MAX));
        }
    }
}

/// The loop's timing rules, apart from what a cycle does: `cycle(deadline)` scrapes and stores
/// once, by `deadline` (one resolution after it starts), and says whether metrics are served
/// afterwards.
///
/// CPU needs two points per node, so upstream serves nothing for a whole resolution after
/// start. Until metrics are served, cycles repeat every third of a resolution: the second
/// point is taken as soon as the kubelets have a newer sample, and /readyz turns green within
/// one resolution. Afterwards cycles are a full resolution apart; after a cycle that overruns,
/// one late cycle starts at once and the ticks it covered are dropped, not queued (as Go's
/// `time.Ticker` behaves for upstream). Cancellation ends the wait for the next
/// cycle at once; a running cycle is bounded by its own deadline.
async fn drive<F, Fut>(resolution: Duration, cancel: &CancellationToken, mut cycle: F)
where
    F: FnMut(Instant) -> Fut,
    Fut: Future<Output = bool>,
{
    let first = Instant::now();
    let mut last = first;
    let mut serving = cycle(first + resolution).await;
    let step = resolution / WARM_UP_STEPS;
    let mut next = first + step;
    while !serving && next < first + resolution {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = cancel.cancelled() => return,
        }
        last = Instant::now();
        serving = cycle(last + resolution).await;
        next += step;
    }
    // Once serving, the next window is a full resolution; otherwise keep the third's pace
    // for the first regular tick.
    let start = if serving { last + resolution } else { next };
    let mut ticks = tokio::time::interval_at(start, resolution);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = cancel.cancelled() => return,
        }
        cycle(Instant::now() + resolution).await;
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

    use std::cell::RefCell;
    use std::rc::Rc;

    const RESOLUTION: Duration = Duration::from_secs(15);

    /// A cycle double for [`drive`]: records when each cycle starts (from the loop's start) and
    /// checks its deadline, answers "serving" from a script (then `true`), and takes
    /// `durations[i]` (then zero).
    #[derive(Clone, Default)]
    struct Script {
        serving: Vec<bool>,
        durations: Vec<Duration>,
        starts: Rc<RefCell<Vec<Duration>>>,
    }

    impl Script {
        /// Runs `drive` until `until` has passed (paused time) and returns the cycle starts.
        async fn run(self, until: Duration) -> Vec<Duration> {
            let cancel = CancellationToken::new();
            let origin = Instant::now();
            let script = self.clone();
            let cycle = move |deadline: Instant| {
                let script = script.clone();
                async move {
                    assert_eq!(
                        deadline,
                        Instant::now() + RESOLUTION,
                        "a resolution to finish"
                    );
                    let index = {
                        let mut starts = script.starts.borrow_mut();
                        starts.push(origin.elapsed());
                        starts.len() - 1
                    };
                    if let Some(duration) = script.durations.get(index) {
                        tokio::time::sleep(*duration).await;
                    }
                    script.serving.get(index).copied().unwrap_or(true)
                }
            };
            let stop = cancel.clone();
            tokio::join!(drive(RESOLUTION, &cancel, cycle), async move {
                tokio::time::sleep(until).await;
                stop.cancel();
            });
            self.starts.take()
        }
    }

    fn secs(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn serving_from_the_first_cycle_ticks_every_resolution() {
        let starts = Script::default().run(Duration::from_secs(50)).await;
        assert_eq!(starts, secs(&[0, 15, 30, 45]));
    }

    #[tokio::test(start_paused = true)]
    async fn warm_up_cycles_are_a_third_of_a_resolution_apart_until_serving() {
        // Served after the third cycle (10 s): the next is a full resolution later.
        let script = Script {
            serving: vec![false, false, true],
            ..Script::default()
        };
        let starts = script.run(Duration::from_secs(45)).await;
        assert_eq!(starts, secs(&[0, 5, 10, 25, 40]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_warm_up_that_never_serves_falls_back_to_the_resolution() {
        let script = Script {
            serving: vec![false; 10],
            ..Script::default()
        };
        let starts = script.run(Duration::from_secs(50)).await;
        assert_eq!(starts, secs(&[0, 5, 10, 15, 30, 45]));
    }

    #[tokio::test(start_paused = true)]
    async fn an_overrunning_cycle_is_followed_by_one_late_cycle_not_a_queue() {
        // The cycle at 15 s takes 40 s (ends at 55 s), covering the ticks of 30 and 45 s. As
        // with Go's time.Ticker (a one-tick buffer), one late cycle starts at once and the
        // schedule then keeps its phase (60 s); the missed ticks are not run one after another.
        let script = Script {
            durations: vec![Duration::ZERO, Duration::from_secs(40)],
            ..Script::default()
        };
        let starts = script.run(Duration::from_secs(80)).await;
        assert_eq!(starts, secs(&[0, 15, 55, 60, 75]));
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_ends_the_wait_for_the_next_cycle() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let before = Instant::now();
        let mut cycles = 0;
        drive(RESOLUTION, &cancel, |_| {
            cycles += 1;
            async { true }
        })
        .await;
        assert_eq!(cycles, 1, "the first cycle runs, then the loop stops");
        assert_eq!(before.elapsed(), Duration::ZERO, "no wait for a tick");
    }
}
