//! RBAC enforced: roles and bindings applied to the fake decide, as on a
//! real server, and the fake records what each rule allowed.

use std::net::SocketAddr;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::{Value, json};

use crate::common::configmap;
use fakeapi::{FakeApi, RoleKind, User};

const SA: &str = "system:serviceaccount:ops:deployer";

fn enforced() -> FakeApi {
    let fake = FakeApi::new();
    fake.enforce_rbac().unwrap();
    fake
}

fn rbac(fake: &FakeApi, plural: &str, object: Value) {
    fake.insert(("rbac.authorization.k8s.io/v1", plural), object)
        .unwrap();
}

fn role(fake: &FakeApi, ns: &str, name: &str, rules: Value) {
    rbac(
        fake,
        "roles",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": name, "namespace": ns}, "rules": rules}),
    );
}

fn cluster_role(fake: &FakeApi, name: &str, rules: Value) {
    rbac(
        fake,
        "clusterroles",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": name}, "rules": rules}),
    );
}

fn binding(fake: &FakeApi, ns: Option<&str>, role_kind: &str, role: &str, subjects: Value) {
    let (plural, kind) = match ns {
        Some(_) => ("rolebindings", "RoleBinding"),
        None => ("clusterrolebindings", "ClusterRoleBinding"),
    };
    let mut meta = json!({"name": format!("{role}-binding")});
    if let Some(ns) = ns {
        meta["namespace"] = json!(ns);
    }
    rbac(
        fake,
        plural,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
               "subjects": subjects}),
    );
}

fn status(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn may(client: Client, verb: &str, resource: &str, ns: &str) -> (bool, String) {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(ns.into()),
                verb: Some(verb.into()),
                resource: Some(resource.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = Api::<SelfSubjectAccessReview>::all(client)
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .unwrap();
    (answer.allowed, answer.reason.unwrap_or_default())
}

#[tokio::test]
async fn a_role_binding_grants_its_rules_in_its_namespace_only() {
    let fake = enforced();
    let admin: Api<ConfigMap> = Api::namespaced(fake.client(), "shop");
    admin
        .create(&PostParams::default(), &configmap("web", &[]))
        .await
        .unwrap();
    role(
        &fake,
        "shop",
        "reader",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]),
    );
    binding(
        &fake,
        Some("shop"),
        "Role",
        "reader",
        json!([{"kind": "ServiceAccount", "name": "deployer", "namespace": "ops"}]),
    );
    let sa = fake.client_as(SA);
    let shop: Api<ConfigMap> = Api::namespaced(sa.clone(), "shop");
    shop.get("web").await.unwrap();
    shop.list(&ListParams::default()).await.unwrap();

    let err = status(
        shop.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "v"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "configmaps \"web\" is forbidden: User \"system:serviceaccount:ops:deployer\" cannot patch resource \"configmaps\" in API group \"\" in the namespace \"shop\""
    );
    let other: Api<ConfigMap> = Api::namespaced(sa.clone(), "other");
    assert_eq!(status(other.get("web").await.unwrap_err()).code, 403);
    // A watch is its own verb.
    let watch = shop.watch(&Default::default(), "0").await;
    assert_eq!(status(watch.err().expect("forbidden")).code, 403);

    let grants = fake.grants();
    let mine: Vec<_> = grants.iter().filter(|g| g.user == SA).collect();
    let verbs: Vec<&str> = mine.iter().map(|g| g.verb.as_str()).collect();
    assert_eq!(verbs, ["get", "list"], "{mine:#?}");
    for g in &mine {
        assert_eq!(g.role.kind, RoleKind::Role);
        assert_eq!(g.role.namespace.as_deref(), Some("shop"));
        assert_eq!(g.role.name, "reader");
        assert_eq!(g.rule, 0);
        assert_eq!(g.namespace.as_deref(), Some("shop"));
        assert_eq!(g.resource, "configmaps");
    }
    let denials = fake.denials();
    assert_eq!(denials.len(), 3, "{denials:#?}");
    assert!(denials.iter().all(|d| d.user == SA));
    // The tests' own client is in system:masters: allowed by cluster-admin.
    assert!(grants.iter().any(|g| g.user == "kubernetes-admin"
        && g.role.name == "cluster-admin"
        && g.verb == "create"));
}

#[tokio::test]
async fn groups_cluster_roles_subresources_and_names_match_as_on_a_real_server() {
    let fake = enforced();
    cluster_role(
        &fake,
        "status-writer",
        json!([
            {"apiGroups": ["conductor.dev"], "resources": ["rollouts/status"], "verbs": ["patch"]},
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
        ]),
    );
    // Bound in one namespace: the ClusterRole's rules hold there only.
    binding(
        &fake,
        Some("shop"),
        "ClusterRole",
        "status-writer",
        json!([{"kind": "Group", "name": "system:serviceaccounts:ops"}]),
    );
    let sa = fake.client_as(SA);
    let cms: Api<ConfigMap> = Api::namespaced(sa.clone(), "shop");
    cms.create(&PostParams::default(), &configmap("settings", &[]))
        .await
        .unwrap();
    cms.get("settings").await.unwrap();
    assert_eq!(status(cms.get("other").await.unwrap_err()).code, 403);
    // A list names no object unless its field selector does.
    assert_eq!(
        status(cms.list(&ListParams::default()).await.unwrap_err()).code,
        403
    );
    let one = ListParams::default().fields("metadata.name=settings");
    assert_eq!(cms.list(&one).await.unwrap().items.len(), 1);
    let elsewhere: Api<ConfigMap> = Api::namespaced(sa.clone(), "default");
    assert_eq!(
        status(
            elsewhere
                .create(&PostParams::default(), &configmap("x", &[]))
                .await
                .unwrap_err()
        )
        .code,
        403
    );

    let (allowed, reason) = may(sa.clone(), "create", "configmaps", "shop").await;
    assert!(allowed);
    assert_eq!(
        reason,
        "RBAC: allowed by RoleBinding \"status-writer-binding/shop\" of ClusterRole \"status-writer\" to Group \"system:serviceaccounts:ops\""
    );
    assert!(!may(sa, "delete", "configmaps", "shop").await.0);
    let reviewed = fake
        .grants()
        .into_iter()
        .find(|g| g.by_review)
        .expect("the review is recorded");
    assert_eq!((reviewed.verb.as_str(), reviewed.rule), ("create", 2));
}

#[tokio::test]
async fn an_apply_that_creates_needs_create_and_a_missing_role_is_the_reason() {
    let fake = enforced();
    role(
        &fake,
        "shop",
        "patcher",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "patch"]}]),
    );
    binding(
        &fake,
        Some("shop"),
        "Role",
        "patcher",
        json!([{"kind": "User", "name": "ci"}]),
    );
    binding(
        &fake,
        Some("shop"),
        "Role",
        "gone",
        json!([{"kind": "User", "name": "ci"}]),
    );
    let cms: Api<ConfigMap> = Api::namespaced(fake.client_as("ci"), "shop");
    let apply = |data: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}, "data": {"k": data}});
    let err = status(
        cms.patch("web", &PatchParams::apply("ci"), &Patch::Apply(apply("1")))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "configmaps \"web\" is forbidden: RBAC: role.rbac.authorization.k8s.io \"gone\" not found"
    );
    // Once it exists, patching it is enough.
    Api::<ConfigMap>::namespaced(fake.client(), "shop")
        .create(&PostParams::default(), &configmap("web", &[]))
        .await
        .unwrap();
    cms.patch("web", &PatchParams::apply("ci"), &Patch::Apply(apply("2")))
        .await
        .unwrap();
    let err = status(cms.delete("web", &Default::default()).await.unwrap_err());
    assert!(
        err.message.ends_with(
            "in the namespace \"shop\": RBAC: role.rbac.authorization.k8s.io \"gone\" not found"
        ),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_role_in_a_namespace_may_grant_reading_that_namespace() {
    let fake = enforced();
    Api::<Namespace>::all(fake.client())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "shop"}})).unwrap(),
        )
        .await
        .unwrap();
    role(
        &fake,
        "shop",
        "ns-reader",
        json!([{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]),
    );
    binding(
        &fake,
        Some("shop"),
        "Role",
        "ns-reader",
        json!([{"kind": "User", "name": "ci"}]),
    );
    let namespaces: Api<Namespace> = Api::all(fake.client_as("ci"));
    namespaces.get("shop").await.unwrap();
    assert_eq!(
        status(namespaces.list(&ListParams::default()).await.unwrap_err()).code,
        403
    );
}

async fn served_client(addr: SocketAddr, token: Option<&str>) -> Client {
    let mut user = json!({});
    if let Some(token) = token {
        user["token"] = json!(token);
    }
    let kubeconfig: Kubeconfig = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": format!("http://{addr}")}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "fake", "user": "u"}}],
        "current-context": "c",
    }))
    .unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

#[tokio::test]
async fn served_requests_authenticate_by_bearer_token() {
    let fake = enforced();
    fake.add_token("s3cret", User::service_account("ops", "deployer"));
    role(
        &fake,
        "default",
        "reader",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]),
    );
    binding(
        &fake,
        Some("default"),
        "Role",
        "reader",
        json!([{"kind": "ServiceAccount", "name": "deployer", "namespace": "ops"}]),
    );
    let server = fakeapi::serve(fake.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let deployer = served_client(server.addr(), Some("s3cret")).await;
    deployer.apiserver_version().await.unwrap();
    Api::<ConfigMap>::default_namespaced(deployer)
        .list(&ListParams::default())
        .await
        .unwrap();

    let anonymous = served_client(server.addr(), None).await;
    let err = status(
        Api::<ConfigMap>::default_namespaced(anonymous.clone())
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert!(
        err.message.contains("User \"system:anonymous\""),
        "{}",
        err.message
    );
    // Discovery is for authenticated users; /version for everyone.
    anonymous.apiserver_version().await.unwrap();
    let err = status(anonymous.list_api_groups().await.unwrap_err());
    assert_eq!(
        err.message,
        "forbidden: User \"system:anonymous\" cannot get path \"/apis\""
    );

    let stranger = served_client(server.addr(), Some("wrong")).await;
    assert_eq!(
        status(stranger.apiserver_version().await.unwrap_err()).code,
        401
    );
}
