//! Discovery through kube's own discovery client: built-in groups always,
//! custom resources once their CRD is stored.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::core::GroupVersion;
use kube::discovery::{self, Discovery, Scope};
use kube::{Api, Client};
use serde_json::json;

use crate::common::api_code;

async fn install_rollout_crd(client: Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "rollouts.conductor.dev"},
        "spec": {
            "group": "conductor.dev",
            "names": {"plural": "rollouts", "singular": "rollout", "kind": "Rollout", "shortNames": ["ro"]},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "subresources": {"status": {}},
            }],
        },
    });
    crds.patch(
        "rollouts.conductor.dev",
        &PatchParams::apply("test"),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn discovery_finds_builtins_and_installed_crds() {
    let fake = fakeapi::FakeApi::new();
    let client = fake.client();
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.git_version, "v1.35.0-fakeapi");

    let found = Discovery::new(client.clone()).run().await.unwrap();
    let apps = found.get("apps").unwrap();
    let (ar, caps) = apps.recommended_kind("Deployment").unwrap();
    assert_eq!(ar.api_version, "apps/v1");
    assert_eq!(ar.plural, "deployments");
    assert_eq!(caps.scope, Scope::Namespaced);
    let subs: Vec<&str> = caps
        .subresources
        .iter()
        .map(|(r, _)| r.plural.as_str())
        .collect();
    assert_eq!(subs, vec!["scale", "status"]);
    let (hpa, _) = found
        .get("autoscaling")
        .unwrap()
        .recommended_kind("HorizontalPodAutoscaler")
        .unwrap();
    assert_eq!(hpa.api_version, "autoscaling/v2");
    let (ns, caps) = found
        .get("")
        .unwrap()
        .recommended_kind("Namespace")
        .unwrap();
    assert_eq!(ns.plural, "namespaces");
    assert_eq!(caps.scope, Scope::Cluster);
    assert!(!found.has_group("conductor.dev"));

    let gv: GroupVersion = "conductor.dev/v1alpha1".parse().unwrap();
    let Err(err) = discovery::pinned_group(&client, &gv).await else {
        panic!("conductor.dev is not served before its CRD is stored");
    };
    assert_eq!(api_code(&err), (404, "NotFound".into()));

    install_rollout_crd(client.clone()).await;
    let found = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps) = found
        .get("conductor.dev")
        .unwrap()
        .recommended_kind("Rollout")
        .unwrap();
    assert_eq!(ar.api_version, "conductor.dev/v1alpha1");
    assert_eq!(ar.plural, "rollouts");
    assert_eq!(caps.subresources.len(), 1);

    let pinned = discovery::pinned_group(&client, &gv).await.unwrap();
    assert!(pinned.recommended_kind("Rollout").is_some());
    let apps_v1: GroupVersion = "apps/v1".parse().unwrap();
    let pinned = discovery::pinned_group(&client, &apps_v1).await.unwrap();
    assert!(pinned.recommended_kind("ReplicaSet").is_some());
}

#[tokio::test]
async fn unknown_groups_versions_and_resources_are_not_found() {
    let fake = fakeapi::FakeApi::new();
    let client = fake.client();
    let err = client
        .list_api_group_resources("nope.example.com/v1")
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), (404, "NotFound".into()));
    let err = client.list_core_api_resources("v2").await.unwrap_err();
    assert_eq!(api_code(&err), (404, "NotFound".into()));
    // A resource nothing serves: the mux's plain text, no Status, as a
    // cluster without the CRD answers.
    let rollouts = crate::common::rollouts(client.clone());
    let err = rollouts
        .create(
            &Default::default(),
            &crate::common::rollout("r", json!({"replicas": 1})),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = &err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(status.code, 404);
    assert_eq!(status.message, "404 page not found");
    assert!(
        !status.is_not_found(),
        "not an object's NotFound: {status:?}"
    );
    let err = rollouts.get("r").await.unwrap_err();
    assert_eq!(api_code(&err).0, 404);
    // Once the CRD is stored, the same requests are served.
    install_rollout_crd(client).await;
    rollouts
        .create(
            &Default::default(),
            &crate::common::rollout("r", json!({"replicas": 1})),
        )
        .await
        .unwrap();
}
