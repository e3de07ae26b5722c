//! Objects by namespace and name, fed by a watch: the Services, Ingresses,
//! HTTPRoutes and Deployments a Rollout names, read by every reconcile
//! without a GET. Like [`super::index::OwnedIndex`] it keeps a projection,
//! not the object: a cluster's Services number in the thousands, and a
//! reconcile reads one label of each.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures_util::{Stream, TryStreamExt};
use kube::Api;
use kube::runtime::watcher::{self, Event, watcher};

use super::index::Synced;
use super::watch_backoff::backed_off;

type Key = (String, String);

pub struct NamedIndex<V> {
    inner: Arc<RwLock<Inner<V>>>,
    synced: Synced,
}

impl<V> Clone for NamedIndex<V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            synced: self.synced.clone(),
        }
    }
}

struct Inner<V> {
    objects: HashMap<Key, Arc<V>>,
    /// A relist in progress, swapped in whole at its end so a reconcile
    /// never sees half a list.
    relist: Option<HashMap<Key, Arc<V>>>,
}

impl<V> Default for NamedIndex<V> {
    fn default() -> Self {
        Self {
            inner: Arc::new(RwLock::new(Inner {
                objects: HashMap::new(),
                relist: None,
            })),
            synced: Synced::default(),
        }
    }
}

impl<V: PartialEq> NamedIndex<V> {
    /// `Some(None)` when the index does not have it; `None` while the
    /// first list has not arrived, when nobody can tell yet.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Option<Arc<V>>> {
        if !self.synced.get() {
            return None;
        }
        let key = (namespace.to_owned(), name.to_owned());
        // Every update is a single map operation: a poisoned lock still
        // guards a consistent map.
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        Some(inner.objects.get(&key).cloned())
    }

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

    /// Applies a watch event, keeping `project(object)`; true when what is
    /// kept of an object changed (it appeared, went, or its projection
    /// differs), which is when a reconcile of whoever names it is due.
    pub fn apply<K: kube::Resource>(&self, event: &Event<K>, project: impl Fn(&K) -> V) -> bool {
        let key = |object: &K| {
            let meta = object.meta();
            (
                meta.namespace.clone().unwrap_or_default(),
                meta.name.clone().unwrap_or_default(),
            )
        };
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Apply(object) => {
                let value = Arc::new(project(object));
                let previous = inner.objects.insert(key(object), value.clone());
                previous.is_none_or(|p| *p != *value)
            }
            Event::Delete(object) => inner.objects.remove(&key(object)).is_some(),
            Event::Init => {
                inner.relist = Some(HashMap::new());
                false
            }
            Event::InitApply(object) => {
                let value = Arc::new(project(object));
                if let Some(relist) = inner.relist.as_mut() {
                    relist.insert(key(object), value);
                }
                false
            }
            Event::InitDone => {
                let relisted = inner.relist.take().unwrap_or_default();
                inner.objects = relisted;
                drop(inner);
                self.synced.set();
                false
            }
        }
    }
}

/// Keeps `index` filled from a watch on `api`, and yields the objects
/// whose projection changed, and with `listed` every object a list (the
/// first, or one after the watch was lost) brings.
pub fn fill<K, V>(
    api: Api<K>,
    index: NamedIndex<V>,
    project: fn(&K) -> V,
    listed: bool,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    V: PartialEq + Send + Sync + 'static,
{
    backed_off(watcher(api, watcher::Config::default().any_semantic())).try_filter_map(
        move |event| {
            let changed = index.apply(&event, project);
            let object = match event {
                Event::Apply(object) | Event::Delete(object) if changed => Some(object),
                Event::InitApply(object) if listed => Some(object),
                _ => None,
            };
            std::future::ready(Ok(object))
        },
    )
}
