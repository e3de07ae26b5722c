//! The object store: per resource type a `BTreeMap` keyed by namespace and
//! name, a bounded event history for watches resuming from a
//! resourceVersion, and a broadcast channel for live events. Every operation
//! is O(log n) in the number of stored objects; nothing scans the store on a
//! write. The REST semantics on top live in `writes`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::error::ApiError;
use crate::meta::{self, Rng};
use crate::ownership::Managers;
use crate::path::ResourceKey;
use crate::selector::Filter;

/// Live events a watcher may fall behind by before its stream is ended (the
/// client then resumes from history).
const CHANNEL_CAPACITY: usize = 16_384;

/// Events kept per resource type for watches resuming from a resourceVersion.
pub(crate) const DEFAULT_HISTORY: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Event {
    pub kind: EventKind,
    pub rv: u64,
    pub object: Arc<Value>,
    /// The object before a modification, so a filtered watch can tell an
    /// object entering or leaving its selector.
    pub old: Option<Arc<Value>>,
}

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub(crate) type ObjKey = (String, String);

/// A stored object's full address.
pub(crate) type ObjectId = (ResourceKey, String, String);

#[derive(Debug)]
pub(crate) struct Entry {
    pub object: Arc<Value>,
    pub managers: Managers,
}

#[derive(Debug)]
pub(crate) struct Collection {
    pub objects: BTreeMap<ObjKey, Entry>,
    history: VecDeque<Arc<Event>>,
    /// resourceVersion of the newest event dropped from `history`.
    trimmed_through: u64,
    tx: broadcast::Sender<Arc<Event>>,
    /// Last `kind` seen, so an empty list still says `FooList`.
    pub kind: Option<String>,
}

impl Collection {
    fn new() -> Self {
        Self {
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            trimmed_through: 0,
            tx: broadcast::channel(CHANNEL_CAPACITY).0,
            kind: None,
        }
    }
}

/// Where a watch starts.
pub(crate) enum WatchStart {
    /// Events to replay, then the live channel.
    Stream(Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>),
    /// The requested resourceVersion is older than the kept history.
    Expired(u64),
}

#[derive(Debug)]
pub(crate) struct Store {
    pub collections: BTreeMap<ResourceKey, Collection>,
    pub rv: u64,
    /// Owner uid to the objects whose ownerReferences name it.
    owners: BTreeMap<String, BTreeSet<ObjectId>>,
    history_limit: usize,
    pub rng: Rng,
    count: usize,
}

impl Store {
    pub fn new(history_limit: usize) -> Self {
        Self {
            collections: BTreeMap::new(),
            rv: 0,
            owners: BTreeMap::new(),
            history_limit: history_limit.max(1),
            rng: Rng::seeded(),
            count: 0,
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn entry(&self, key: &ResourceKey, ns: &str, name: &str) -> Option<&Entry> {
        self.collections
            .get(key)?
            .objects
            .get(&(ns.to_string(), name.to_string()))
    }

    pub fn entry_mut(&mut self, key: &ResourceKey, ns: &str, name: &str) -> Option<&mut Entry> {
        self.collections
            .get_mut(key)?
            .objects
            .get_mut(&(ns.to_string(), name.to_string()))
    }

    pub fn get(&self, key: &ResourceKey, ns: &str, name: &str) -> Result<Arc<Value>, ApiError> {
        self.entry(key, ns, name)
            .map(|e| e.object.clone())
            .ok_or_else(|| ApiError::not_found(&key.qualified(), name))
    }

    /// Objects in `ns` (all namespaces when `None`) matching `filter`.
    pub fn list(&self, key: &ResourceKey, ns: Option<&str>, filter: &Filter) -> Vec<Arc<Value>> {
        let Some(coll) = self.collections.get(key) else {
            return Vec::new();
        };
        let keep = |e: &Entry| filter.is_empty() || filter.matches(&e.object);
        match ns {
            Some(ns) => coll
                .objects
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .filter(|(_, e)| keep(e))
                .map(|(_, e)| e.object.clone())
                .collect(),
            None => coll
                .objects
                .values()
                .filter(|e| keep(e))
                .map(|e| e.object.clone())
                .collect(),
        }
    }

    pub fn kind_of(&self, key: &ResourceKey) -> Option<String> {
        self.collections.get(key).and_then(|c| c.kind.clone())
    }

    /// Objects whose ownerReferences name `uid`.
    pub fn dependents(&self, uid: &str) -> Vec<ObjectId> {
        self.owners
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn subscribe(&mut self, key: &ResourceKey) -> broadcast::Receiver<Arc<Event>> {
        self.collection(key).tx.subscribe()
    }

    /// Events after `from` (or synthetic ADDED events for every current
    /// object when `from` is `None`), plus the live channel from this point.
    pub fn watch(&mut self, key: &ResourceKey, from: Option<u64>) -> WatchStart {
        let rv = self.rv;
        let coll = self.collection(key);
        let rx = coll.tx.subscribe();
        match from {
            None => {
                let events = coll
                    .objects
                    .values()
                    .map(|e| {
                        Arc::new(Event {
                            kind: EventKind::Added,
                            rv,
                            object: e.object.clone(),
                            old: None,
                        })
                    })
                    .collect();
                WatchStart::Stream(events, rx)
            }
            Some(from) if from < coll.trimmed_through => WatchStart::Expired(from),
            Some(from) => {
                let start = coll.history.partition_point(|e| e.rv <= from);
                let events = coll.history.range(start..).cloned().collect();
                WatchStart::Stream(events, rx)
            }
        }
    }

    /// Drops every kept event, so only watches from the current
    /// resourceVersion on can resume (see `restart`).
    pub fn forget_history(&mut self) {
        let rv = self.rv;
        for coll in self.collections.values_mut() {
            coll.history.clear();
            coll.trimmed_through = rv;
        }
    }

    fn collection(&mut self, key: &ResourceKey) -> &mut Collection {
        self.collections
            .entry(key.clone())
            .or_insert_with(Collection::new)
    }

    /// Stores `object` under a fresh resourceVersion and announces it.
    pub fn put(&mut self, key: &ResourceKey, mut object: Value, kind: EventKind) -> Arc<Value> {
        self.rv += 1;
        let rv = self.rv;
        meta::set_meta(
            &mut object,
            "resourceVersion",
            Value::String(rv.to_string()),
        );
        let ns = meta::meta_str(&object, "namespace")
            .unwrap_or_default()
            .to_string();
        let name = meta::meta_str(&object, "name")
            .unwrap_or_default()
            .to_string();
        let new_owners = meta::owner_uids(&object);
        let object = Arc::new(object);

        let coll = self.collection(key);
        if let Some(k) = object.get("kind").and_then(Value::as_str)
            && coll.kind.as_deref() != Some(k)
        {
            coll.kind = Some(k.to_string());
        }
        let objkey = (ns.clone(), name.clone());
        let old = match coll.objects.get_mut(&objkey) {
            Some(entry) => Some(std::mem::replace(&mut entry.object, object.clone())),
            None => {
                coll.objects.insert(
                    objkey,
                    Entry {
                        object: object.clone(),
                        managers: Managers::new(),
                    },
                );
                None
            }
        };
        if old.is_none() {
            self.count += 1;
        }
        let old_owners = old.as_deref().map(meta::owner_uids).unwrap_or_default();
        if old_owners != new_owners {
            let id = (key.clone(), ns, name);
            self.unindex_owners(&id, &old_owners);
            for uid in new_owners {
                self.owners.entry(uid).or_default().insert(id.clone());
            }
        }
        self.emit(key, kind, rv, object.clone(), old);
        object
    }

    /// Drops an object, announcing it with a fresh resourceVersion. The
    /// DELETED event carries `last` when given (the update that released the
    /// final finalizer), the stored object otherwise.
    pub fn remove(
        &mut self,
        key: &ResourceKey,
        ns: &str,
        name: &str,
        last: Option<Value>,
    ) -> Option<Arc<Value>> {
        let coll = self.collections.get_mut(key)?;
        let entry = coll.objects.remove(&(ns.to_string(), name.to_string()))?;
        self.count -= 1;
        self.rv += 1;
        let rv = self.rv;
        let id = (key.clone(), ns.to_string(), name.to_string());
        self.unindex_owners(&id, &meta::owner_uids(&entry.object));
        let mut object = last.unwrap_or_else(|| (*entry.object).clone());
        meta::set_meta(
            &mut object,
            "resourceVersion",
            Value::String(rv.to_string()),
        );
        let object = Arc::new(object);
        self.emit(
            key,
            EventKind::Deleted,
            rv,
            object.clone(),
            Some(entry.object),
        );
        Some(object)
    }

    fn unindex_owners(&mut self, id: &ObjectId, uids: &[String]) {
        for uid in uids {
            if let Some(set) = self.owners.get_mut(uid) {
                set.remove(id);
                if set.is_empty() {
                    self.owners.remove(uid);
                }
            }
        }
    }

    fn emit(
        &mut self,
        key: &ResourceKey,
        kind: EventKind,
        rv: u64,
        object: Arc<Value>,
        old: Option<Arc<Value>>,
    ) {
        let limit = self.history_limit;
        let coll = self.collection(key);
        let event = Arc::new(Event {
            kind,
            rv,
            object,
            old,
        });
        coll.history.push_back(event.clone());
        while coll.history.len() > limit {
            if let Some(dropped) = coll.history.pop_front() {
                coll.trimmed_through = dropped.rv;
            }
        }
        // No receivers is normal: nobody is watching this resource.
        let _ = coll.tx.send(event);
    }
}
