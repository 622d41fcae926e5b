//! The shared store: one writer per scrape cycle, any number of lock-free readers.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::advance::{Rules, UsageFailure};
use crate::batch::MetricsBatch;
use crate::snapshot::Snapshot;
use crate::summary::StoreSummary;

/// The metric store. Each [`Store::store`] replaces the whole state with what the batch holds;
/// readers take a [`Snapshot`] and see exactly one cycle, never a half-written one.
pub struct Store {
    rules: Rules,
    metric_resolution: Duration,
    usage_window: Duration,
    current: ArcSwap<Snapshot>,
    /// Serialises writers: two concurrent cycles would both build on the same snapshot and one
    /// would silently lose the other's history. Readers never take it.
    writer: Mutex<()>,
    /// The number of cycles stored, for whoever waits for the next one (watches).
    generation: tokio::sync::watch::Sender<u64>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("metric_resolution", &self.metric_resolution)
            .field("usage_window", &self.usage_window)
            .field("current", &*self.current.load())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// An empty, not-ready store. `metric_resolution` is the scrape interval; it bounds the age
    /// below which a new container is served after a single scrape.
    pub fn new(metric_resolution: Duration) -> Store {
        Store::with_usage_window(metric_resolution, Duration::ZERO)
    }

    /// An empty, not-ready store whose CPU rates span up to `usage_window` rather than the last
    /// two scrapes (see the crate docs); zero is [`Store::new`]'s upstream behaviour.
    ///
    /// Each node and container then keeps up to `ceil(usage_window / metric_resolution)` older
    /// samples of 16 bytes, at most 40. Any window is accepted (the binary's flag checks bounds);
    /// one shorter than the resolution keeps a single older sample, yet still follows the
    /// window's rules for counters going backwards and for fresh containers.
    pub fn with_usage_window(metric_resolution: Duration, usage_window: Duration) -> Store {
        Store {
            rules: Rules::new(metric_resolution, usage_window),
            metric_resolution,
            usage_window,
            current: ArcSwap::from_pointee(Snapshot::default()),
            writer: Mutex::new(()),
            generation: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Stores one scrape cycle's batch, replacing everything stored before, and says what changed.
    ///
    /// The next snapshot is built beside the current one and swapped in whole, so readers are
    /// never blocked and never see a mix of cycles.
    pub fn store(&self, batch: MetricsBatch) -> StoreSummary {
        // The guarded data is `()`, so a panic in an earlier writer leaves nothing inconsistent.
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = self.current.load_full();
        let advanced = self.rules.advance(&previous, batch);
        self.current.store(Arc::new(advanced.snapshot));
        self.generation.send_modify(|generation| *generation += 1);
        // Dropped here rather than while readers wait: freeing a large snapshot takes a moment.
        drop(previous);
        log_cycle(&advanced.summary, advanced.first_usage_error.as_ref());
        advanced.summary
    }

    /// The current cycle's state. Holding it keeps that cycle alive, not the store locked.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// A receiver that wakes when a cycle is stored; its value counts the cycles stored so far
    /// (watches send it as their `resourceVersion`).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }
}

/// One debug line per cycle, one warning when items have to be skipped, and one line when
/// readiness changes: upstream logs per item, which floods logs on large clusters.
fn log_cycle(summary: &StoreSummary, first_usage_error: Option<&UsageFailure>) {
    tracing::debug!(
        nodes = summary.nodes,
        node_points = summary.node_points,
        pods = summary.pods,
        container_points = summary.container_points,
        fresh_containers = summary.fresh_containers,
        servable_nodes = summary.servable_nodes,
        servable_pods = summary.servable_pods,
        prevs_dropped = summary.prevs_dropped(),
        duplicate_containers = summary.duplicate_containers,
        histories_started_over = summary.histories_started_over(),
        window_samples = summary.window_samples,
        "stored metrics batch"
    );
    if let Some(failure) = first_usage_error {
        tracing::warn!(
            nodes = summary.node_usage_errors,
            containers = summary.container_usage_errors,
            example = %failure.item,
            error = %failure.error,
            "skipping usage of items whose counters went backwards"
        );
    }
    if summary.readiness_changed() {
        let after = summary.readiness_after;
        let state = match (after.nodes, after.pods) {
            (true, true) => "ready",
            (false, true) => "node metrics are missing",
            (true, false) => "pod metrics are missing",
            (false, false) => "node and pod metrics are missing",
        };
        tracing::debug!(
            node_ready = after.nodes,
            pod_ready = after.pods,
            "metric storage readiness changed: {state}"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;

    use super::*;
    use crate::batch::{MetricsPoint, Timestamp};

    const S: i64 = 1_000_000_000;
    const NODES: usize = 50;

    fn cycle(number: i64) -> MetricsBatch {
        let mut batch = MetricsBatch::default();
        for node in 0..NODES {
            let point = MetricsPoint {
                timestamp: Timestamp(number * 15 * S),
                cumulative_cpu_ns: u64::try_from(number).unwrap() * 1_000_000_000,
                ..MetricsPoint::default()
            };
            batch.nodes.insert(format!("node-{node}"), point);
        }
        batch
    }

    #[test]
    fn store_and_snapshots_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
        assert_send_sync::<Arc<Snapshot>>();
    }

    #[test]
    fn readers_see_whole_cycles_while_the_writer_stores() {
        let store = Store::new(Duration::from_secs(15));
        store.store(cycle(1));
        let done = AtomicBool::new(false);
        thread::scope(|scope| {
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        let mut snapshots_read = 0_u64;
                        while !done.load(Ordering::Acquire) || snapshots_read == 0 {
                            let snapshot = store.snapshot();
                            let timestamps: Vec<_> =
                                snapshot.nodes().map(|(_, usage)| usage.timestamp).collect();
                            assert!(
                                timestamps.is_empty() || timestamps.len() == NODES,
                                "a partial cycle"
                            );
                            assert!(
                                timestamps.windows(2).all(|pair| pair[0] == pair[1]),
                                "a mix of cycles"
                            );
                            snapshots_read += 1;
                        }
                        snapshots_read
                    })
                })
                .collect();
            for number in 2..200 {
                store.store(cycle(number));
            }
            done.store(true, Ordering::Release);
            for reader in readers {
                assert!(reader.join().unwrap() > 0);
            }
        });
        assert_eq!(store.snapshot().nodes().count(), NODES);
    }

    #[test]
    fn debug_output_stays_short() {
        let store = Store::new(Duration::from_secs(15));
        store.store(cycle(1));
        let debug = format!("{store:?}");
        assert!(
            debug.contains("nodes: 50") && !debug.contains("node-1"),
            "{debug}"
        );
    }
}
