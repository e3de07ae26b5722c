use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use fakeapi::simulator::Simulator;

use crate::common::{eventually, replicaset};

fn ready(rs: &ReplicaSet) -> (i32, i32) {
    let s = rs.status.clone().unwrap_or_default();
    (s.replicas, s.ready_replicas.unwrap_or(0))
}

#[tokio::test]
async fn replicaset_and_deployment_status_follow_spec() {
    let fake = fakeapi::FakeApi::new();
    let sim = Simulator::start(&fake);
    let rss: Api<ReplicaSet> = Api::default_namespaced(fake.client());
    rss.create(&PostParams::default(), &replicaset("web", 3))
        .await
        .unwrap();
    eventually(|| async { ready(&rss.get("web").await.unwrap()) == (3, 3) }).await;

    rss.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    eventually(|| async {
        let rs = rss.get("web").await.unwrap();
        let s = rs.status.clone().unwrap_or_default();
        ready(&rs) == (5, 5) && s.observed_generation == Some(2)
    })
    .await;

    sim.set_unready("default", "web", 2);
    eventually(|| async { ready(&rss.get("web").await.unwrap()) == (5, 3) }).await;
    sim.set_unready("default", "web", 99);
    eventually(|| async { ready(&rss.get("web").await.unwrap()) == (5, 0) }).await;

    let deploys: Api<Deployment> = Api::default_namespaced(fake.client());
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "api"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": {"labels": {"app": "api"}}}},
    }))
    .unwrap();
    deploys.create(&PostParams::default(), &d).await.unwrap();
    eventually(|| async {
        let s = deploys.get("api").await.unwrap().status.unwrap_or_default();
        s.updated_replicas == Some(2) && s.available_replicas == Some(2)
    })
    .await;
    drop(sim);
}

#[tokio::test]
async fn pods_follow_replicas_and_are_recreated() {
    let fake = fakeapi::FakeApi::new();
    let sim = Simulator::with_pods(&fake);
    let rss: Api<ReplicaSet> = Api::default_namespaced(fake.client());
    let pods: Api<Pod> = Api::default_namespaced(fake.client());
    rss.create(&PostParams::default(), &replicaset("web", 2))
        .await
        .unwrap();
    let by_app = ListParams::default().labels("app=web");
    eventually(|| async { pods.list(&by_app).await.unwrap().items.len() == 2 }).await;
    eventually(|| async { ready(&rss.get("web").await.unwrap()) == (2, 2) }).await;

    let list = pods.list(&by_app).await.unwrap();
    let pod = &list.items[0];
    assert!(pod.name_any().starts_with("web-") && pod.name_any().len() == 9);
    assert_eq!(pod.owner_references()[0].name, "web");
    let status = pod.status.clone().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));

    // Deleting a Pod yields a replacement with a later creationTimestamp
    // (second precision, like the real API server).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let victim = pod.name_any();
    let old_created = pod.creation_timestamp().unwrap();
    pods.delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    eventually(|| async {
        let items = pods.list(&by_app).await.unwrap().items;
        items.len() == 2 && items.iter().all(|p| p.name_any() != victim)
    })
    .await;
    let items = pods.list(&by_app).await.unwrap().items;
    assert!(
        items
            .iter()
            .any(|p| p.creation_timestamp().unwrap().0 > old_created.0)
    );

    sim.set_unready("default", "web", 1);
    eventually(|| async { ready(&rss.get("web").await.unwrap()) == (2, 1) }).await;

    rss.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    eventually(|| async { pods.list(&by_app).await.unwrap().items.len() == 1 }).await;

    rss.delete("web", &DeleteParams::default()).await.unwrap();
    eventually(|| async { fake.object_count() == 0 }).await;
}

#[tokio::test]
async fn jobs_complete_or_fail_as_their_template_asks() {
    use k8s_openapi::api::batch::v1::Job;
    let fake = fakeapi::FakeApi::new();
    let _sim = Simulator::start(&fake);
    let jobs: Api<Job> = Api::default_namespaced(fake.client());
    let job = |name: &str, exit: &str| -> Job {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"backoffLimit": 1, "template": {
                "metadata": {"annotations": {fakeapi::simulator::EXIT_CODE_ANNOTATION: exit}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", "image": "busybox"}]}
            }}
        }))
        .unwrap()
    };
    jobs.create(&PostParams::default(), &job("good", "0"))
        .await
        .unwrap();
    jobs.create(&PostParams::default(), &job("bad", "3"))
        .await
        .unwrap();
    let condition = |job: &Job, kind: &str| {
        job.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == kind && c.status == "True"))
            .map(|c| c.reason.clone().unwrap_or_default())
    };
    eventually(|| async { condition(&jobs.get("good").await.unwrap(), "Complete").is_some() })
        .await;
    eventually(|| async {
        condition(&jobs.get("bad").await.unwrap(), "Failed").as_deref()
            == Some("BackoffLimitExceeded")
    })
    .await;
    let bad = jobs.get("bad").await.unwrap();
    assert_eq!(
        bad.status.and_then(|s| s.failed),
        Some(2),
        "backoffLimit + 1 attempts"
    );
    // Each attempt left a Pod saying how its container ended.
    let pods: Api<Pod> = Api::default_namespaced(fake.client());
    let attempts = pods
        .list(&ListParams::default().labels("job-name=bad"))
        .await
        .unwrap()
        .items;
    assert_eq!(attempts.len(), 2);
    let exit = attempts[0]
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c[0].state.as_ref())
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.exit_code);
    assert_eq!(exit, Some(3));
}
