//! One scrape cycle: every node concurrently (bounded), each after upstream's random start
//! delay, all within the cycle's deadline, merged into one batch keyed by Node object name.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use metric_store::{MetricsBatch, PodRef};
use rand::Rng;
use tokio::task::{Id, JoinSet};
use tokio::time::{Instant, sleep_until, timeout_at};
use tracing::{debug, error, warn};

use crate::address::{Endpoint, NodeTarget};
use crate::client::{KubeletClient, ScrapedNode};
use crate::config::KubeletClientConfig;
use crate::decode::MAX_CONTAINERS_PER_POD;
use crate::error::{ClientBuildError, ScrapeError};
use crate::metrics::ScraperMetrics;

/// Upstream spreads request starts over `[0, min(8 ms × nodes, 4 s))` to avoid bursts.
const START_SPREAD_PER_NODE: Duration = Duration::from_millis(8);
const MAX_START_SPREAD: Duration = Duration::from_secs(4);

/// What a cycle produced.
#[derive(Debug, Default)]
pub struct CycleReport {
    pub batch: MetricsBatch,
    /// One entry per node, in completion order.
    pub outcomes: Vec<NodeOutcome>,
}

/// How one node's scrape went.
#[derive(Debug)]
pub struct NodeOutcome {
    pub node: String,
    /// From the end of the start delay to the end of the scrape.
    pub duration: Duration,
    pub result: Result<NodeStats, ScrapeError>,
}

/// What a successfully scraped node contributed to the batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStats {
    /// The endpoint that answered.
    pub endpoint: Endpoint,
    /// Whether the node's own point was complete and is in the batch.
    pub node_point: bool,
    pub pods: usize,
    pub containers: usize,
    /// Pods the kubelet reported without CPU or memory for some container (left out).
    pub incomplete_pods: usize,
    /// Pods another node had already reported in this cycle (left out, logged as errors).
    pub duplicate_pods: usize,
    /// Pods the [`PodAdmission`] refused for this node: unknown to the cluster, not Running, or
    /// bound to another node (left out).
    pub unadmitted_pods: usize,
    /// Pods that reported more containers than a pod may have (left out).
    pub oversized_pods: usize,
    /// Series the kubelet repeated in its body; the later line was used, as upstream.
    pub duplicate_series: usize,
}

/// Which pods a node may report. A kubelet is trusted only for the pods bound to its own node,
/// so a zombie or compromised node can neither forge another node's pods (and steer an HPA)
/// nor grow the store with pods that do not exist.
pub trait PodAdmission: std::fmt::Debug + Send + Sync {
    /// Whether `node`'s kubelet may report `pod`.
    fn admits(&self, node: &str, pod: &PodRef) -> bool;
}

/// Admits every pod (the default, for tools and tests without a cluster).
#[derive(Debug, Default)]
pub struct AdmitAll;

impl PodAdmission for AdmitAll {
    fn admits(&self, _node: &str, _pod: &PodRef) -> bool {
        true
    }
}

/// Scrapes all nodes once per call; holds the connection pool and per-node state across cycles.
#[derive(Debug)]
pub struct Scraper {
    shared: Arc<Shared>,
    max_concurrent: usize,
    /// Nodes of the previous cycle, to drop the state of nodes that disappeared.
    previous_nodes: Mutex<HashSet<String>>,
    /// Pods in the previous cycle's batch: the next batch is sized for as many up front
    /// instead of growing (and rehashing every pod so far) a dozen times per cycle.
    previous_pods: AtomicUsize,
    admission: Arc<dyn PodAdmission>,
}

#[derive(Debug)]
struct Shared {
    client: KubeletClient,
    metrics: ScraperMetrics,
}

type TaskOutput = (String, Duration, Result<ScrapedNode, ScrapeError>);

impl Scraper {
    pub fn new(
        config: KubeletClientConfig,
        metrics: ScraperMetrics,
    ) -> Result<Self, ClientBuildError> {
        Ok(Scraper {
            shared: Arc::new(Shared {
                client: KubeletClient::new(&config)?,
                metrics,
            }),
            max_concurrent: config.max_concurrent.max(1),
            previous_nodes: Mutex::new(HashSet::new()),
            previous_pods: AtomicUsize::new(0),
            admission: Arc::new(AdmitAll),
        })
    }

    /// Accepts from each node only the pods `admission` admits (instead of every pod).
    pub fn with_pod_admission(mut self, admission: Arc<dyn PodAdmission>) -> Self {
        self.admission = admission;
        self
    }

    /// Scrapes every node and merges the results. Never fails: a node that cannot be scraped
    /// is left out of the batch and reported in `outcomes`. Nodes still running at `deadline`
    /// end with [`ScrapeError::DeadlineExceeded`].
    pub async fn scrape_all(&self, nodes: Vec<NodeTarget>, deadline: Instant) -> CycleReport {
        match self.shared.client.refresh_credentials() {
            Ok(true) => debug!("re-read the kubelet bearer token file"),
            Ok(false) => {}
            Err(err) => {
                warn!(error = %err, "could not re-read the kubelet bearer token; keeping the previous one")
            }
        }

        let nodes = unique_by_name(nodes);
        let current: HashSet<String> = nodes.iter().map(|n| n.name.clone()).collect();
        let mut pending = start_schedule(nodes, Instant::now()).into_iter();

        let mut report = CycleReport::default();
        report.batch.nodes.reserve(current.len());
        report
            .batch
            .pods
            .reserve(self.previous_pods.load(Ordering::Relaxed));
        let mut tasks = JoinSet::new();
        let mut names: HashMap<Id, String> = HashMap::new();
        loop {
            // Nodes are queued earliest start first, so a slot only ever waits for the node due
            // next; once the bound is reached, later nodes simply start late.
            while tasks.len() < self.max_concurrent {
                let Some((start_at, node)) = pending.next() else {
                    break;
                };
                let name = node.name.clone();
                let handle =
                    tasks.spawn(scrape_node(self.shared.clone(), node, start_at, deadline));
                names.insert(handle.id(), name);
            }
            let Some(joined) = tasks.join_next_with_id().await else {
                break;
            };
            let (node, duration, result) = match joined {
                Ok((id, output)) => {
                    names.remove(&id);
                    output
                }
                Err(join_error) => {
                    let node = names.remove(&join_error.id()).unwrap_or_default();
                    let err = ScrapeError::Internal {
                        detail: join_error.to_string(),
                    };
                    self.shared
                        .metrics
                        .observe(&node, Duration::ZERO, Some(err.reason()));
                    (node, Duration::ZERO, Err(err))
                }
            };
            let result = result
                .map(|scraped| merge(&mut report.batch, &node, scraped, self.admission.as_ref()));
            if let Ok(stats) = &result {
                self.shared
                    .metrics
                    .observe_duplicate_series(&node, stats.duplicate_series);
            }
            log_outcome(&node, duration, &result);
            report.outcomes.push(NodeOutcome {
                node,
                duration,
                result,
            });
        }

        self.forget_departed(current);
        self.previous_pods
            .store(report.batch.pods.len(), Ordering::Relaxed);
        report
    }

    /// Drops the per-node metric series and client state of a node that left the cluster.
    /// Done automatically for nodes absent from the next cycle's list.
    pub fn forget_node(&self, node: &str) {
        self.shared.metrics.forget_node(node);
        self.shared.client.forget_node(node);
    }

    fn forget_departed(&self, current: HashSet<String>) {
        let mut previous = self
            .previous_nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for gone in previous.difference(&current) {
            self.forget_node(gone);
        }
        *previous = current;
    }
}

fn unique_by_name(nodes: Vec<NodeTarget>) -> Vec<NodeTarget> {
    let mut seen = HashSet::with_capacity(nodes.len());
    nodes
        .into_iter()
        .filter(|node| {
            let first = seen.insert(node.name.clone());
            if !first {
                error!(node = %node.name, "node listed twice; scraping it once");
            }
            first
        })
        .collect()
}

/// Gives each node a uniform random start in `[0, min(8 ms × nodes, 4 s))`, earliest first.
fn start_schedule(nodes: Vec<NodeTarget>, now: Instant) -> Vec<(Instant, NodeTarget)> {
    let count = u32::try_from(nodes.len()).unwrap_or(u32::MAX);
    let spread = START_SPREAD_PER_NODE
        .saturating_mul(count)
        .min(MAX_START_SPREAD);
    let mut rng = rand::rng();
    let mut schedule: Vec<_> = nodes
        .into_iter()
        .map(|node| {
            let delay = if spread.is_zero() {
                Duration::ZERO
            } else {
                rng.random_range(Duration::ZERO..spread)
            };
            (now + delay, node)
        })
        .collect();
    schedule.sort_by_key(|(start_at, _)| *start_at);
    schedule
}

async fn scrape_node(
    shared: Arc<Shared>,
    node: NodeTarget,
    start_at: Instant,
    deadline: Instant,
) -> TaskOutput {
    let started_in_time = timeout_at(deadline, sleep_until(start_at)).await.is_ok();
    let started = Instant::now();
    let result = if started_in_time {
        timeout_at(deadline, shared.client.scrape(&node))
            .await
            .unwrap_or(Err(ScrapeError::DeadlineExceeded))
    } else {
        Err(ScrapeError::DeadlineExceeded)
    };
    let duration = started.elapsed();
    shared.metrics.observe(
        &node.name,
        duration,
        result.as_ref().err().map(ScrapeError::reason),
    );
    (node.name, duration, result)
}

/// Moves one node's points into the batch. The node point is keyed by the Node object name;
/// pods `admission` refuses for this node are dropped first, and a pod another node already
/// reported keeps its first report (as upstream).
fn merge(
    batch: &mut MetricsBatch,
    node: &str,
    scraped: ScrapedNode,
    admission: &dyn PodAdmission,
) -> NodeStats {
    let metrics = scraped.metrics;
    let mut stats = NodeStats {
        endpoint: scraped.endpoint,
        node_point: metrics.node.is_some(),
        pods: 0,
        containers: 0,
        incomplete_pods: metrics.incomplete_pods.len(),
        duplicate_pods: 0,
        unadmitted_pods: 0,
        oversized_pods: metrics.oversized_pods.len(),
        duplicate_series: metrics.duplicate_series,
    };
    if let Some(point) = metrics.node {
        batch.nodes.insert(node.to_owned(), point);
    } else {
        debug!(
            node,
            "kubelet gave no complete node point (timestamp, CPU and memory are needed)"
        );
    }
    for pod in &metrics.incomplete_pods {
        debug!(node, pod = %pod, "pod left out: a container lacks CPU or memory");
    }
    for pod in &metrics.oversized_pods {
        warn!(
            node,
            pod = %pod,
            limit = MAX_CONTAINERS_PER_POD,
            "pod left out: the kubelet reported more containers than a pod may have"
        );
    }
    if metrics.duplicate_series > 0 {
        debug!(
            node,
            repeats = metrics.duplicate_series,
            "kubelet repeated series (zombie cgroups?); the later line of each was used"
        );
    }
    for (pod, containers) in metrics.pods {
        if !admission.admits(node, &pod) {
            stats.unadmitted_pods += 1;
            continue;
        }
        match batch.pods.entry(pod) {
            Entry::Occupied(first) => {
                error!(node, pod = %first.key(), "pod reported by more than one node; keeping the first report");
                stats.duplicate_pods += 1;
            }
            Entry::Vacant(slot) => {
                stats.pods += 1;
                stats.containers += containers.len();
                slot.insert(containers);
            }
        }
    }
    stats
}

fn log_outcome(node: &str, duration: Duration, result: &Result<NodeStats, ScrapeError>) {
    match result {
        Ok(stats) => debug!(
            node,
            ?duration,
            pods = stats.pods,
            containers = stats.containers,
            unadmitted_pods = stats.unadmitted_pods,
            duplicate_series = stats.duplicate_series,
            "scraped node"
        ),
        Err(err) => warn!(node, reason = err.reason(), error = %err, "failed to scrape node"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(count: usize) -> Vec<NodeTarget> {
        (0..count)
            .map(|i| NodeTarget {
                name: format!("node-{i}"),
                ..NodeTarget::default()
            })
            .collect()
    }

    #[tokio::test]
    async fn starts_spread_over_eight_ms_per_node_capped_at_four_seconds() {
        let now = Instant::now();
        for (count, spread) in [
            (1, Duration::from_millis(8)),
            (10, Duration::from_millis(80)),
            (2000, MAX_START_SPREAD),
        ] {
            let schedule = start_schedule(nodes(count), now);
            assert_eq!(schedule.len(), count);
            assert!(
                schedule.windows(2).all(|w| w[0].0 <= w[1].0),
                "earliest first"
            );
            assert!(
                schedule
                    .iter()
                    .all(|(at, _)| *at >= now && *at < now + spread)
            );
        }
        // With many nodes the delays really spread out (not all zero).
        let schedule = start_schedule(nodes(2000), now);
        assert!(
            schedule
                .last()
                .is_some_and(|(at, _)| *at > now + Duration::from_secs(2))
        );
        assert!(start_schedule(Vec::new(), now).is_empty());
    }

    /// Admits the pods named `<node>-*` only, like the cluster's "bound to this node" rule.
    #[derive(Debug)]
    struct OwnPodsOnly;

    impl PodAdmission for OwnPodsOnly {
        fn admits(&self, node: &str, pod: &PodRef) -> bool {
            pod.name.starts_with(&format!("{node}-"))
        }
    }

    fn scraped(pods: &[&str]) -> ScrapedNode {
        let point = metric_store::MetricsPoint {
            timestamp: metric_store::Timestamp(1),
            cumulative_cpu_ns: 1,
            memory_bytes: 1,
            ..metric_store::MetricsPoint::default()
        };
        let container = |name: &str| metric_store::ContainerPoint {
            name: name.to_string(),
            point,
        };
        ScrapedNode {
            endpoint: Endpoint::Resource,
            metrics: crate::decode::KubeletMetrics {
                node: Some(point),
                pods: pods
                    .iter()
                    .map(|name| (PodRef::new("ns", *name), vec![container("c")]))
                    .collect(),
                ..crate::decode::KubeletMetrics::default()
            },
        }
    }

    #[test]
    fn a_node_contributes_only_the_pods_admitted_for_it() {
        let mut batch = MetricsBatch::default();
        // node-b comes first and forges node-a's pod and an invented one.
        let forged = merge(
            &mut batch,
            "node-b",
            scraped(&["node-a-web", "node-b-db", "invented"]),
            &OwnPodsOnly,
        );
        assert_eq!((forged.pods, forged.unadmitted_pods), (1, 2));
        let real = merge(&mut batch, "node-a", scraped(&["node-a-web"]), &OwnPodsOnly);
        assert_eq!(
            (real.pods, real.duplicate_pods, real.unadmitted_pods),
            (1, 0, 0),
            "the real node's report is kept, not refused as a duplicate"
        );
        let mut names: Vec<_> = batch.pods.keys().map(|pod| pod.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["node-a-web", "node-b-db"]);
        let all = merge(
            &mut MetricsBatch::default(),
            "x",
            scraped(&["a", "b"]),
            &AdmitAll,
        );
        assert_eq!(all.pods, 2);
    }

    #[test]
    fn duplicate_names_are_scraped_once() {
        let mut list = nodes(3);
        list.push(NodeTarget {
            name: "node-1".into(),
            ..NodeTarget::default()
        });
        let names: Vec<_> = unique_by_name(list).into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["node-0", "node-1", "node-2"]);
    }
}
