//! Objects grouped by their controlling owner, fed by a watch. A reconcile
//! asks for "the ReplicaSets of this Rollout" and gets them without a scan
//! over every ReplicaSet of the cluster or a call to the API server.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use kube::Resource;
use kube::runtime::watcher::Event;

type Key = (String, String);

pub struct OwnedIndex<K> {
    inner: Arc<RwLock<Inner<K>>>,
}

impl<K> Clone for OwnedIndex<K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<K> {
    by_owner: HashMap<String, BTreeMap<Key, Arc<K>>>,
    owner_of: HashMap<Key, String>,
    /// Objects of a relist in progress; swapped in whole at its end so a
    /// reconcile never sees half a list.
    relist: Option<Vec<K>>,
    synced: bool,
}

impl<K: Resource> Default for OwnedIndex<K> {
    fn default() -> Self {
        Self {
            inner: Arc::new(RwLock::new(Inner {
                by_owner: HashMap::new(),
                owner_of: HashMap::new(),
                relist: None,
                synced: false,
            })),
        }
    }
}

impl<K: Resource> OwnedIndex<K> {
    fn read(&self) -> RwLockReadGuard<'_, Inner<K>> {
        // A panic elsewhere cannot leave the maps half-updated: every
        // update is a single insert or remove.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner<K>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// True once the first complete list has arrived; before that an
    /// empty answer would mean "unknown", not "none".
    pub fn synced(&self) -> bool {
        self.read().synced
    }

    pub fn owned_by(&self, owner_uid: &str) -> Vec<Arc<K>> {
        self.read()
            .by_owner
            .get(owner_uid)
            .map(|objects| objects.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.read().owner_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn apply(&self, event: &Event<K>)
    where
        K: Clone,
    {
        let mut inner = self.write();
        match event {
            Event::Apply(object) => inner.insert(object.clone()),
            Event::Delete(object) => inner.remove(&key(object)),
            Event::Init => inner.relist = Some(Vec::new()),
            Event::InitApply(object) => {
                if let Some(relist) = inner.relist.as_mut() {
                    relist.push(object.clone());
                }
            }
            Event::InitDone => {
                let objects = inner.relist.take().unwrap_or_default();
                inner.by_owner.clear();
                inner.owner_of.clear();
                for object in objects {
                    inner.insert(object);
                }
                inner.synced = true;
            }
        }
    }
}

impl<K: Resource> Inner<K> {
    fn insert(&mut self, mut object: K) {
        let key = key(&object);
        self.remove(&key);
        let Some(owner) = controller_uid(&object) else {
            return;
        };
        // Nobody reads them here, and they are often a third of an object.
        object.meta_mut().managed_fields = None;
        self.owner_of.insert(key.clone(), owner.clone());
        self.by_owner
            .entry(owner)
            .or_default()
            .insert(key, Arc::new(object));
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
