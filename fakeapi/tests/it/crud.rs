use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::common::{api_code, configmap, rollout, rollouts};

#[tokio::test]
async fn create_sets_server_fields_and_rejects_duplicates() {
    let fake = fakeapi::FakeApi::new();
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    let created = cms
        .create(&PostParams::default(), &configmap("a", &[]))
        .await
        .unwrap();
    assert_eq!(created.namespace().as_deref(), Some("default"));
    assert!(created.uid().is_some());
    assert!(created.creation_timestamp().is_some());
    assert_eq!(created.metadata.generation, Some(1));
    let rv: u64 = created.resource_version().unwrap().parse().unwrap();
    assert!(rv > 0);

    let err = cms
        .create(&PostParams::default(), &configmap("a", &[]))
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), (409, "AlreadyExists".into()));

    let mut generated = configmap("", &[]);
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    let g = cms
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    assert!(g.name_any().starts_with("gen-") && g.name_any().len() == 9);

    let err = cms.get("missing").await.unwrap_err();
    assert_eq!(api_code(&err), (404, "NotFound".into()));
    assert_eq!(fake.object_count(), 2);
}

#[tokio::test]
async fn list_filters_by_labels_and_fields() {
    let fake = fakeapi::FakeApi::new();
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    let pp = PostParams::default();
    cms.create(&pp, &configmap("web", &[("app", "web"), ("tier", "fe")]))
        .await
        .unwrap();
    cms.create(&pp, &configmap("db", &[("app", "db")]))
        .await
        .unwrap();
    cms.create(&pp, &configmap("bare", &[])).await.unwrap();
    let other: Api<ConfigMap> = Api::namespaced(fake.client(), "other");
    other
        .create(&pp, &configmap("web", &[("app", "web")]))
        .await
        .unwrap();

    let names = |list: kube::core::ObjectList<ConfigMap>| {
        let mut n: Vec<String> = list.items.iter().map(|c| c.name_any()).collect();
        n.sort();
        n
    };
    let by = |s: &str| ListParams::default().labels(s);
    assert_eq!(names(cms.list(&by("app=web")).await.unwrap()), ["web"]);
    assert_eq!(
        names(cms.list(&by("app!=web")).await.unwrap()),
        ["bare", "db"]
    );
    assert_eq!(
        names(cms.list(&by("app in (web,db)")).await.unwrap()),
        ["db", "web"]
    );
    assert_eq!(
        names(cms.list(&by("app notin (web),app")).await.unwrap()),
        ["db"]
    );
    assert_eq!(names(cms.list(&by("!app")).await.unwrap()), ["bare"]);
    let fields = ListParams::default().fields("metadata.name=db");
    assert_eq!(names(cms.list(&fields).await.unwrap()), ["db"]);

    let all: Api<ConfigMap> = Api::all(fake.client());
    let list = all.list(&by("app=web")).await.unwrap();
    assert_eq!(list.items.len(), 2);
    assert_eq!(list.types.kind, "ConfigMapList");
    assert_eq!(
        list.metadata.resource_version,
        Some(fake.resource_version().to_string())
    );
}

#[tokio::test]
async fn paged_lists_read_one_snapshot_and_stale_tokens_expire() {
    let fake = fakeapi::FakeApi::new();
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    let pp = PostParams::default();
    for i in 0..5 {
        cms.create(&pp, &configmap(&format!("cm-{i}"), &[("app", "web")]))
            .await
            .unwrap();
    }
    let first = cms.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let snapshot_rv = first.metadata.resource_version.clone();
    // Changes after the first page do not show in the later ones.
    cms.create(&pp, &configmap("cm-late", &[])).await.unwrap();
    cms.delete("cm-4", &DeleteParams::default()).await.unwrap();
    let mut names: Vec<String> = first.items.iter().map(|c| c.name_any()).collect();
    let mut token = first.metadata.continue_;
    while let Some(next) = token.filter(|t| !t.is_empty()) {
        let page = cms
            .list(&ListParams::default().limit(2).continue_token(&next))
            .await
            .unwrap();
        assert_eq!(page.metadata.resource_version, snapshot_rv);
        names.extend(page.items.iter().map(|c| c.name_any()));
        token = page.metadata.continue_;
    }
    assert_eq!(names, ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]);

    // A selector hides the remaining count, as on a real server.
    let selected = cms
        .list(&ListParams::default().labels("app=web").limit(1))
        .await
        .unwrap();
    assert_eq!(selected.items.len(), 1);
    assert_eq!(selected.metadata.remaining_item_count, None);
    assert!(selected.metadata.continue_.is_some());

    let err = cms
        .list(&ListParams::default().limit(1).continue_token("999999-1"))
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), (410, "Expired".into()));
    let err = cms
        .list(&ListParams::default().continue_token("not-a-token"))
        .await
        .unwrap_err();
    assert_eq!(api_code(&err).0, 400);
}

#[tokio::test]
async fn custom_resources_and_direct_store_access() {
    let fake = crate::common::fake_with_rollouts();
    let api = rollouts(fake.client());
    api.create(
        &PostParams::default(),
        &rollout("r1", json!({"replicas": 2})),
    )
    .await
    .unwrap();
    let stored = fake
        .get_object(("conductor.dev/v1alpha1", "rollouts"), "default", "r1")
        .unwrap();
    assert_eq!(stored["spec"]["replicas"], 2);

    fake.insert(
        ("conductor.dev/v1alpha1", "rollouts"),
        json!({"apiVersion": "conductor.dev/v1alpha1", "kind": "Rollout",
               "metadata": {"name": "r2", "namespace": "default"}, "status": {"phase": "Done"}}),
    )
    .unwrap();
    let r2 = api.get("r2").await.unwrap();
    assert_eq!(r2.data["status"]["phase"], "Done");
    assert_eq!(
        fake.list_objects(("conductor.dev/v1alpha1", "rollouts"), Some("default"))
            .len(),
        2
    );
    fake.delete_object(("conductor.dev/v1alpha1", "rollouts"), "default", "r2")
        .unwrap();
    // r1 and the Rollout CRD.
    assert_eq!(fake.object_count(), 2);

    let err = api
        .delete("r2", &DeleteParams::default())
        .await
        .unwrap_err();
    assert_eq!(api_code(&err).0, 404);
}

#[tokio::test]
async fn replace_conflicts_on_stale_resource_version() {
    let fake = fakeapi::FakeApi::new();
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    let created = cms
        .create(&PostParams::default(), &configmap("a", &[]))
        .await
        .unwrap();
    let mut first = created.clone();
    first.data = Some([("key".to_string(), "one".to_string())].into());
    let replaced = cms
        .replace("a", &PostParams::default(), &first)
        .await
        .unwrap();
    assert_eq!(replaced.uid(), created.uid());
    assert_eq!(replaced.creation_timestamp(), created.creation_timestamp());
    assert_ne!(replaced.resource_version(), created.resource_version());

    let mut stale = created;
    stale.data = Some([("key".to_string(), "two".to_string())].into());
    let err = cms
        .replace("a", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), (409, "Conflict".into()));
}

#[tokio::test]
async fn malformed_bodies_are_bad_requests() {
    let fake = fakeapi::FakeApi::new();
    let client = fake.client();
    let req = http::Request::post("/api/v1/namespaces/default/configmaps")
        .body(b"{not json".to_vec())
        .unwrap();
    let err = client.request::<ConfigMap>(req).await.unwrap_err();
    assert_eq!(api_code(&err), (400, "BadRequest".into()));
    let req = http::Request::get("/nonsense").body(Vec::new()).unwrap();
    let err = client.request::<ConfigMap>(req).await.unwrap_err();
    assert_eq!(api_code(&err).0, 404);
}
