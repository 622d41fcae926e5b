//! The parts of a Running Pod the API and the scraper need: its labels and its node.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::Labels;

/// A Running Pod as metrics-server sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    pub labels: Labels,
    /// `spec.nodeName`: the only node whose kubelet may report this pod's metrics. Shared
    /// between the pods of one node.
    pub node_name: Option<NodeName>,
}

/// A node's name, shared by every pod bound to it.
pub type NodeName = Arc<str>;

/// Running pods by namespace, then name: the order lists are served in.
pub type PodIndex = BTreeMap<String, BTreeMap<String, PodInfo>>;

/// Shares one allocation between pods with identical labels (all replicas of a ReplicaSet)
/// and between pods of one node.
#[derive(Debug, Default)]
pub(crate) struct LabelInterner {
    sets: HashSet<Labels>,
    inserts_since_prune: usize,
    node_names: HashSet<NodeName>,
    node_inserts_since_prune: usize,
}

impl LabelInterner {
    /// Label sets held only by the interner are dropped every so often, so churn does not grow it.
    const PRUNE_EVERY: usize = 4096;

    pub(crate) fn intern(&mut self, labels: BTreeMap<String, String>) -> Labels {
        if let Some(existing) = self.sets.get(&labels) {
            return Arc::clone(existing);
        }
        self.inserts_since_prune += 1;
        if self.inserts_since_prune >= Self::PRUNE_EVERY {
            self.inserts_since_prune = 0;
            self.sets.retain(|set| Arc::strong_count(set) > 1);
        }
        let labels = Arc::new(labels);
        self.sets.insert(Arc::clone(&labels));
        labels
    }

    pub(crate) fn intern_node_name(&mut self, name: &str) -> NodeName {
        if let Some(existing) = self.node_names.get(name) {
            return Arc::clone(existing);
        }
        self.node_inserts_since_prune += 1;
        if self.node_inserts_since_prune >= Self::PRUNE_EVERY {
            self.node_inserts_since_prune = 0;
            self.node_names.retain(|name| Arc::strong_count(name) > 1);
        }
        let name: NodeName = Arc::from(name);
        self.node_names.insert(Arc::clone(&name));
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_label_sets_share_one_allocation() {
        let mut interner = LabelInterner::default();
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let a = interner.intern(labels.clone());
        let b = interner.intern(labels);
        assert!(Arc::ptr_eq(&a, &b));
        let c = interner.intern(BTreeMap::from([("app".to_string(), "db".to_string())]));
        assert!(!Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn pods_of_one_node_share_its_name() {
        let mut interner = LabelInterner::default();
        let a = interner.intern_node_name("worker-1");
        let b = interner.intern_node_name("worker-1");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*interner.intern_node_name("worker-2"), "worker-2");
    }

    #[test]
    fn unused_sets_are_pruned() {
        let mut interner = LabelInterner::default();
        for i in 0..(LabelInterner::PRUNE_EVERY * 2) {
            drop(interner.intern(BTreeMap::from([("i".to_string(), i.to_string())])));
        }
        assert!(interner.sets.len() <= LabelInterner::PRUNE_EVERY);
    }
}
