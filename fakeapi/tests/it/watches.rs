use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher::{self, Event};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::common::configmap;

fn insert_cm(fake: &fakeapi::FakeApi, name: &str) {
    fake.insert(
        ("v1", "configmaps"),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}}),
    )
    .unwrap();
}

#[tokio::test]
async fn watch_replays_changes_after_a_resource_version() {
    let fake = fakeapi::FakeApi::new();
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    let pp = PostParams::default();
    cms.create(&pp, &configmap("before", &[])).await.unwrap();
    let rv = fake.resource_version().to_string();
    cms.create(&pp, &configmap("a", &[("app", "web")]))
        .await
        .unwrap();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();

    let wp = WatchParams::default().timeout(1);
    let events: Vec<_> = cms
        .watch(&wp, &rv)
        .await
        .unwrap()
        .take(3)
        .try_collect()
        .await
        .unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            WatchEvent::Added(o) if o.name_any() == "a" => "added",
            WatchEvent::Modified(_) => "modified",
            WatchEvent::Deleted(_) => "deleted",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["added", "modified", "deleted"]);

    // A selector watch sees an object leaving the selector as DELETED.
    let rv = fake.resource_version().to_string();
    cms.create(&pp, &configmap("b", &[("app", "web")]))
        .await
        .unwrap();
    cms.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "db"}}})),
    )
    .await
    .unwrap();
    let wp = WatchParams::default().labels("app=web").timeout(1);
    let events: Vec<_> = cms
        .watch(&wp, &rv)
        .await
        .unwrap()
        .take(2)
        .try_collect()
        .await
        .unwrap();
    assert!(matches!(&events[0], WatchEvent::Added(_)));
    assert!(matches!(&events[1], WatchEvent::Deleted(_)));
}

#[tokio::test]
async fn too_old_resource_version_is_expired() {
    let fake = fakeapi::FakeApi::with_history_limit(2);
    for i in 0..5 {
        insert_cm(&fake, &format!("cm{i}"));
    }
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    let mut stream = cms
        .watch(&WatchParams::default(), "1")
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 error event, got {other:?}"),
    }
}

/// Pulls watcher events until `done` says the wanted state is reached;
/// returns the watcher errors seen on the way (it reports a 410 as an error
/// item before relisting, as against a real API server).
async fn pump<S>(stream: &mut S, mut done: impl FnMut(&Event<ConfigMap>) -> bool) -> Vec<String>
where
    S: futures_util::Stream<Item = Result<Event<ConfigMap>, watcher::Error>> + Unpin,
{
    let mut errors = Vec::new();
    let wait = async {
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) if done(&event) => return,
                Ok(_) => {}
                Err(e) => errors.push(e.to_string()),
            }
        }
        panic!("watcher stream ended");
    };
    tokio::time::timeout(Duration::from_secs(3), wait)
        .await
        .unwrap();
    errors
}

#[tokio::test]
async fn watcher_survives_dropped_watches_and_relists_after_expiry() {
    let fake = fakeapi::FakeApi::with_history_limit(3);
    insert_cm(&fake, "first");
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    let mut stream = watcher::watcher(cms, watcher::Config::default()).boxed();
    pump(&mut stream, |e| matches!(e, Event::InitDone)).await;

    // The watch ends; the watcher re-watches from its resourceVersion.
    fake.drop_watches();
    insert_cm(&fake, "second");
    pump(
        &mut stream,
        |e| matches!(e, Event::Apply(o) if o.name_any() == "second"),
    )
    .await;

    // The watch ends and more changes happen than history keeps: the
    // re-watch gets 410 and the watcher relists.
    fake.drop_watches();
    for i in 0..6 {
        insert_cm(&fake, &format!("bulk{i}"));
    }
    let mut relisted = Vec::new();
    let errors = pump(&mut stream, |e| {
        if let Event::InitApply(o) = e {
            relisted.push(o.name_any());
        }
        matches!(e, Event::InitDone)
    })
    .await;
    assert_eq!(relisted.len(), 8);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("410") || errors[0].contains("Expired"),
        "{errors:?}"
    );
    let requests = fake.request_count();
    assert!(
        requests >= 4,
        "list, watch, expired re-watch, relist: {requests}"
    );
}
