use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};
use serde_json::json;

pub fn configmap(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_string(), json!(v)))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "data": {"key": "value"},
    }))
    .unwrap()
}

pub fn replicaset(name: &str, replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    }))
    .unwrap()
}

/// Stores a CRD serving `kind` (`plural.group`, namespaced, any fields,
/// with a status subresource): without one a real server, and the fake,
/// answer `404 page not found`.
pub fn install_crd(fake: &fakeapi::FakeApi, group: &str, version: &str, kind: &str, plural: &str) {
    fake.insert(
        ("apiextensions.k8s.io/v1", "customresourcedefinitions"),
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{group}")},
            "spec": {
                "group": group,
                "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind},
                "scope": "Namespaced",
                "versions": [{
                    "name": version, "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                    "subresources": {"status": {}},
                }],
            },
        }),
    )
    .unwrap();
}

/// A fake API server serving Conductor's Rollouts (by a permissive CRD).
pub fn fake_with_rollouts() -> fakeapi::FakeApi {
    let fake = fakeapi::FakeApi::new();
    install_crd(&fake, "conductor.dev", "v1alpha1", "Rollout", "rollouts");
    fake
}

pub fn rollout_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("conductor.dev", "v1alpha1", "Rollout"),
        "rollouts",
    )
}

pub fn rollouts(client: Client) -> Api<DynamicObject> {
    Api::namespaced_with(client, "default", &rollout_resource())
}

pub fn rollout(name: &str, spec: serde_json::Value) -> DynamicObject {
    let mut obj = DynamicObject::new(name, &rollout_resource());
    obj.data = json!({"spec": spec});
    obj
}

/// Polls `check` until it returns true or two seconds pass.
pub async fn eventually<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within 2s");
}

pub fn api_code(err: &kube::Error) -> (u16, String) {
    match err {
        kube::Error::Api(status) => (status.code, status.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}
