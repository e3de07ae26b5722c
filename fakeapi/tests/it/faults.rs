use std::time::Duration;

use futures_util::StreamExt;
use http::Method;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::{Api, ResourceExt};
use serde_json::json;

use fakeapi::Fault;

use crate::common::{api_code, configmap};

#[tokio::test]
async fn injected_faults_fail_matching_requests_then_clear() {
    let fake = fakeapi::FakeApi::new();
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    cms.create(&PostParams::default(), &configmap("a", &[]))
        .await
        .unwrap();

    for status in [409u16, 429, 500, 503] {
        fake.fail_next(Fault {
            method: Some(Method::PATCH),
            path_contains: "/configmaps/a".into(),
            status,
            times: 2,
        });
        let patch = Patch::Merge(json!({"data": {"s": status.to_string()}}));
        for _ in 0..2 {
            let err = cms
                .patch("a", &PatchParams::default(), &patch)
                .await
                .unwrap_err();
            assert_eq!(api_code(&err).0, status);
        }
        // Reads are not affected by a PATCH fault, and the fault is used up.
        cms.get("a").await.unwrap();
        cms.patch("a", &PatchParams::default(), &patch)
            .await
            .unwrap();
    }
    fake.fail_next(Fault {
        method: None,
        path_contains: "configmaps".into(),
        status: 503,
        times: 1,
    });
    let err = cms.get("a").await.unwrap_err();
    assert_eq!(api_code(&err), (503, "ServiceUnavailable".into()));
    fake.fail_next(Fault {
        method: None,
        path_contains: "configmaps".into(),
        status: 500,
        times: 9,
    });
    fake.clear_faults();
    cms.get("a").await.unwrap();
}

#[tokio::test]
async fn audit_log_records_writers() {
    let fake = fakeapi::FakeApi::new();
    let alice: Api<ConfigMap> = Api::default_namespaced(fake.client_as("alice"));
    let bob: Api<ConfigMap> = Api::default_namespaced(fake.client_as("bob"));
    alice
        .create(&PostParams::default(), &configmap("a", &[]))
        .await
        .unwrap();
    bob.get("a").await.unwrap();
    fake.fail_next(Fault {
        method: Some(Method::PATCH),
        path_contains: String::new(),
        status: 409,
        times: 1,
    });
    let patch = Patch::Merge(json!({"data": {"b": "1"}}));
    bob.patch("a", &PatchParams::default(), &patch)
        .await
        .unwrap_err();

    let audit = fake.audit();
    let summary: Vec<(&str, &str, u16)> = audit
        .iter()
        .map(|e| (e.identity.as_str(), e.method.as_str(), e.status))
        .collect();
    assert_eq!(summary, [("alice", "POST", 201), ("bob", "PATCH", 409)]);
    assert_eq!(audit[1].path, "/api/v1/namespaces/default/configmaps/a");
    assert_eq!(fake.request_count(), 3);
}

#[tokio::test]
async fn watcher_recovers_from_failed_watch_requests() {
    let fake = fakeapi::FakeApi::new();
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    let mut stream = watcher::watcher(cms.clone(), watcher::Config::default()).boxed();
    let wait_for = |name: &'static str| move |e: &Event<ConfigMap>| matches!(e, Event::Apply(o) | Event::InitApply(o) if o.name_any() == name);
    cms.create(&PostParams::default(), &configmap("one", &[]))
        .await
        .unwrap();
    let done = wait_for("one");
    let first = async {
        while let Some(e) = stream.next().await {
            if let Ok(e) = e
                && done(&e)
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(3), first)
        .await
        .unwrap();

    fake.fail_next(Fault {
        method: Some(Method::GET),
        path_contains: "watch".into(),
        status: 500,
        times: 1,
    });
    fake.drop_watches();
    cms.create(&PostParams::default(), &configmap("two", &[]))
        .await
        .unwrap();
    let done = wait_for("two");
    let mut saw_error = false;
    let second = async {
        while let Some(e) = stream.next().await {
            match e {
                Err(_) => saw_error = true,
                Ok(e) if done(&e) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .unwrap();
    assert!(
        saw_error,
        "the injected watch failure surfaces as a watcher error"
    );
}
