//! Access rules: denied requests answer 403 as a real server's RBAC does,
//! and SelfSubjectAccessReviews answer by the same rules.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::common::{configmap, rollout, rollouts};
use fakeapi::AccessRule;

async fn may(client: Client, verb: &str, group: &str, resource: &str, ns: &str) -> bool {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client);
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(ns.into()),
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = reviews
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    answer.status.unwrap().allowed
}

#[tokio::test]
async fn denied_requests_are_forbidden_like_rbac() {
    let fake = crate::common::fake_with_rollouts();
    let ci = fake.client_as("ci");
    let shop =
        || kube::Api::namespaced_with(ci.clone(), "shop", &crate::common::rollout_resource());
    let mut r = rollout("x", json!({"replicas": 1}));
    r.metadata.namespace = Some("shop".into());
    shop().create(&PostParams::default(), &r).await.unwrap();

    fake.deny(AccessRule {
        identity: Some("ci".into()),
        verbs: vec!["patch".into()],
        group: "conductor.dev".into(),
        resource: Some("rollouts".into()),
        namespace: Some("shop".into()),
    });
    let err = shop()
        .patch(
            "x",
            &PatchParams::apply("ci"),
            &Patch::Apply(json!({
                "apiVersion": "conductor.dev/v1alpha1", "kind": "Rollout",
                "metadata": {"name": "x"}, "spec": {"replicas": 2},
            })),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error");
    };
    assert_eq!(status.code, 403);
    assert_eq!(status.reason, "Forbidden");
    assert_eq!(
        status.message,
        "rollouts.conductor.dev \"x\" is forbidden: User \"ci\" cannot patch resource \"rollouts\" in API group \"conductor.dev\" in the namespace \"shop\""
    );
    let details = status.details.unwrap();
    assert_eq!(details.name, "x");
    assert_eq!(details.group, "conductor.dev");
    assert_eq!(details.kind, "rollouts");

    // Other verbs, identities and namespaces are untouched.
    shop().get("x").await.unwrap();
    rollouts(fake.client())
        .create(&PostParams::default(), &rollout("y", json!({})))
        .await
        .unwrap();
    kube::Api::<kube::api::DynamicObject>::namespaced_with(
        fake.client_as("other"),
        "shop",
        &crate::common::rollout_resource(),
    )
    .patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 3}})),
    )
    .await
    .unwrap();

    assert!(!may(ci.clone(), "patch", "conductor.dev", "rollouts", "shop").await);
    assert!(may(ci.clone(), "get", "conductor.dev", "rollouts", "shop").await);
    assert!(may(ci.clone(), "patch", "conductor.dev", "rollouts", "other").await);
    assert!(may(fake.client(), "patch", "conductor.dev", "rollouts", "shop").await);

    let denied = fake
        .audit()
        .into_iter()
        .filter(|e| e.status == 403)
        .collect::<Vec<_>>();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].identity, "ci");
    assert_eq!(denied[0].field_manager.as_deref(), Some("ci"));
    assert!(denied[0].object.is_none());

    fake.allow_all();
    assert!(may(ci, "patch", "conductor.dev", "rollouts", "shop").await);
}

#[tokio::test]
async fn rules_for_everyone_cover_lists_and_watches() {
    let fake = fakeapi::FakeApi::new();
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    cms.create(&PostParams::default(), &configmap("a", &[]))
        .await
        .unwrap();
    fake.deny(AccessRule {
        verbs: vec!["list".into(), "watch".into()],
        resource: Some("configmaps".into()),
        ..Default::default()
    });
    let err = cms.list(&Default::default()).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error");
    };
    assert_eq!(status.code, 403);
    assert_eq!(
        status.message,
        "configmaps is forbidden: User \"kubernetes-admin\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""
    );
    cms.get("a").await.unwrap();
}
