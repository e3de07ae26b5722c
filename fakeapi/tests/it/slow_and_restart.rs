//! Slow answers and an API server restart, the faults a soak needs beyond
//! failed requests and dropped watches.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use http::Method;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Config, ResourceExt};
use serde_json::json;

use fakeapi::Delay;

use crate::common::configmap;

#[tokio::test]
async fn a_delayed_write_is_stored_at_once_and_answered_late() {
    let fake = fakeapi::FakeApi::new();
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    cms.create(&PostParams::default(), &configmap("a", &[]))
        .await
        .unwrap();
    fake.delay_next(Delay {
        method: Some(Method::PATCH),
        path_contains: "/configmaps/a".into(),
        delay: Duration::from_secs(2),
        times: 1,
    });
    let patching = tokio::spawn({
        let cms = cms.clone();
        async move {
            let patch = Patch::Merge(json!({"data": {"key": "late"}}));
            cms.patch("a", &PatchParams::default(), &patch).await
        }
    });
    // The change is in the store while its answer is still held back.
    let stored = async {
        loop {
            let object = fake.get_object(("v1", "configmaps"), "default", "a");
            if object.is_some_and(|o| o["data"]["key"] == "late") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(1), stored)
        .await
        .expect("the patch is stored before its answer");
    assert!(!patching.is_finished(), "the answer came before the delay");
    let patched = tokio::time::timeout(Duration::from_secs(5), patching)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(patched.data.unwrap()["key"], "late");
    assert_eq!(fake.audit().last().map(|e| e.status), Some(200));

    // Used up: the next patch is answered at once; cleared delays too.
    fake.delay_next(Delay {
        method: None,
        path_contains: String::new(),
        delay: Duration::from_secs(60),
        times: 5,
    });
    fake.fail_next(fakeapi::Fault {
        method: None,
        path_contains: "nothing matches this".into(),
        status: 500,
        times: 2,
    });
    assert_eq!(
        fake.queued_delays().iter().map(|d| d.times).sum::<usize>(),
        5
    );
    assert_eq!(
        fake.queued_faults().iter().map(|f| f.times).sum::<usize>(),
        2
    );
    fake.clear_faults();
    assert!(fake.queued_delays().is_empty() && fake.queued_faults().is_empty());
    tokio::time::timeout(Duration::from_secs(5), cms.get("a"))
        .await
        .expect("no delay once cleared")
        .unwrap();
}

async fn client_for(addr: SocketAddr) -> Client {
    let dir = tempfile_dir();
    let path = dir.join("kubeconfig.json");
    fakeapi::write_kubeconfig(&path, addr).unwrap();
    let kubeconfig = Kubeconfig::read_from(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fakeapi-restart-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn after_a_restart_clients_reconnect_and_watchers_relist() {
    let fake = fakeapi::FakeApi::new();
    let server = fakeapi::serve(fake.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = server.addr();
    let cms: Api<ConfigMap> = Api::default_namespaced(client_for(addr).await);
    cms.create(&PostParams::default(), &configmap("before", &[]))
        .await
        .unwrap();
    let old_rv = fake.resource_version().to_string();
    cms.create(&PostParams::default(), &configmap("a", &[]))
        .await
        .unwrap();
    let mut events = watcher::watcher(cms.clone(), watcher::Config::default()).boxed();
    let wait = async {
        while let Some(event) = events.try_next().await.unwrap() {
            if matches!(event, Event::InitDone) {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .unwrap();

    // Down: nothing answers; a change made meanwhile (by another writer
    // of the same store) is there after the restart.
    let restarting = tokio::spawn({
        let fake = fake.clone();
        async move { fakeapi::restart(server, &fake, Duration::from_millis(500)).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(cms.get("a").await.is_err(), "answered while down");
    fake.insert(
        ("v1", "configmaps"),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "during", "namespace": "default"}}),
    )
    .unwrap();
    let server = restarting.await.unwrap().unwrap();
    assert_eq!(server.addr(), addr);

    // The same client reaches the same store at the same address.
    assert_eq!(cms.get("during").await.unwrap().name_any(), "during");
    // The new server's watch cache starts now: an older resourceVersion
    // is too old, as after a real API server restart.
    let mut stream = cms
        .watch(&WatchParams::default(), &old_rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 error event, got {other:?}"),
    }
    // The watcher's stream ended with the connection; it re-watches, gets
    // 410, relists, and so sees what changed while the server was down.
    let mut relisted = Vec::new();
    let wait = async {
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::InitApply(cm)) => relisted.push(cm.name_any()),
                Ok(Event::InitDone) => return,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("the watcher relists after the restart");
    relisted.sort();
    assert_eq!(relisted, ["a", "before", "during"]);
}
