//! One scrape cycle's complete, immutable view: what the API reads, and what the next cycle
//! builds on.
//!
//! Layout is chosen for reads of whole lists and for memory: nodes and pods live in vectors
//! sorted by name and by (namespace, name), so lists come out in API order without sorting and a
//! namespace is a contiguous range; all containers live in one flat vector that each pod indexes
//! into, instead of one allocation per pod. With a usage window, the older samples of every
//! series likewise live in one flat vector that each series indexes into.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use crate::batch::{MetricsPoint, Timestamp};
use crate::usage::{ContainerUsage, NodeUsage, Sample, UsageError, resource_usage};
use crate::window::{WindowSample, WindowSpan};

/// The last point of a node or container and, when history allows a rate, what to compute it
/// against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Series {
    pub(crate) last: MetricsPoint,
    pub(crate) older: Older,
}

/// What a series' rate is computed against. The same size as the `Option<Sample>` it replaces,
/// so a store without a usage window costs exactly what it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Older {
    /// Nothing older: the item cannot be served yet.
    None,
    /// One older sample: upstream's `prev` without a usage window; with one, only ever a fresh
    /// container's synthetic start.
    Sample(Sample),
    /// With a usage window: the real older samples kept, in the snapshot's window samples.
    Window(WindowSpan),
}

impl Series {
    /// Whether the series has something older to compute a rate against (upstream's "has a
    /// `prev`", which points and readiness count).
    pub(crate) fn has_older(&self) -> bool {
        !matches!(self.older, Older::None)
    }

    /// `None` without an older sample; otherwise the usage or why it cannot be computed.
    /// `window_samples` are those of the snapshot holding this series.
    pub(crate) fn usage(
        &self,
        window_samples: &[WindowSample],
    ) -> Option<Result<NodeUsage, UsageError>> {
        let older = match self.older {
            Older::None => return None,
            Older::Sample(sample) => sample,
            Older::Window(span) => window_samples.get(span.oldest())?.older_end_for(&self.last),
        };
        Some(resource_usage(&self.last, &older))
    }
}

#[derive(Debug)]
pub(crate) struct NodeEntry {
    pub(crate) name: Arc<str>,
    pub(crate) series: Series,
}

#[derive(Debug)]
pub(crate) struct ContainerEntry {
    pub(crate) name: Arc<str>,
    pub(crate) series: Series,
}

/// The pod-level time that the API reports: the timestamp and window of the successful
/// container with the earliest timestamp, or zeros when none succeeded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PodTime {
    pub(crate) timestamp: Timestamp,
    pub(crate) window_ns: i64,
}

#[derive(Debug)]
pub(crate) struct PodEntry {
    pub(crate) namespace: Arc<str>,
    pub(crate) name: Arc<str>,
    /// This pod's containers in [`Snapshot::containers`], sorted by name.
    pub(crate) containers: Range<usize>,
    /// `Some` only when every container has an older sample, i.e. when the pod is served.
    pub(crate) served: Option<PodTime>,
}

/// Counts fixed when the snapshot is built, so that gauges and readiness cost nothing to read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) node_points: usize,
    pub(crate) pods_with_prev: usize,
    pub(crate) container_points: usize,
    pub(crate) servable_nodes: usize,
    pub(crate) servable_pods: usize,
}

/// Whether the store has history to serve, judged like upstream from the stored older samples
/// (not from whether a rate can be computed: a node whose CPU counter went backwards still
/// counts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// At least one node has an older sample.
    pub nodes: bool,
    /// At least one pod has a container with an older sample.
    pub pods: bool,
}

impl Readiness {
    /// Both node and pod metrics are available (upstream's `metric-storage-ready`).
    pub fn is_ready(self) -> bool {
        self.nodes && self.pods
    }
}

/// One scrape cycle's state, shared read-only between the API's requests.
///
/// Only servable items are visible through the read methods: a node or pod without a computable
/// usage is absent, as upstream omits it from lists and answers 404 on get.
#[derive(Default)]
pub struct Snapshot {
    /// Sorted by name.
    pub(crate) nodes: Vec<NodeEntry>,
    /// Sorted by (namespace, name).
    pub(crate) pods: Vec<PodEntry>,
    /// Grouped by pod, in pod order; each pod's group is sorted by container name.
    pub(crate) containers: Vec<ContainerEntry>,
    /// The older samples of every windowed series, which index into it; empty (unallocated)
    /// without a usage window.
    pub(crate) window_samples: Vec<WindowSample>,
    pub(crate) counts: Counts,
}

impl fmt::Debug for Snapshot {
    // The full contents run to tens of thousands of entries; counts are what a log line needs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("nodes", &self.nodes.len())
            .field("pods", &self.pods.len())
            .field("containers", &self.containers.len())
            .field("window_samples", &self.window_samples.len())
            .field("counts", &self.counts)
            .finish()
    }
}

impl Snapshot {
    /// The usage of node `name`, if it can be served.
    pub fn node(&self, name: &str) -> Option<NodeUsage> {
        let index = self
            .nodes
            .binary_search_by(|node| (*node.name).cmp(name))
            .ok()?;
        self.nodes[index].series.usage(&self.window_samples)?.ok()
    }

    /// Every servable node with its usage, sorted by name.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, NodeUsage)> + '_ {
        self.nodes.iter().filter_map(|node| {
            let usage = node.series.usage(&self.window_samples)?.ok()?;
            Some((&*node.name, usage))
        })
    }

    /// The usage of pod `namespace/name`, if it can be served.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<PodUsage<'_>> {
        let index = self
            .pods
            .binary_search_by(|pod| (&*pod.namespace, &*pod.name).cmp(&(namespace, name)))
            .ok()?;
        self.servable(&self.pods[index])
    }

    /// Every servable pod, sorted by namespace, then name.
    pub fn pods(&self) -> impl Iterator<Item = PodUsage<'_>> + '_ {
        self.pods.iter().filter_map(|pod| self.servable(pod))
    }

    /// The servable pods of one namespace, sorted by name. Costs a binary search, not a scan.
    pub fn pods_in_namespace<'a>(
        &'a self,
        namespace: &str,
    ) -> impl Iterator<Item = PodUsage<'a>> + 'a {
        self.namespace_pods(namespace)
            .iter()
            .filter_map(|pod| self.servable(pod))
    }

    /// One namespace's entries, served or not, sorted by name: two binary searches.
    fn namespace_pods(&self, namespace: &str) -> &[PodEntry] {
        let start = self.pods.partition_point(|pod| &*pod.namespace < namespace);
        let len = self.pods[start..].partition_point(|pod| &*pod.namespace == namespace);
        &self.pods[start..start + len]
    }

    /// Lookups of one namespace's pods for a caller that walks names in ascending order (a list
    /// joining the pod cache, sorted the same way, with this snapshot): each lookup starts where
    /// the previous one ended, so a whole list costs about one comparison per pod instead of a
    /// binary search over every pod of the cluster. Costs one binary search to find the
    /// namespace.
    pub fn pods_by_name<'a>(&'a self, namespace: &str) -> PodsByName<'a> {
        PodsByName {
            snapshot: self,
            pods: self.namespace_pods(namespace),
            next: 0,
        }
    }

    /// How many nodes [`Snapshot::nodes`] yields.
    pub fn servable_node_count(&self) -> usize {
        self.counts.servable_nodes
    }

    /// How many pods [`Snapshot::pods`] yields.
    pub fn servable_pod_count(&self) -> usize {
        self.counts.servable_pods
    }

    /// Node and pod readiness.
    pub fn readiness(&self) -> Readiness {
        Readiness {
            nodes: self.counts.node_points > 0,
            pods: self.counts.pods_with_prev > 0,
        }
    }

    /// At least one node and one pod have history (upstream's `metric-storage-ready` check).
    pub fn is_ready(&self) -> bool {
        self.readiness().is_ready()
    }

    /// At least one node has an older sample.
    pub fn node_ready(&self) -> bool {
        self.readiness().nodes
    }

    /// At least one pod has a container with an older sample.
    pub fn pod_ready(&self) -> bool {
        self.readiness().pods
    }

    /// Nodes with an older sample: the `storage_points{type="node"}` gauge.
    pub fn node_points(&self) -> usize {
        self.counts.node_points
    }

    /// Containers with an older sample, over all pods: the `storage_points{type="container"}`
    /// gauge.
    pub fn container_points(&self) -> usize {
        self.counts.container_points
    }

    fn servable<'a>(&'a self, pod: &'a PodEntry) -> Option<PodUsage<'a>> {
        let time = pod.served?;
        let containers = self.containers.get(pod.containers.clone())?;
        Some(PodUsage {
            namespace: &pod.namespace,
            name: &pod.name,
            time,
            containers,
            window_samples: &self.window_samples,
        })
    }
}

/// One namespace's pods of a [`Snapshot`], looked up by name from where the last lookup ended
/// (see [`Snapshot::pods_by_name`]).
#[derive(Debug)]
pub struct PodsByName<'a> {
    snapshot: &'a Snapshot,
    /// The namespace's pods, sorted by name.
    pods: &'a [PodEntry],
    /// Every pod before this one sorts before the last name looked up.
    next: usize,
}

impl<'a> PodsByName<'a> {
    /// The usage of pod `name` of this namespace, if it can be served. Fastest when names come
    /// in ascending order; a name before the previous one is still found, from the start.
    pub fn get(&mut self, name: &str) -> Option<PodUsage<'a>> {
        if self.next > 0 && *self.pods[self.next - 1].name >= *name {
            self.next = 0;
        }
        // Gallop from where the last lookup ended (probing 1, 3, 7, … pods ahead), then search
        // the bracket found: a walk over every pod costs about one comparison each, a sparse
        // selection a few per pod.
        let rest = &self.pods[self.next..];
        let mut low = 0; // every pod in rest[..low] sorts before `name`
        let mut step = 1;
        let high = loop {
            let probe = low + step;
            if probe >= rest.len() {
                break rest.len();
            }
            if *rest[probe - 1].name >= *name {
                break probe;
            }
            low = probe;
            step *= 2;
        };
        // low <= high <= rest.len(): low is always a probe that was inside `rest`.
        let offset = low + rest[low..high].partition_point(|pod| *pod.name < *name);
        let index = self.next + offset;
        match self.pods.get(index) {
            Some(pod) if *pod.name == *name => {
                self.next = index + 1;
                self.snapshot.servable(pod)
            }
            _ => {
                self.next = index;
                None
            }
        }
    }
}

/// A servable pod as the API reports it, borrowing its names from the snapshot.
#[derive(Clone, Copy)]
pub struct PodUsage<'a> {
    namespace: &'a str,
    name: &'a str,
    time: PodTime,
    containers: &'a [ContainerEntry],
    window_samples: &'a [WindowSample],
}

impl fmt::Debug for PodUsage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PodUsage")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("timestamp", &self.time.timestamp)
            .field("window_ns", &self.time.window_ns)
            .field("containers", &self.containers().collect::<Vec<_>>())
            .finish()
    }
}

impl<'a> PodUsage<'a> {
    /// The pod's namespace.
    pub fn namespace(&self) -> &'a str {
        self.namespace
    }

    /// The pod's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The timestamp of the successful container with the earliest timestamp (the first by name
    /// on a tie); [`Timestamp::ZERO`] when no container's usage could be computed.
    pub fn timestamp(&self) -> Timestamp {
        self.time.timestamp
    }

    /// The window of that same container (not a minimum or maximum over containers); 0 when no
    /// container's usage could be computed.
    pub fn window_ns(&self) -> i64 {
        self.time.window_ns
    }

    /// Each container whose usage could be computed, sorted by name. Containers whose counters
    /// went backwards are left out, so this can be empty while the pod is still served.
    pub fn containers(&self) -> impl Iterator<Item = (&'a str, ContainerUsage)> + 'a {
        let window_samples = self.window_samples;
        self.containers.iter().filter_map(move |container| {
            let usage = container.series.usage(window_samples)?.ok()?;
            Some((&*container.name, usage))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory a series costs, inline in its node or container entry. Without a usage window
    /// nothing else is allocated for it; with one, each older sample adds
    /// `size_of::<WindowSample>()` to the snapshot's window samples.
    #[test]
    fn a_series_costs_what_it_did_before_usage_windows() {
        assert_eq!(size_of::<Older>(), size_of::<Option<Sample>>());
        assert_eq!(
            size_of::<Series>(),
            size_of::<MetricsPoint>() + size_of::<Option<Sample>>()
        );
        assert_eq!(size_of::<Series>(), 80);
        assert_eq!(size_of::<WindowSample>(), 16);
    }

    /// Pods `a-0` … in namespaces `a`, `b`, `c`; every third one is not served.
    fn snapshot_of_pods(per_namespace: usize) -> Snapshot {
        let mut pods = Vec::new();
        for namespace in ["a", "b", "c"] {
            let mut names: Vec<String> = (0..per_namespace)
                .map(|i| format!("{namespace}-{i}"))
                .collect();
            names.sort();
            for (i, name) in names.into_iter().enumerate() {
                pods.push(PodEntry {
                    namespace: Arc::from(namespace),
                    name: Arc::from(name),
                    containers: 0..0,
                    served: (i % 3 != 2).then_some(PodTime::default()),
                });
            }
        }
        Snapshot {
            pods,
            ..Snapshot::default()
        }
    }

    fn found(usage: Option<PodUsage<'_>>) -> Option<(String, String)> {
        usage.map(|pod| (pod.namespace().to_owned(), pod.name().to_owned()))
    }

    #[test]
    fn lookups_by_name_find_what_a_binary_search_finds_in_any_order() {
        let snapshot = snapshot_of_pods(40);
        let mut names: Vec<String> = (0..45).map(|i| format!("b-{i}")).collect();
        names.push("a-1".to_owned());
        names.push("".to_owned());
        names.push("zzz".to_owned());
        names.sort();
        let selections: Vec<Vec<&String>> = vec![
            names.iter().collect(),
            names.iter().step_by(7).collect(),
            names.iter().rev().collect(),
            names.iter().skip(20).chain(names.iter().take(20)).collect(),
        ];
        for selection in selections {
            let mut by_name = snapshot.pods_by_name("b");
            for name in selection {
                assert_eq!(
                    found(by_name.get(name)),
                    found(snapshot.pod("b", name)),
                    "pod b/{name}"
                );
            }
        }
        assert!(snapshot.pods_by_name("none").get("b-1").is_none());
        assert!(Snapshot::default().pods_by_name("b").get("b-1").is_none());
    }
}
