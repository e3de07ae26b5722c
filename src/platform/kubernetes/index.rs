//! Objects grouped by their controlling owner, fed by a watch. A reconcile
//! asks for "the ReplicaSets of this Rollout" and gets them without a scan
//! over every ReplicaSet of the cluster or a call to the API server. The
//! index keeps what a projection of each object chose to keep, not the
//! object: at 20,000 ReplicaSets, their pod templates alone are ~200 MB.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures_util::Stream;
use kube::Resource;
use kube::runtime::watcher::Event;
use tokio::sync::watch;

type Key = (String, String);

/// Whether an index's first complete list has arrived: before, an empty
/// answer means "unknown", not "none". Counts the complete lists, so a
/// controller can tell when a watch relisted.
#[derive(Clone)]
pub struct Synced(Arc<watch::Sender<u64>>);

impl Default for Synced {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

impl Synced {
    pub fn get(&self) -> bool {
        *self.0.borrow() > 0
    }

    /// A complete list has arrived (the first, or a relist).
    pub fn set(&self) {
        self.0.send_modify(|lists| *lists += 1);
    }

    /// Returns once the first complete list has arrived.
    pub async fn wait(&self) {
        // The sender lives as long as `self`: waiting cannot fail.
        let _ = self.0.subscribe().wait_for(|lists| *lists > 0).await;
    }

    /// Yields after each complete list but the first: a relist, after a
    /// watch resumed too late (410) or the API server restarted. Changes
    /// made while the watch was away come with the relist, not as events,
    /// so whoever reads the index has to look again (see `relisted`).
    /// Relists in quick succession may yield once.
    pub fn relists(&self) -> impl Stream<Item = ()> + Send + 'static {
        let mut lists = self.0.subscribe();
        lists.mark_unchanged();
        futures_util::stream::unfold(lists, |mut lists| async move {
            loop {
                lists.changed().await.ok()?;
                if *lists.borrow_and_update() > 1 {
                    return Some(((), lists));
                }
            }
        })
    }
}

pub struct OwnedIndex<V> {
    inner: Arc<RwLock<Inner<V>>>,
    synced: Synced,
}

impl<V> Clone for OwnedIndex<V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            synced: self.synced.clone(),
        }
    }
}

struct Inner<V> {
    by_owner: HashMap<String, BTreeMap<Key, Arc<V>>>,
    owner_of: HashMap<Key, String>,
    /// Entries of a relist in progress; swapped in whole at its end so a
    /// reconcile never sees half a list.
    relist: Option<Vec<Entry<V>>>,
}

/// An object's key, its controlling owner's uid and its projection.
struct Entry<V> {
    key: Key,
    owner: Option<String>,
    value: V,
}

impl<V> Default for OwnedIndex<V> {
    fn default() -> Self {
        Self {
            inner: Arc::new(RwLock::new(Inner {
                by_owner: HashMap::new(),
                owner_of: HashMap::new(),
                relist: None,
            })),
            synced: Synced::default(),
        }
    }
}

impl<V> OwnedIndex<V> {
    fn read(&self) -> RwLockReadGuard<'_, Inner<V>> {
        // A panic elsewhere cannot leave the maps half-updated: every
        // update is a single insert or remove.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner<V>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// True once the first complete list has arrived; before that an
    /// empty answer would mean "unknown", not "none".
    pub fn synced(&self) -> bool {
        self.synced.get()
    }

    pub async fn wait_synced(&self) {
        self.synced.wait().await;
    }

    /// See [`Synced::relists`].
    pub fn relists(&self) -> impl Stream<Item = ()> + Send + 'static {
        self.synced.relists()
    }

    pub fn owned_by(&self, owner_uid: &str) -> Vec<Arc<V>> {
        self.read()
            .by_owner
            .get(owner_uid)
            .map(|objects| objects.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Applies a watch event, keeping `project(object)` for each object.
    pub fn apply<K: Resource>(&self, event: &Event<K>, project: impl Fn(&K) -> V) {
        let entry = |object: &K| Entry {
            key: key(object),
            owner: controller_uid(object),
            value: project(object),
        };
        // Each object is projected before the lock is taken: reconciles
        // read the index meanwhile.
        match event {
            Event::Apply(object) => {
                let entry = entry(object);
                self.write().insert(entry);
            }
            Event::InitApply(object) => {
                let entry = entry(object);
                if let Some(relist) = self.write().relist.as_mut() {
                    relist.push(entry);
                }
            }
            Event::Delete(object) => self.write().remove(&key(object)),
            Event::Init => self.write().relist = Some(Vec::new()),
            Event::InitDone => {
                let mut inner = self.write();
                let entries = inner.relist.take().unwrap_or_default();
                inner.by_owner.clear();
                inner.owner_of.clear();
                for entry in entries {
                    inner.insert(entry);
                }
                drop(inner);
                self.synced.set();
            }
        }
    }
}

impl<V> Inner<V> {
    fn insert(&mut self, entry: Entry<V>) {
        self.remove(&entry.key);
        let Some(owner) = entry.owner else {
            return;
        };
        self.owner_of.insert(entry.key.clone(), owner.clone());
        self.by_owner
            .entry(owner)
            .or_default()
            .insert(entry.key, Arc::new(entry.value));
    }

    fn remove(&mut self, key: &Key) {
        let Some(owner) = self.owner_of.remove(key) else {
            return;
        };
        if let Some(objects) = self.by_owner.get_mut(&owner) {
            objects.remove(key);
            if objects.is_empty() {
                self.by_owner.remove(&owner);
            }
        }
    }
}

fn key<K: Resource>(object: &K) -> Key {
    let meta = object.meta();
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn controller_uid<K: Resource>(object: &K) -> Option<String> {
    object
        .meta()
        .owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.clone())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::StreamExt;

    use super::*;

    #[tokio::test]
    async fn relists_yield_after_every_complete_list_but_the_first() {
        let synced = Synced::default();
        let mut relists = std::pin::pin!(synced.relists());
        let soon = Duration::from_millis(50);
        assert!(!synced.get());
        synced.set();
        assert!(synced.get());
        assert!(
            tokio::time::timeout(soon, relists.next()).await.is_err(),
            "the first list is no relist"
        );
        synced.set();
        assert_eq!(
            tokio::time::timeout(soon, relists.next()).await,
            Ok(Some(()))
        );
        // A later subscriber sees only what comes after it.
        let mut late = std::pin::pin!(synced.relists());
        assert!(tokio::time::timeout(soon, late.next()).await.is_err());
        synced.set();
        assert_eq!(tokio::time::timeout(soon, late.next()).await, Ok(Some(())));
    }
}
