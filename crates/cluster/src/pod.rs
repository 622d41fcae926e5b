//! The parts of a Running Pod the API needs: its identity and labels.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::Labels;

/// A Running Pod as metrics-server sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    pub labels: Labels,
}

/// Running pods by namespace, then name: the order lists are served in.
pub type PodIndex = BTreeMap<String, BTreeMap<String, PodInfo>>;

/// Shares one allocation between pods with identical labels (all replicas of a ReplicaSet).
#[derive(Debug, Default)]
pub(crate) struct LabelInterner {
    sets: HashSet<Labels>,
    inserts_since_prune: usize,
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
    fn unused_sets_are_pruned() {
        let mut interner = LabelInterner::default();
        for i in 0..(LabelInterner::PRUNE_EVERY * 2) {
            drop(interner.intern(BTreeMap::from([("i".to_string(), i.to_string())])));
        }
        assert!(interner.sets.len() <= LabelInterner::PRUNE_EVERY);
    }
}
