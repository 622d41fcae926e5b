//! Upstream's storage rules: from the previous snapshot and a new batch to the next snapshot.
//!
//! The next snapshot holds exactly what the batch holds (anything absent vanishes with its
//! history). Each item's newest point becomes `last`; whether it keeps an older sample (`prev`)
//! follows these rules:
//!
//! - **History.** If the new point is newer than the stored `last`, that `last` becomes `prev`.
//!   Otherwise the stored `prev` is kept only if it is older than the new point, else dropped.
//! - **Restart (containers).** History is only carried when the new start time is before the
//!   stored `last`'s timestamp; a later start means the container restarted since.
//! - **Fresh container.** A container started between 10 s and one resolution before its sample
//!   gets a synthetic `prev` at its start time with zero CPU, so it is served after one scrape.
//!   This is checked first, so it wins over real history.
//!
//! Deliberate deviation: upstream, a container that has a `last` but no `prev` while some other
//! container of its pod has one, and whose new sample is not newer (a kubelet repeating a cached
//! sample), receives a zero-valued `prev` — a window of about 292 years with CPU ≈ 0. Here that
//! container simply has no `prev`.
//!
//! With a usage window (off by default), a series keeps more than one older sample; the rules
//! that differ are in the `window` module. The restart rule is the same; the fresh-container
//! rule applies only to a container with a single real sample.

use std::cmp::Ordering;
use std::iter::Peekable;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use crate::batch::{ContainerPoint, MetricsBatch, MetricsPoint, NameMap, PodRef};
use crate::snapshot::{
    ContainerEntry, Counts, NodeEntry, Older, PodEntry, PodTime, Series, Snapshot,
};
use crate::summary::StoreSummary;
use crate::usage::{Sample, UsageError};
use crate::window::{UsageWindow, WindowSample, WindowSpan};

/// A container younger than this at its sample gets no synthetic history: over a shorter window
/// the rate is too noisy (upstream's `freshContainerMinMetricsResolution`).
const FRESH_CONTAINER_MIN_AGE_NS: i64 = 10 * 1_000_000_000;

/// The outcome of one cycle: the next snapshot and what happened on the way.
#[derive(Debug)]
pub(crate) struct Advanced {
    pub(crate) snapshot: Snapshot,
    pub(crate) summary: StoreSummary,
    /// The first item whose usage could not be computed, named for a log line.
    pub(crate) first_usage_error: Option<UsageFailure>,
}

/// An item that is left out of reads because its counters went backwards.
#[derive(Debug)]
pub(crate) struct UsageFailure {
    pub(crate) item: String,
    pub(crate) error: UsageError,
}

/// The parameters of the rules that do not change between cycles.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    metric_resolution_ns: i64,
    /// `None`: upstream's two points.
    usage_window: Option<UsageWindow>,
}

/// The window samples a cycle reads (the previous snapshot's) and writes (the next one's).
struct WindowSamples<'a> {
    previous: &'a [WindowSample],
    next: Vec<WindowSample>,
}

impl Rules {
    /// `usage_window` zero keeps upstream's two points.
    pub(crate) fn new(metric_resolution: Duration, usage_window: Duration) -> Self {
        Rules {
            metric_resolution_ns: i64::try_from(metric_resolution.as_nanos()).unwrap_or(i64::MAX),
            usage_window: UsageWindow::new(usage_window, metric_resolution),
        }
    }

    /// The synthetic older sample of a container that started between 10 s and one resolution
    /// before `point` was taken: zero CPU at its start time.
    fn fresh_container_prev(&self, point: &MetricsPoint) -> Option<Sample> {
        if point.start_time >= point.timestamp {
            return None;
        }
        // Go's time.Sub saturates; an age that does not fit is far beyond any resolution.
        let age_ns = point.timestamp.0.saturating_sub(point.start_time.0);
        (FRESH_CONTAINER_MIN_AGE_NS..self.metric_resolution_ns)
            .contains(&age_ns)
            .then_some(Sample {
                start_time: point.start_time,
                timestamp: point.start_time,
                cumulative_cpu_ns: 0,
            })
    }

    /// Builds the snapshot that follows `previous` once `batch` is stored.
    pub(crate) fn advance(&self, previous: &Snapshot, batch: MetricsBatch) -> Advanced {
        let mut summary = StoreSummary {
            readiness_before: previous.readiness(),
            ..StoreSummary::default()
        };
        let mut first_usage_error = None;
        let mut window_samples = WindowSamples {
            previous: &previous.window_samples,
            // Every series carries at most its old samples plus its old newest point, so this
            // never grows; without a window it stays unallocated.
            next: match self.usage_window {
                Some(_) => Vec::with_capacity(
                    previous.window_samples.len()
                        + batch.nodes.len()
                        + batch.pods.values().map(Vec::len).sum::<usize>(),
                ),
                None => Vec::new(),
            },
        };
        let nodes = self.advance_nodes(
            &previous.nodes,
            batch.nodes,
            &mut window_samples,
            &mut summary,
            &mut first_usage_error,
        );
        let (pods, containers) = self.advance_pods(
            previous,
            batch.pods,
            &mut window_samples,
            &mut summary,
            &mut first_usage_error,
        );
        summary.window_samples = window_samples.next.len();
        let counts = Counts {
            node_points: summary.node_points,
            pods_with_prev: summary.pods_with_prev,
            container_points: summary.container_points,
            servable_nodes: summary.servable_nodes,
            servable_pods: summary.servable_pods,
        };
        let snapshot = Snapshot {
            nodes,
            pods,
            containers,
            window_samples: window_samples.next,
            counts,
        };
        summary.readiness_after = snapshot.readiness();
        Advanced {
            snapshot,
            summary,
            first_usage_error,
        }
    }

    fn advance_pods(
        &self,
        previous: &Snapshot,
        incoming: NameMap<PodRef, Vec<ContainerPoint>>,
        window_samples: &mut WindowSamples<'_>,
        summary: &mut StoreSummary,
        first_usage_error: &mut Option<UsageFailure>,
    ) -> (Vec<PodEntry>, Vec<ContainerEntry>) {
        let mut incoming: Vec<(PodRef, Vec<ContainerPoint>)> = incoming.into_iter().collect();
        incoming.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        summary.empty_pods = incoming
            .iter()
            .filter(|(_, points)| points.is_empty())
            .count();

        let mut pods: Vec<PodEntry> = Vec::with_capacity(incoming.len() - summary.empty_pods);
        let mut containers =
            Vec::with_capacity(incoming.iter().map(|(_, points)| points.len()).sum());
        let mut old_pods = previous.pods.iter().peekable();
        for (pod_ref, points) in incoming {
            if points.is_empty() {
                continue;
            }
            let old_pod = seek(&mut old_pods, |old| {
                (&*old.namespace, &*old.name)
                    .cmp(&(pod_ref.namespace.as_str(), pod_ref.name.as_str()))
            });
            let old_containers = old_pod
                .and_then(|old| previous.containers.get(old.containers.clone()))
                .unwrap_or_default();
            // Names are shared rather than copied from the batch: with the neighbouring pod
            // (sorted order puts a namespace's pods, and a workload's replicas, side by side) or
            // else with last cycle's entry. That keeps one long-lived allocation per distinct
            // name instead of trading it every cycle for the scraper's short-lived copy.
            let neighbour = pods.last();
            let namespace = match neighbour {
                Some(neighbour) if *neighbour.namespace == *pod_ref.namespace => {
                    Arc::clone(&neighbour.namespace)
                }
                _ => old_pod.map_or_else(
                    || Arc::from(pod_ref.namespace.as_str()),
                    |old| Arc::clone(&old.namespace),
                ),
            };
            let name = old_pod.map_or_else(
                || Arc::from(pod_ref.name.as_str()),
                |old| Arc::clone(&old.name),
            );
            let neighbour_containers =
                neighbour.map_or(0..0, |neighbour| neighbour.containers.clone());

            let start = containers.len();
            self.advance_containers(
                points,
                old_containers,
                neighbour_containers,
                &mut containers,
                window_samples,
                summary,
            );
            let pod_containers = &containers[start..];
            let with_prev = pod_containers
                .iter()
                .filter(|c| c.series.has_older())
                .count();
            summary.container_points += with_prev;
            if with_prev > 0 {
                summary.pods_with_prev += 1;
            }
            let served = (with_prev == pod_containers.len()).then(|| {
                summary.servable_pods += 1;
                pod_time(
                    pod_containers,
                    &window_samples.next,
                    &pod_ref,
                    summary,
                    first_usage_error,
                )
            });
            pods.push(PodEntry {
                namespace,
                name,
                containers: start..containers.len(),
                served,
            });
        }
        summary.pods = pods.len();
        summary.containers = containers.len();
        (pods, containers)
    }

    /// Appends one pod's containers, sorted by name, to `out`, where `neighbour` indexes the
    /// previous pod's containers.
    fn advance_containers(
        &self,
        mut points: Vec<ContainerPoint>,
        old_containers: &[ContainerEntry],
        neighbour: Range<usize>,
        out: &mut Vec<ContainerEntry>,
        window_samples: &mut WindowSamples<'_>,
        summary: &mut StoreSummary,
    ) {
        // Stable, so that of two points with the same name the first one given is kept.
        points.sort_by(|a, b| a.name.cmp(&b.name));
        let start = out.len();
        for ContainerPoint { name, point } in points {
            if out[start..].last().is_some_and(|kept| *kept.name == *name) {
                summary.duplicate_containers += 1;
                continue;
            }
            let old = find_by_name(old_containers, &name);
            let older = self.container_older(&point, old, window_samples, summary);
            let name = find_by_name(out.get(neighbour.clone()).unwrap_or_default(), &name)
                .or(old)
                .map_or_else(
                    || Arc::from(name.as_str()),
                    |shared| Arc::clone(&shared.name),
                );
            out.push(ContainerEntry {
                name,
                series: Series { last: point, older },
            });
        }
    }

    /// What a container's new point computes its rate against.
    fn container_older(
        &self,
        point: &MetricsPoint,
        old: Option<&ContainerEntry>,
        window_samples: &mut WindowSamples<'_>,
        summary: &mut StoreSummary,
    ) -> Older {
        // Upstream checks the fresh-container rule first, so it wins over real history. With a
        // usage window, real history wins: the synthetic start is only a stand-in for it.
        if self.usage_window.is_none()
            && let Some(fresh) = self.fresh_container_prev(point)
        {
            summary.fresh_containers += 1;
            return Older::Sample(fresh);
        }
        let carried = match old {
            // A start after the stored sample means the container restarted since then.
            Some(old) if point.start_time < old.series.last.timestamp => {
                self.carry(&old.series, point, window_samples)
            }
            _ => Carried::Nothing,
        };
        let older = carried.into_older(
            &mut summary.container_prevs_dropped,
            &mut summary.container_histories_started_over,
        );
        if self.usage_window.is_some()
            && older == Older::None
            && let Some(fresh) = self.fresh_container_prev(point)
        {
            summary.fresh_containers += 1;
            return Older::Sample(fresh);
        }
        older
    }

    /// The history rule shared by nodes and containers, in this store's mode.
    fn carry(
        &self,
        old: &Series,
        new: &MetricsPoint,
        window_samples: &mut WindowSamples<'_>,
    ) -> Carried {
        match self.usage_window {
            None => carry_history(old, new),
            Some(window) => {
                window.carry(old, window_samples.previous, new, &mut window_samples.next)
            }
        }
    }

    fn advance_nodes(
        &self,
        old_nodes: &[NodeEntry],
        incoming: NameMap<String, MetricsPoint>,
        window_samples: &mut WindowSamples<'_>,
        summary: &mut StoreSummary,
        first_usage_error: &mut Option<UsageFailure>,
    ) -> Vec<NodeEntry> {
        let mut incoming: Vec<(String, MetricsPoint)> = incoming.into_iter().collect();
        incoming.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut old_nodes = old_nodes.iter().peekable();
        let mut nodes = Vec::with_capacity(incoming.len());
        for (name, point) in incoming {
            let old = seek(&mut old_nodes, |old| (*old.name).cmp(name.as_str()));
            // Nodes have no restart rule (their start time is not compared with the stored
            // sample's timestamp); a reboot surfaces as a CPU decrease.
            let older = match old {
                Some(old) => self.carry(&old.series, &point, window_samples).into_older(
                    &mut summary.node_prevs_dropped,
                    &mut summary.node_histories_started_over,
                ),
                None => Older::None,
            };
            let series = Series { last: point, older };
            match series.usage(&window_samples.next) {
                Some(Ok(_)) => summary.servable_nodes += 1,
                Some(Err(error)) => {
                    summary.node_usage_errors += 1;
                    first_usage_error.get_or_insert_with(|| UsageFailure {
                        item: format!("node {name}"),
                        error,
                    });
                }
                None => {}
            }
            if series.has_older() {
                summary.node_points += 1;
            }
            let name = old.map_or_else(|| Arc::from(name.as_str()), |old| Arc::clone(&old.name));
            nodes.push(NodeEntry { name, series });
        }
        summary.nodes = nodes.len();
        nodes
    }
}

/// The entry called `name` among containers sorted by name.
fn find_by_name<'a>(containers: &'a [ContainerEntry], name: &str) -> Option<&'a ContainerEntry> {
    let index = containers
        .binary_search_by(|container| (*container.name).cmp(name))
        .ok()?;
    containers.get(index)
}

/// What an item's stored history contributes to its new point.
pub(crate) enum Carried {
    /// This older sample pairs with the new point.
    Prev(Sample),
    /// With a usage window: these older samples, already copied into the next snapshot's.
    Window(WindowSpan),
    /// There was no older sample to pair with.
    Nothing,
    /// There was an older sample, but it is not older than the new point.
    Dropped,
    /// With a usage window: the CPU counter or start time went backwards, so the history was
    /// discarded.
    StartedOver,
}

impl Carried {
    /// The series' `Older`, counting a drop in `dropped` and a fresh start in `started_over`
    /// (the node or the container counts of the summary).
    fn into_older(self, dropped: &mut usize, started_over: &mut usize) -> Older {
        match self {
            Carried::Prev(prev) => Older::Sample(prev),
            Carried::Window(span) => Older::Window(span),
            Carried::Nothing => Older::None,
            Carried::Dropped => {
                *dropped += 1;
                Older::None
            }
            Carried::StartedOver => {
                *started_over += 1;
                Older::None
            }
        }
    }
}

/// Upstream's history rule shared by nodes and containers: one older sample.
fn carry_history(old: &Series, new: &MetricsPoint) -> Carried {
    if new.timestamp > old.last.timestamp {
        return Carried::Prev(Sample::of(&old.last));
    }
    match old.older {
        Older::Sample(prev) if prev.timestamp < new.timestamp => Carried::Prev(prev),
        Older::Sample(_) => Carried::Dropped,
        // A window only exists in a store with a usage window, which never comes here.
        Older::None | Older::Window(_) => Carried::Nothing,
    }
}

/// The time a served pod reports: that of its successful container with the earliest timestamp
/// (the first by name on a tie, where upstream's map order makes the choice random).
fn pod_time(
    containers: &[ContainerEntry],
    window_samples: &[WindowSample],
    pod: &PodRef,
    summary: &mut StoreSummary,
    first_usage_error: &mut Option<UsageFailure>,
) -> PodTime {
    let mut earliest: Option<PodTime> = None;
    for container in containers {
        match container.series.usage(window_samples) {
            Some(Ok(usage)) if earliest.is_none_or(|time| usage.timestamp < time.timestamp) => {
                earliest = Some(PodTime {
                    timestamp: usage.timestamp,
                    window_ns: usage.window_ns,
                });
            }
            Some(Ok(_)) | None => {}
            Some(Err(error)) => {
                summary.container_usage_errors += 1;
                first_usage_error.get_or_insert_with(|| UsageFailure {
                    item: format!("container {} of pod {pod}", container.name),
                    error,
                });
            }
        }
    }
    earliest.unwrap_or_default()
}

/// Advances a sorted iterator past entries that sort before the wanted key and returns the entry
/// equal to it, if any. Walking both sorted sequences together finds every old entry in one pass.
fn seek<'a, T>(
    sorted: &mut Peekable<std::slice::Iter<'a, T>>,
    compare_to_wanted: impl Fn(&T) -> Ordering,
) -> Option<&'a T> {
    while let Some(entry) = sorted.peek() {
        match compare_to_wanted(entry) {
            Ordering::Less => {
                sorted.next();
            }
            Ordering::Equal => return sorted.next(),
            Ordering::Greater => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Timestamp;

    const S: i64 = 1_000_000_000;

    fn point(start: i64, ts: i64) -> MetricsPoint {
        MetricsPoint {
            start_time: Timestamp(start),
            timestamp: Timestamp(ts),
            cumulative_cpu_ns: 1,
            memory_bytes: 1,
            swap_bytes: None,
        }
    }

    #[test]
    fn fresh_window_is_half_open_from_ten_seconds_to_the_resolution() {
        let rules = Rules::new(Duration::from_secs(15), Duration::ZERO);
        let start = 1_000 * S;
        assert!(
            rules
                .fresh_container_prev(&point(start, start + 10 * S - 1))
                .is_none()
        );
        assert!(
            rules
                .fresh_container_prev(&point(start, start + 10 * S))
                .is_some()
        );
        assert!(
            rules
                .fresh_container_prev(&point(start, start + 15 * S - 1))
                .is_some()
        );
        assert!(
            rules
                .fresh_container_prev(&point(start, start + 15 * S))
                .is_none()
        );
    }

    #[test]
    fn fresh_prev_is_zero_cpu_at_start_time() {
        let rules = Rules::new(Duration::from_secs(60), Duration::ZERO);
        let prev = rules
            .fresh_container_prev(&point(100 * S, 130 * S))
            .unwrap();
        assert_eq!(
            prev,
            Sample {
                start_time: Timestamp(100 * S),
                timestamp: Timestamp(100 * S),
                cumulative_cpu_ns: 0
            }
        );
    }

    #[test]
    fn resolution_at_or_below_ten_seconds_disables_the_shortcut() {
        let rules = Rules::new(Duration::from_secs(10), Duration::ZERO);
        assert!(rules.fresh_container_prev(&point(0, 10 * S)).is_none());
    }

    #[test]
    fn unknown_or_extreme_start_times_are_never_fresh() {
        let rules = Rules::new(Duration::MAX, Duration::ZERO);
        assert!(
            rules
                .fresh_container_prev(&point(i64::MIN, i64::MAX))
                .is_none()
        );
        assert!(rules.fresh_container_prev(&point(5 * S, 5 * S)).is_none());
        assert!(rules.fresh_container_prev(&point(20 * S, 5 * S)).is_none());
    }

    #[test]
    fn names_are_shared_between_neighbouring_pods_and_across_cycles() {
        let rules = Rules::new(Duration::from_secs(15), Duration::ZERO);
        let batch = || {
            let mut batch = MetricsBatch::default();
            for pod in ["web-1", "web-2"] {
                let containers = vec![ContainerPoint {
                    name: "app".to_owned(),
                    point: point(0, S),
                }];
                batch.pods.insert(PodRef::new("ns", pod), containers);
            }
            batch.nodes.insert("n1".to_owned(), point(0, S));
            batch
        };
        let first = rules.advance(&Snapshot::default(), batch()).snapshot;
        assert!(Arc::ptr_eq(
            &first.pods[0].namespace,
            &first.pods[1].namespace
        ));
        assert!(Arc::ptr_eq(
            &first.containers[0].name,
            &first.containers[1].name
        ));

        let second = rules.advance(&first, batch()).snapshot;
        assert!(Arc::ptr_eq(&first.pods[1].name, &second.pods[1].name));
        assert!(Arc::ptr_eq(
            &first.pods[0].namespace,
            &second.pods[1].namespace
        ));
        assert!(Arc::ptr_eq(
            &first.containers[0].name,
            &second.containers[1].name
        ));
        assert!(Arc::ptr_eq(&first.nodes[0].name, &second.nodes[0].name));
    }

    /// One node and one container, sampled every 15 s with CPU climbing.
    fn steady_batch(cycle: i64) -> MetricsBatch {
        let point = MetricsPoint {
            start_time: Timestamp(-3_600 * S),
            timestamp: Timestamp(cycle * 15 * S),
            cumulative_cpu_ns: u64::try_from(cycle).unwrap() * 1_000,
            memory_bytes: 1,
            swap_bytes: None,
        };
        let mut batch = MetricsBatch::default();
        batch.nodes.insert("n1".to_owned(), point);
        let container = ContainerPoint {
            name: "c".to_owned(),
            point,
        };
        batch.pods.insert(PodRef::new("ns", "p"), vec![container]);
        batch
    }

    fn after_cycles(rules: Rules, cycles: i64) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for cycle in 0..cycles {
            snapshot = rules.advance(&snapshot, steady_batch(cycle)).snapshot;
        }
        snapshot
    }

    #[test]
    fn without_a_window_nothing_is_allocated_for_history() {
        let snapshot = after_cycles(Rules::new(Duration::from_secs(15), Duration::ZERO), 20);
        assert_eq!(snapshot.window_samples.capacity(), 0);
        let series = [snapshot.nodes[0].series, snapshot.containers[0].series];
        assert!(
            series
                .iter()
                .all(|series| matches!(series.older, Older::Sample(_)))
        );
    }

    /// Memory per series, beyond its name: 80 bytes inline without a window (as before windows
    /// existed), plus 16 per older sample with one: 8 at 2 minutes and 15 s.
    #[test]
    fn memory_per_series_at_two_minutes_and_fifteen_seconds() {
        let rules = Rules::new(Duration::from_secs(15), Duration::from_secs(120));
        let snapshot = after_cycles(rules, 20);
        let series = 2;
        let bytes_per_series = size_of::<Series>()
            + snapshot.window_samples.len() * size_of::<WindowSample>() / series;
        assert_eq!(bytes_per_series, 80 + 8 * 16);
        // The vector is sized for the worst case of one more sample per series, never more.
        assert!(snapshot.window_samples.capacity() <= snapshot.window_samples.len() + series);
    }

    #[test]
    fn seek_walks_two_sorted_sequences_in_step() {
        let old = [1, 3, 5, 7];
        let mut iter = old.iter().peekable();
        let found: Vec<Option<i32>> = [0, 3, 4, 5, 8]
            .iter()
            .map(|want| seek(&mut iter, |x| x.cmp(want)).copied())
            .collect();
        assert_eq!(found, [None, Some(3), None, Some(5), None]);
    }
}
