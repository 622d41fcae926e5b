//! A local copy of one kind of object, kept in step with a Kubernetes watch.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Objects by key, plus whether the first complete listing has arrived.
///
/// Writers are the single watch task; readers are request handlers and the scraper. A poisoned
/// lock only means a reader panicked mid-read; the map itself is always whole, so it stays usable.
#[derive(Debug)]
pub(crate) struct Mirror<K, V> {
    objects: RwLock<BTreeMap<K, V>>,
    synced: AtomicBool,
}

impl<K: Ord, V> Default for Mirror<K, V> {
    fn default() -> Self {
        Mirror {
            objects: RwLock::new(BTreeMap::new()),
            synced: AtomicBool::new(false),
        }
    }
}

impl<K: Ord, V> Mirror<K, V> {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, BTreeMap<K, V>> {
        self.objects
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<K, V>> {
        self.objects
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Swaps in a complete listing at once, so readers never see half of a relist.
    pub(crate) fn replace_all(&self, objects: BTreeMap<K, V>) {
        *self.write() = objects;
        self.synced.store(true, Ordering::Release);
    }

    pub(crate) fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }
}
