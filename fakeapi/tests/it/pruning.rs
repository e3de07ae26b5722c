//! Custom resources lose the fields their CRD's schema does not declare,
//! on every kind of write, as on a real API server.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

async fn install_widget_crd(client: Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": {"type": "integer"},
                        "routing": {"type": "object", "properties": {"nginx": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}
                    }},
                    "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
                }}},
                "subresources": {"status": {}},
            }],
        },
    });
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(crd).unwrap(),
    )
    .await
    .unwrap();
}

fn widgets(client: Client) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    Api::namespaced_with(client, "default", &resource)
}

#[tokio::test]
async fn undeclared_fields_are_pruned_on_create_patch_and_status() {
    let fake = fakeapi::FakeApi::new();
    install_widget_crd(fake.client()).await;
    let api = widgets(fake.client());
    let widget: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"size": 2, "colour": "red", "routing": {"istio": {"host": "a"}, "nginx": {"any": 1}}}
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &widget).await.unwrap();
    assert_eq!(
        created.data["spec"],
        json!({"size": 2, "routing": {"nginx": {"any": 1}}}),
        "an undeclared section leaves an empty object behind, as on a cluster"
    );

    let patched = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"shape": "round", "size": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["spec"]["size"], 3);
    assert_eq!(patched.data["spec"].get("shape"), None::<&Value>);

    let status = api
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready", "mood": "fine"}})),
        )
        .await
        .unwrap();
    assert_eq!(status.data["status"], json!({"phase": "Ready"}));
}
