use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::common::{api_code, configmap, replicaset, rollout, rollouts};

#[tokio::test]
async fn status_subresource_is_isolated_and_generation_tracks_spec() {
    let fake = crate::common::fake_with_rollouts();
    let api = rollouts(fake.client());
    let pp = PatchParams::default();
    let mut body = rollout("r", json!({"replicas": 1}));
    body.data["status"] = json!({"phase": "ignored"});
    let created = api.create(&PostParams::default(), &body).await.unwrap();
    assert!(created.data.get("status").is_none());

    let s = api
        .patch_status(
            "r",
            &pp,
            &Patch::Merge(json!({"status": {"phase": "Ready"}, "spec": {"replicas": 7}})),
        )
        .await
        .unwrap();
    assert_eq!(s.data["status"]["phase"], "Ready");
    assert_eq!(s.data["spec"]["replicas"], 1);
    assert_eq!(s.metadata.generation, Some(1));

    let m = api
        .patch(
            "r",
            &pp,
            &Patch::Merge(
                json!({"status": {"phase": "Hacked"}, "metadata": {"labels": {"x": "y"}}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(m.data["status"]["phase"], "Ready");
    assert_eq!(
        m.metadata.generation,
        Some(1),
        "metadata-only change keeps generation"
    );

    let g = api
        .patch("r", &pp, &Patch::Merge(json!({"spec": {"replicas": 2}})))
        .await
        .unwrap();
    assert_eq!(g.metadata.generation, Some(2));
    assert_eq!(
        api.get_status("r").await.unwrap().data["status"]["phase"],
        "Ready"
    );

    // A write that changes nothing does not bump the resourceVersion.
    let same = api
        .patch("r", &pp, &Patch::Merge(json!({"spec": {"replicas": 2}})))
        .await
        .unwrap();
    assert_eq!(same.resource_version(), g.resource_version());

    // ConfigMaps have no status subresource: everything is in the main object.
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    cms.create(&PostParams::default(), &configmap("c", &[]))
        .await
        .unwrap();
    let c = cms
        .patch("c", &pp, &Patch::Merge(json!({"data": {"k": "v2"}})))
        .await
        .unwrap();
    assert_eq!(c.metadata.generation, Some(2));
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let fake = fakeapi::FakeApi::new();
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    let mut cm = configmap("f", &[]);
    cm.metadata.finalizers = Some(vec!["conductor.dev/cleanup".into()]);
    cms.create(&PostParams::default(), &cm).await.unwrap();

    let deleted = cms.delete("f", &DeleteParams::default()).await.unwrap();
    let marked = deleted.left().unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert!(
        cms.get("f")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );

    cms.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(api_code(&cms.get("f").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn delete_preconditions_and_owner_cascade() {
    let fake = fakeapi::FakeApi::new();
    let client = fake.client();
    let rss: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let rs = rss
        .create(&PostParams::default(), &replicaset("web", 1))
        .await
        .unwrap();
    let owner = OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: rs.name_any(),
        uid: rs.uid().unwrap(),
        ..Default::default()
    };
    let pod_owner = |name: &str, uid: String, kind: &str| {
        let mut pod: Pod = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        pod.metadata.owner_references = Some(vec![OwnerReference {
            name: name.into(),
            uid,
            kind: kind.into(),
            api_version: "v1".into(),
            ..Default::default()
        }]);
        pod
    };
    let mut p1: Pod = serde_json::from_value(json!({"metadata": {"name": "p1"}})).unwrap();
    p1.metadata.owner_references = Some(vec![owner]);
    let p1 = pods.create(&PostParams::default(), &p1).await.unwrap();
    // A grandchild, to check the cascade recurses.
    pods.create(
        &PostParams::default(),
        &pod_owner("p2", p1.uid().unwrap(), "Pod"),
    )
    .await
    .unwrap();

    let wrong = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("nope".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let err = rss.delete("web", &wrong).await.unwrap_err();
    assert_eq!(api_code(&err), (409, "Conflict".into()));

    let right = DeleteParams {
        preconditions: Some(Preconditions {
            uid: rs.uid(),
            resource_version: rs.resource_version(),
        }),
        ..Default::default()
    };
    rss.delete("web", &right).await.unwrap();
    assert_eq!(fake.object_count(), 0);
}

#[tokio::test]
async fn scale_subresource_sets_spec_replicas() {
    let fake = fakeapi::FakeApi::new();
    let rss: Api<ReplicaSet> = Api::default_namespaced(fake.client());
    rss.create(&PostParams::default(), &replicaset("web", 2))
        .await
        .unwrap();
    let scale = rss.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    let scaled = rss
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(4));
    let rs = rss.get("web").await.unwrap();
    assert_eq!(rs.spec.unwrap().replicas, Some(4));
    assert_eq!(rs.metadata.generation, Some(2));
}

#[tokio::test]
async fn delete_collection_by_label() {
    let fake = fakeapi::FakeApi::new();
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    let pp = PostParams::default();
    cms.create(&pp, &configmap("a", &[("app", "x")]))
        .await
        .unwrap();
    cms.create(&pp, &configmap("b", &[("app", "x")]))
        .await
        .unwrap();
    cms.create(&pp, &configmap("c", &[("app", "y")]))
        .await
        .unwrap();
    let lp = kube::api::ListParams::default().labels("app=x");
    cms.delete_collection(&DeleteParams::default(), &lp)
        .await
        .unwrap();
    assert_eq!(fake.object_count(), 1);
}
