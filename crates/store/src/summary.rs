//! What one store cycle did, for the binary's logs and gauges.

use crate::snapshot::Readiness;

/// Counts from one [`Store::store`](crate::Store::store) call.
///
/// "Older sample" is upstream's `prev`: a node or container can only be served once it has one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreSummary {
    /// Nodes in the batch; every one is now the node's newest point.
    pub nodes: usize,
    /// Nodes with an older sample (the `storage_points{type="node"}` gauge).
    pub node_points: usize,
    /// Nodes with a computable usage: what a node list returns.
    pub servable_nodes: usize,
    /// Nodes with an older sample whose usage cannot be computed (CPU or start time went
    /// backwards); they are left out of reads until history is rebuilt.
    pub node_usage_errors: usize,
    /// Nodes that lost their older sample because the new point was not newer than it.
    pub node_prevs_dropped: usize,
    /// With a usage window: nodes whose kept samples were discarded because the CPU counter or
    /// start time went backwards (a reboot); served again from their next sample. Without a
    /// window these count as usage errors instead.
    pub node_histories_started_over: usize,

    /// Pods in the batch with at least one container.
    pub pods: usize,
    /// Pods in the batch without containers; nothing is kept for them.
    pub empty_pods: usize,
    /// Pods with at least one container that has an older sample (the basis of pod readiness).
    pub pods_with_prev: usize,
    /// Pods whose every container has an older sample: what a pod list returns.
    pub servable_pods: usize,
    /// Containers kept from the batch.
    pub containers: usize,
    /// Repeated container names within a pod; the first point of each name is kept.
    pub duplicate_containers: usize,
    /// Containers with an older sample (the `storage_points{type="container"}` gauge).
    pub container_points: usize,
    /// Containers whose older sample was synthesised from their start time (the fresh-container
    /// shortcut), included in `container_points`.
    pub fresh_containers: usize,
    /// Containers of servable pods whose usage cannot be computed; they are left out of their
    /// pod's container list.
    pub container_usage_errors: usize,
    /// Containers that lost their older sample because the new point was not newer than it.
    pub container_prevs_dropped: usize,
    /// With a usage window: containers whose kept samples were discarded because the CPU counter
    /// or start time went backwards; served again from their next sample (their pod too, if
    /// every other container is). Without a window, those of servable pods count as usage
    /// errors instead.
    pub container_histories_started_over: usize,

    /// With a usage window: older samples kept over all nodes and containers, 16 bytes each.
    /// Always 0 without one.
    pub window_samples: usize,

    /// Readiness before this cycle.
    pub readiness_before: Readiness,
    /// Readiness after this cycle.
    pub readiness_after: Readiness,
}

impl StoreSummary {
    /// Whether node or pod readiness changed in this cycle.
    pub fn readiness_changed(&self) -> bool {
        self.readiness_before != self.readiness_after
    }

    /// Nodes and containers left out of reads because their counters went backwards.
    pub fn usage_errors(&self) -> usize {
        self.node_usage_errors + self.container_usage_errors
    }

    /// Older samples discarded because a new point was not newer than them.
    pub fn prevs_dropped(&self) -> usize {
        self.node_prevs_dropped + self.container_prevs_dropped
    }

    /// Nodes and containers whose usage window started over because a counter went backwards.
    pub fn histories_started_over(&self) -> usize {
        self.node_histories_started_over + self.container_histories_started_over
    }
}
