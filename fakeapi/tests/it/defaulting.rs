//! Workloads come back with the defaults a real API server fills in, so a
//! client comparing what it sent with what it reads sees the difference.

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use crate::common::replicaset;

#[tokio::test]
async fn a_created_replica_set_comes_back_with_its_pod_template_defaulted() {
    let fake = fakeapi::FakeApi::new();
    let api: Api<ReplicaSet> = Api::default_namespaced(fake.client());
    let created = api
        .create(&PostParams::default(), &replicaset("web", 2))
        .await
        .unwrap();
    let read = api.get("web").await.unwrap();
    assert_eq!(created, read);
    let spec = read.spec.unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.unwrap().spec.unwrap();
    assert_eq!(pod.restart_policy.as_deref(), Some("Always"));
    assert_eq!(pod.dns_policy.as_deref(), Some("ClusterFirst"));
    assert_eq!(pod.scheduler_name.as_deref(), Some("default-scheduler"));
    assert_eq!(pod.termination_grace_period_seconds, Some(30));
    assert_eq!(pod.security_context, Some(Default::default()));
    let app = &pod.containers[0];
    // `nginx` has no tag, so it means `nginx:latest`.
    assert_eq!(app.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(
        app.termination_message_path.as_deref(),
        Some("/dev/termination-log")
    );
    assert_eq!(app.termination_message_policy.as_deref(), Some("File"));
}

#[tokio::test]
async fn a_patch_that_clears_a_default_gets_it_back_without_a_new_generation() {
    let fake = fakeapi::FakeApi::new();
    let api: Api<ReplicaSet> = Api::default_namespaced(fake.client());
    let created = api
        .create(&PostParams::default(), &replicaset("web", 1))
        .await
        .unwrap();
    let patch = json!({ "spec": { "template": { "spec": { "dnsPolicy": null } } } });
    let patched = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let pod = patched.spec.unwrap().template.unwrap().spec.unwrap();
    assert_eq!(pod.dns_policy.as_deref(), Some("ClusterFirst"));
    assert_eq!(patched.metadata.generation, created.metadata.generation);
    assert_eq!(
        patched.metadata.resource_version,
        created.metadata.resource_version
    );
}
