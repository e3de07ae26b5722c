use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::common::{api_code, configmap, rollout, rollouts};

#[tokio::test]
async fn merge_and_json_patches() {
    let fake = fakeapi::FakeApi::new();
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    cms.create(&PostParams::default(), &configmap("a", &[("app", "web")]))
        .await
        .unwrap();
    let pp = PatchParams::default();

    let merged = cms
        .patch(
            "a",
            &pp,
            &Patch::Merge(json!({"data": {"extra": "1", "key": null}})),
        )
        .await
        .unwrap();
    let data = merged.data.unwrap();
    assert_eq!(data.get("extra").map(String::as_str), Some("1"));
    assert!(!data.contains_key("key"));

    let strategic = cms
        .patch(
            "a",
            &pp,
            &Patch::Strategic(json!({"metadata": {"labels": {"tier": "fe"}}})),
        )
        .await
        .unwrap();
    assert_eq!(strategic.labels().len(), 2);

    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/extra", "value": "1"},
        {"op": "replace", "path": "/data/extra", "value": "2"},
    ]))
    .unwrap();
    let patched = cms.patch("a", &pp, &Patch::<()>::Json(ops)).await.unwrap();
    assert_eq!(patched.data.unwrap()["extra"], "2");

    let failing: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/extra", "value": "1"},
    ]))
    .unwrap();
    let err = cms
        .patch("a", &pp, &Patch::<()>::Json(failing))
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), (422, "Invalid".into()));

    let stale = json!({"metadata": {"resourceVersion": "1"}, "data": {"x": "y"}});
    let err = cms.patch("a", &pp, &Patch::Merge(stale)).await.unwrap_err();
    assert_eq!(api_code(&err), (409, "Conflict".into()));
}

#[tokio::test]
async fn server_side_apply_owns_and_releases_fields() {
    let fake = crate::common::fake_with_rollouts();
    let api = rollouts(fake.client());
    let ssa = PatchParams::apply("conductor");
    let first = json!({
        "apiVersion": "conductor.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "r", "labels": {"a": "1"}},
        "spec": {"replicas": 2, "image": "v1", "steps": [1, 2]},
    });
    let created = api.patch("r", &ssa, &Patch::Apply(&first)).await.unwrap();
    assert_eq!(created.data["spec"]["replicas"], 2);
    assert_eq!(created.metadata.generation, Some(1));

    // Fields set by another writer survive; fields this manager stopped
    // sending are removed; lists are replaced whole.
    api.patch(
        "r",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": true}})),
    )
    .await
    .unwrap();
    let second = json!({
        "apiVersion": "conductor.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "r"},
        "spec": {"replicas": 3, "steps": [3]},
    });
    let updated = api.patch("r", &ssa, &Patch::Apply(&second)).await.unwrap();
    assert_eq!(
        updated.data["spec"],
        json!({"replicas": 3, "steps": [3], "paused": true})
    );
    assert!(updated.labels().is_empty());
    assert_eq!(updated.metadata.generation, Some(3));

    // Another apply manager disagreeing on an owned field conflicts unless forced.
    let rival = json!({
        "apiVersion": "conductor.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "r"}, "spec": {"replicas": 5},
    });
    let err = api
        .patch("r", &PatchParams::apply("rival"), &Patch::Apply(&rival))
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), (409, "Conflict".into()));
    let agreeing = json!({
        "apiVersion": "conductor.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "r"}, "spec": {"replicas": 3},
    });
    api.patch("r", &PatchParams::apply("rival"), &Patch::Apply(&agreeing))
        .await
        .unwrap();
    let forced = api
        .patch(
            "r",
            &PatchParams::apply("rival").force(),
            &Patch::Apply(&rival),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["replicas"], 5);
    // After losing `replicas`, the first manager's next apply without it
    // must not remove the rival's value.
    let third = json!({
        "apiVersion": "conductor.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "r"}, "spec": {"steps": [3]},
    });
    let after = api.patch("r", &ssa, &Patch::Apply(&third)).await.unwrap();
    assert_eq!(after.data["spec"]["replicas"], 5);
}

#[tokio::test]
async fn apply_to_status_subresource() {
    let fake = crate::common::fake_with_rollouts();
    let api = rollouts(fake.client());
    api.create(
        &PostParams::default(),
        &rollout("r", json!({"replicas": 1})),
    )
    .await
    .unwrap();
    let status = json!({
        "apiVersion": "conductor.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "r"}, "status": {"phase": "Progressing"},
        "spec": {"replicas": 9},
    });
    let out = api
        .patch_status(
            "r",
            &PatchParams::apply("conductor").force(),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert_eq!(out.data["status"]["phase"], "Progressing");
    assert_eq!(out.data["spec"]["replicas"], 1);
    assert_eq!(out.metadata.generation, Some(1));
}
