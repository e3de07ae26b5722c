//! Field ownership shared between apply and non-apply writers, as
//! `conductor deploy` meets it: a deploy must keep what controllers wrote
//! and see a conflict where it would undo a controller's change.

use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::common::{api_code, configmap};

fn httproutes(client: Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    );
    Api::namespaced_with(client, "default", &ar)
}

fn route(weights: (u32, u32)) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {"rules": [{"backendRefs": [
            {"name": "s", "weight": weights.0},
            {"name": "c", "weight": weights.1},
        ]}]},
    })
}

/// The raw answer to an apply, to compare the Status body exactly.
async fn raw_apply(client: &Client, path: &str, body: &Value) -> (u16, Value) {
    let req = http::Request::patch(path)
        .header("content-type", "application/apply-patch+yaml")
        .body(kube::client::Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    let res = client.send(req).await.unwrap();
    let code = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn a_controllers_added_selector_key_survives_a_reapply() {
    let fake = fakeapi::FakeApi::new();
    let services: Api<Service> = Api::default_namespaced(fake.client());
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]},
    });
    let deploy = PatchParams::apply("deploy");
    services
        .patch("web", &deploy, &Patch::Apply(&svc))
        .await
        .unwrap();
    let hash = json!({"spec": {"selector": {"conductor.dev/pod-template-hash": "abc"}}});
    let patched = services
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("conductor-services".into()),
                ..Default::default()
            },
            &Patch::Merge(&hash),
        )
        .await
        .unwrap();
    let managed = patched.metadata.managed_fields.unwrap();
    let updater = managed
        .iter()
        .find(|m| m.manager.as_deref() == Some("conductor-services"))
        .unwrap();
    assert_eq!(updater.operation.as_deref(), Some("Update"));
    assert_eq!(
        updater.fields_v1.as_ref().unwrap().0,
        json!({"f:spec": {"f:selector": {"f:conductor.dev/pod-template-hash": {}}}})
    );

    let again = services
        .patch("web", &deploy, &Patch::Apply(&svc))
        .await
        .unwrap();
    let selector = again.spec.unwrap().selector.unwrap();
    assert_eq!(selector["app"], "x");
    assert_eq!(selector["conductor.dev/pod-template-hash"], "abc");
}

#[tokio::test]
async fn reapplying_over_a_controllers_change_conflicts_unless_forced() {
    let fake = fakeapi::FakeApi::new();
    crate::common::install_crd(
        &fake,
        "gateway.networking.k8s.io",
        "v1",
        "HTTPRoute",
        "httproutes",
    );
    let client = fake.client();
    let api = httproutes(client.clone());
    let original = route((100, 0));
    api.patch(
        "web",
        &PatchParams::apply("deploy"),
        &Patch::Apply(&original),
    )
    .await
    .unwrap();
    let split = json!({"spec": route((50, 50))["spec"]});
    let router = PatchParams {
        field_manager: Some("conductor-router".into()),
        ..Default::default()
    };
    api.patch("web", &router, &Patch::Merge(&split))
        .await
        .unwrap();

    let path =
        "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/web?fieldManager=deploy";
    let (code, status) = raw_apply(&client, path, &original).await;
    assert_eq!(code, 409);
    assert_eq!(
        status,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Apply failed with 1 conflict: conflict with \"conductor-router\" using gateway.networking.k8s.io/v1: .spec.rules",
            "reason": "Conflict",
            "details": {"causes": [{
                "reason": "FieldManagerConflict",
                "message": "conflict with \"conductor-router\" using gateway.networking.k8s.io/v1",
                "field": ".spec.rules",
            }]},
            "code": 409,
        })
    );
    let err = api
        .patch(
            "web",
            &PatchParams::apply("deploy"),
            &Patch::Apply(&original),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), (409, "Conflict".into()));

    let forced = api
        .patch(
            "web",
            &PatchParams::apply("deploy").force(),
            &Patch::Apply(&original),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"], original["spec"]);
    let managers: Vec<_> = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| (m.manager.unwrap(), m.operation.unwrap()))
        .collect();
    assert_eq!(managers, vec![("deploy".to_string(), "Apply".to_string())]);
}

#[tokio::test]
async fn creates_updates_and_status_writes_are_recorded_per_manager() {
    let fake = fakeapi::FakeApi::new();
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client_as("kubectl/v1.35.0 (linux)"));
    let created = cms
        .create(&PostParams::default(), &configmap("a", &[]))
        .await
        .unwrap();
    let managed = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].manager.as_deref(), Some("kubectl"));
    assert_eq!(managed[0].operation.as_deref(), Some("Update"));
    assert_eq!(managed[0].api_version.as_deref(), Some("v1"));
    assert_eq!(managed[0].fields_type.as_deref(), Some("FieldsV1"));
    assert!(managed[0].time.is_some());

    // GET, modify, PUT with the managedFields sent back: ownership stays the
    // server's, and an unchanged PUT writes nothing.
    let mut modified = created.clone();
    modified.data = Some([("key".to_string(), "other".to_string())].into());
    let replaced = cms
        .replace(
            "a",
            &PostParams {
                field_manager: Some("editor".into()),
                ..Default::default()
            },
            &modified,
        )
        .await
        .unwrap();
    let managers: Vec<_> = replaced
        .metadata
        .managed_fields
        .clone()
        .unwrap()
        .into_iter()
        .map(|m| m.manager.unwrap())
        .collect();
    assert_eq!(managers, vec!["editor".to_string()]);
    let same = cms
        .replace("a", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version,
        replaced.metadata.resource_version
    );

    let audit = fake.audit();
    let put = &audit[1];
    assert_eq!(put.field_manager.as_deref(), Some("editor"));
    assert_eq!(put.object.as_ref().unwrap()["data"]["key"], json!("other"));
}

#[tokio::test]
async fn status_and_scale_writers_own_their_fields() {
    let fake = fakeapi::FakeApi::new();
    let client = fake.client_as("tester");
    let rs: Api<k8s_openapi::api::apps::v1::ReplicaSet> = Api::default_namespaced(client);
    rs.create(&PostParams::default(), &crate::common::replicaset("web", 1))
        .await
        .unwrap();
    let hpa = PatchParams {
        field_manager: Some("hpa".into()),
        ..Default::default()
    };
    rs.patch_scale("web", &hpa, &Patch::Merge(json!({"spec": {"replicas": 3}})))
        .await
        .unwrap();
    rs.patch_status(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"replicas": 3}})),
    )
    .await
    .unwrap();
    let stored = fake
        .get_object(("apps/v1", "replicasets"), "default", "web")
        .unwrap();
    let entries = stored["metadata"]["managedFields"].as_array().unwrap();
    let find = |sub: &str| {
        entries
            .iter()
            .find(|e| e.get("subresource").and_then(Value::as_str) == Some(sub))
            .unwrap()
    };
    assert_eq!(find("scale")["manager"], "hpa");
    assert_eq!(
        find("scale")["fieldsV1"],
        json!({"f:spec": {"f:replicas": {}}})
    );
    assert_eq!(find("status")["manager"], "tester");
    // The creator no longer owns the replicas the scaler changed.
    let main = entries
        .iter()
        .find(|e| e.get("subresource").is_none())
        .unwrap();
    assert!(main["fieldsV1"]["f:spec"].get("f:replicas").is_none());
}
