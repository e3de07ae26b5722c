//! Caches of watched objects. Nothing in the operator reads managedFields,
//! and after a few server-side applies they are often a third of an
//! object, so no cache keeps them.

use futures_util::Stream;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, watcher};
use kube::{Api, Resource};

/// A copy of `object` for a cache.
pub fn without_managed_fields<K: Resource + Clone>(object: &K) -> K {
    let mut copy = object.clone();
    copy.meta_mut().managed_fields = None;
    copy
}

/// What a watch can cache: a statically typed resource.
pub trait Cacheable:
    Resource<DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> Cacheable for K where
    K: Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// A store of every object `api` sees, and the stream that fills it and
/// yields each object as it changes (poll it, or the store stays empty).
pub fn reflect<K: Cacheable>(
    api: Api<K>,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
) {
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .modify(|object| object.meta_mut().managed_fields = None)
        .reflect(writer)
        .applied_objects();
    (reader, stream)
}
