//! Caches of watched objects. Nothing in the operator reads managedFields,
//! and after a few server-side applies they are often a third of an
//! object, so no cache keeps them.

use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Resource};

use super::watch_backoff::backed_off;

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
/// yields each object as it changes and, once a list (the first, or a
/// relist) is whole in the store, every object in it (poll it, or the
/// store stays empty).
///
/// Not kube's `applied_objects`: it yields a list's objects one by one as
/// they arrive, before the store swaps the list in at its end. A reconcile
/// they trigger reads the store from before a relist: a rollout whose
/// ReplicaSets became ready while the watch was away was decided on the
/// old counts and then waited for an event that had already happened, and
/// one created meanwhile was not in the store at all, so kube skipped it
/// (found by `tests/soak` after an API server restart).
pub fn reflect<K: Cacheable>(
    api: Api<K>,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
) {
    let (reader, writer) = reflector::store();
    let listed = reader.clone();
    // Its own backoff: the controllers reading this stream do not pause
    // on its errors (see `watch_backoff`).
    let stream = backed_off(watcher(api, watcher::Config::default().any_semantic()))
        .modify(|object| object.meta_mut().managed_fields = None)
        .reflect(writer)
        .flat_map(move |event| {
            let objects = match event {
                Ok(Event::Apply(object)) => vec![Ok(Arc::new(object))],
                Ok(Event::InitDone) => listed.state().into_iter().map(Ok).collect(),
                Ok(Event::Init | Event::InitApply(_) | Event::Delete(_)) => Vec::new(),
                Err(error) => vec![Err(error)],
            };
            // One at a time: a relist of 10,000 rollouts is never copied whole.
            futures_util::stream::iter(objects)
                .map(|object| object.map(|o| Arc::unwrap_or_clone(o)))
        });
    (reader, stream)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::ResourceExt;
    use kube::api::{Patch, PatchParams, PostParams};
    use kube::runtime::reflector::ObjectRef;
    use serde_json::json;

    use super::*;

    fn configmap(name: &str) -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name}, "data": {"v": "1"}}))
            .expect("a ConfigMap")
    }

    /// Pulls from `stream` until `done`, checking that each object it
    /// yields is in `store` at that very version (what a reconcile it
    /// triggers reads); returns the versions yielded by name.
    async fn pull(
        stream: &mut (impl Stream<Item = Result<ConfigMap, watcher::Error>> + Unpin),
        store: &Store<ConfigMap>,
        done: impl Fn(&BTreeMap<String, String>) -> bool,
    ) -> BTreeMap<String, String> {
        let mut seen = BTreeMap::new();
        let pulling = async {
            while !done(&seen) {
                let Some(item) = stream.next().await else {
                    break;
                };
                let Ok(object) = item else { continue };
                let stored = store.get(&ObjectRef::from_obj(&object));
                assert_eq!(
                    stored.and_then(|s| s.resource_version()),
                    object.resource_version(),
                    "{} yielded before the store has it",
                    object.name_any()
                );
                seen.insert(
                    object.name_any(),
                    object.resource_version().unwrap_or_default(),
                );
            }
        };
        tokio::time::timeout(Duration::from_secs(10), pulling)
            .await
            .expect("the stream yields what was asked");
        seen
    }

    #[tokio::test]
    async fn what_the_stream_yields_is_in_the_store_on_a_list_and_a_relist() {
        let fake = fakeapi::FakeApi::new();
        let api: Api<ConfigMap> = Api::namespaced(fake.client(), "default");
        for name in ["a", "b"] {
            api.create(&PostParams::default(), &configmap(name))
                .await
                .expect("create");
        }
        let (store, stream) = reflect(api.clone());
        let mut stream = std::pin::pin!(stream);
        pull(&mut stream, &store, |seen| seen.len() == 2).await;

        // The watch ends and, before the watcher comes back (it is not
        // polled meanwhile), `b` changes, `c` appears and the server
        // forgets the history, as a restarted one does: it must relist.
        fake.drop_watches();
        let patch = Patch::Merge(json!({"data": {"v": "2"}}));
        let b = api
            .patch("b", &PatchParams::default(), &patch)
            .await
            .expect("patch");
        api.create(&PostParams::default(), &configmap("c"))
            .await
            .expect("create");
        fake.forget_watch_history();
        let seen = pull(&mut stream, &store, |seen| {
            seen.get("b") == b.resource_version().as_ref() && seen.contains_key("c")
        })
        .await;
        assert!(seen.contains_key("c"), "{seen:?}");
    }
}
