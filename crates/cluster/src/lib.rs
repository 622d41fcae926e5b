//! What the cluster says exists: the Nodes to scrape and serve, and the Running Pods to serve.
//!
//! Upstream metrics-server serves only objects its informers know (a full Node informer and a
//! metadata-only Pod informer with `status.phase=Running`), takes labels from them, and does not
//! start serving until both have synced. This crate keeps the same two watches (the pod watch
//! also reads `spec.nodeName`, which metadata lacks, so a pod's metrics are accepted only from
//! the kubelet of the node it is bound to), but stores only the few fields the scraper and the
//! API need, so 30,000 pods cost a few megabytes rather than the hundreds a full object cache
//! would.

mod health;
mod mirror;
mod node;
mod pod;
mod scheduled_pod;
mod watch;

pub use health::WatchMetrics;
pub use node::RESOURCE_METRICS_PATH_ANNOTATION;
pub use node::{NodeAddress, NodeInfo};
pub use pod::{PodIndex, PodInfo};
pub use scheduled_pod::{ScheduledPod, ScheduledPodSpec};
pub use watch::{ClusterState, WatchError};

use std::collections::BTreeMap;
use std::sync::Arc;

/// An object's labels, shared between objects that carry the same set (every pod of a ReplicaSet
/// has the same labels), sorted by key as Go marshals maps.
pub type Labels = Arc<BTreeMap<String, String>>;
