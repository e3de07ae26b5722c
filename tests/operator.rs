//! The operator end to end through `kube::Client`: Rollouts applied the
//! way an SRE applies them, the controller running as it runs in a pod,
//! and the CLI as people use it. Against the in-process fake API server by
//! default; against a real cluster when KUBECONFIG is set.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/rollouts.rs"]
mod rollouts;
#[path = "support/servers.rs"]
mod servers;

use std::collections::BTreeSet;
use std::time::Duration;

use cluster::{Cluster, ControllerProcess, phase, wait_for};
use conductor::crd::analysis::{AnalysisPhase, AnalysisRun};
use conductor::crd::rollout::Rollout;
use conductor::platform::kubernetes::{
    HASH_LABEL, LABEL_ANNOTATION, LEGACY_REPLICA_SET_REVISION_ANNOTATION,
    REPLICA_SET_REVISION_ANNOTATION, ROLLOUT_LABEL, writes,
};
use conductor::platform::template_hash;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{PodTemplateSpec, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use rollouts::{
    V1, V2, V3, canary_weight, healthy_at, replica_sets, replicas, rollout, services, set_image,
};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(30);

async fn selector_hash(cluster: &Cluster, service: &str) -> Option<String> {
    let service = cluster
        .api::<Service>()
        .get(service)
        .await
        .expect("service");
    service.spec?.selector?.get(HASH_LABEL).cloned()
}

/// The reasons of the Events about `name`, oldest first, once `awaited`
/// (if any) is among them (or the limit passed): the controller publishes Events
/// just after the status write a test waits for.
async fn event_reasons(cluster: &Cluster, name: &str, awaited: Option<&str>) -> Vec<String> {
    let start = tokio::time::Instant::now();
    loop {
        let list = cluster.events_about(name).await;
        let reasons: Vec<String> = list.into_iter().filter_map(|e| e.reason).collect();
        if awaited.is_none_or(|a| reasons.iter().any(|r| r == a)) || start.elapsed() > LIMIT {
            return reasons;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until no new Event about `name` appeared for 300 ms.
async fn events_settled(cluster: &Cluster, name: &str) {
    let mut last = event_reasons(cluster, name, None).await.len();
    let start = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = event_reasons(cluster, name, None).await.len();
        if now == last || start.elapsed() > LIMIT {
            return;
        }
        last = now;
    }
}

/// Runs `conductor rollout <args>` as typed, parsed by the real CLI.
async fn cli(cluster: &Cluster, args: &[&str]) -> (u8, String) {
    cluster.cli(args).await
}

fn current_step(r: &Rollout) -> Option<i32> {
    r.status.as_ref().and_then(|s| s.current_step_index)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_deploy_then_an_image_change_runs_every_step_and_promotes() {
    let cluster = Cluster::start("steps").await;
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "web").await;
    let steps = json!([
        { "setWeight": 25 }, { "pause": { "duration": "1s" } },
        { "setWeight": 50 }, { "pause": { "duration": "1s" } }
    ]);
    cluster.apply::<Rollout>(rollout("web", V1, 4, steps)).await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "web", LIMIT, "healthy on v1", healthy_at("3.9")).await;
    let sets = replica_sets(&cluster, "web").await;
    assert_eq!(sets.len(), 1, "one ReplicaSet for the first revision");
    assert_eq!(replicas(&sets[0]), 4);
    let v1_hash = sets[0].labels()[HASH_LABEL].clone();
    assert_eq!(
        selector_hash(&cluster, "web-stable").await,
        Some(v1_hash.clone())
    );

    set_image(&cluster, "web", V2).await;
    let mut steps_seen = BTreeSet::new();
    let mut weights_seen = BTreeSet::new();
    let start = tokio::time::Instant::now();
    let done = loop {
        let r = api.get("web").await.expect("get");
        if r.status.as_ref().and_then(|s| s.canary_revision.as_deref()) == Some("3.10") {
            steps_seen.extend(current_step(&r));
            weights_seen.extend(canary_weight(&r));
        }
        if healthy_at("3.10")(&r) {
            break r;
        }
        assert!(start.elapsed() < LIMIT, "not promoted: {:?}", r.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        weights_seen.contains(&25) && weights_seen.contains(&50),
        "weights seen: {weights_seen:?}"
    );
    assert!(
        steps_seen.contains(&1) && steps_seen.contains(&3),
        "steps seen: {steps_seen:?}"
    );
    let sets = replica_sets(&cluster, "web").await;
    assert_eq!(sets.len(), 2, "{sets:?}");
    let v2 = sets
        .iter()
        .find(|rs| rs.labels()[HASH_LABEL] != v1_hash)
        .expect("v2 set");
    let v1 = sets
        .iter()
        .find(|rs| rs.labels()[HASH_LABEL] == v1_hash)
        .expect("v1 set");
    assert_eq!(replicas(v2), 4);
    // Scaled down, after the default delay when there is no router: at once.
    wait_for(
        &cluster.api::<ReplicaSet>(),
        &v1.name_any(),
        LIMIT,
        "scaled to zero",
        |rs| replicas(rs) == 0,
    )
    .await;
    let v2_hash = v2.labels()[HASH_LABEL].clone();
    assert_eq!(
        selector_hash(&cluster, "web-stable").await,
        Some(v2_hash.clone())
    );
    assert_eq!(selector_hash(&cluster, "web-canary").await, Some(v2_hash));
    assert_eq!(
        done.status
            .as_ref()
            .and_then(|s| s.stable_revision.as_deref()),
        Some("3.10")
    );
    let reasons = event_reasons(&cluster, "web", Some("RolloutCompleted")).await;
    for reason in ["RolloutStarted", "SetWeight", "RolloutCompleted"] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "no {reason} event in {reasons:?}"
        );
    }
}

/// A web metric source whose error rate the test sets.
async fn error_rate_source(rate: std::sync::Arc<std::sync::Mutex<f64>>) -> servers::Stub {
    servers::Stub::start(servers::handler(move |_| {
        let rate = *rate.lock().unwrap_or_else(|e| e.into_inner());
        async move { servers::Response::new(200, json!({ "errorRate": rate }).to_string()) }
    }))
    .await
}

async fn error_rate_template(cluster: &Cluster, url: &str) {
    cluster
        .apply::<conductor::crd::analysis::AnalysisTemplate>(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": { "name": "error-rate" },
            "spec": { "metrics": [{
                "name": "error-rate",
                "interval": "1s",
                "count": 2,
                "successCondition": "result < 0.05",
                "failureLimit": 0,
                "provider": { "web": { "url": url, "jsonPath": "{$.errorRate}" } }
            }] }
        }))
        .await;
}

/// A step analysis' own `dryRun`, `measurementRetention` and
/// `analysisRunMetadata`, as Argo reads them: the failing metric is only
/// measured, the run keeps the last measurement and carries the labels
/// and annotations, and the release is promoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_analysis_runs_its_dry_run_metrics_and_labels_its_run() {
    let cluster = Cluster::start("dry-run").await;
    let _controller = cluster.controller("replica-a").await;
    let rate = std::sync::Arc::new(std::sync::Mutex::new(0.3));
    let source = error_rate_source(rate).await;
    error_rate_template(&cluster, &source.url()).await;
    services(&cluster, "trial").await;
    let steps = json!([{ "setWeight": 50 }, { "analysis": {
        "templates": [{ "templateName": "error-rate" }],
        "dryRun": [{ "metricName": "error-.*" }],
        "measurementRetention": [{ "metricName": "error-rate", "limit": 1 }],
        "analysisRunMetadata": {
            "labels": { "team": "checkout" },
            "annotations": { "owner": "ada" }
        }
    } }]);
    cluster
        .apply::<Rollout>(rollout("trial", V1, 2, steps))
        .await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "trial", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    set_image(&cluster, "trial", V2).await;
    wait_for(
        &api,
        "trial",
        LIMIT,
        "promoted despite 30% errors",
        healthy_at("3.10"),
    )
    .await;
    let runs: Api<AnalysisRun> = cluster.api();
    let run = runs
        .list(&ListParams::default().labels("team=checkout"))
        .await
        .expect("runs")
        .items
        .pop()
        .expect("the run, by its label");
    assert_eq!(
        run.labels().get(ROLLOUT_LABEL).map(String::as_str),
        Some("trial")
    );
    assert_eq!(
        run.annotations().get("owner").map(String::as_str),
        Some("ada")
    );
    let status = run.status.expect("a status");
    assert_eq!(status.phase, Some(AnalysisPhase::Successful), "{status:?}");
    let metric = &status.metric_results[0];
    assert_eq!(metric.dry_run, Some(true));
    assert!(
        metric.failed >= 1,
        "measured, and failing, but only measured"
    );
    assert!(metric.measurements.len() <= 1, "{:?}", metric.measurements);
}

/// A `job` metric template whose Job exits with `code`.
async fn job_template(cluster: &Cluster, name: &str, code: u8) {
    cluster
        .apply::<conductor::crd::analysis::AnalysisTemplate>(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": { "name": name },
            "spec": { "metrics": [{
                "name": "smoke",
                "provider": { "job": { "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "metadata": { "annotations": {
                            // The fake's Job controller ends with this code;
                            // a real cluster runs the command.
                            "fakeapi.conductor.dev/exit-code": code.to_string()
                        } },
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{
                                "name": "smoke",
                                "image": "busybox:1.36",
                                "command": ["sh", "-c", format!("exit {code}")],
                                "resources": { "requests": { "cpu": 0.01 } }
                            }]
                        }
                    }
                } } }
            }] }
        }))
        .await;
}

/// Argo's job provider: a measurement is a Job; it completes, the step
/// passes; it fails, the rollout aborts with the Job's reason; either way
/// the Job is gone once read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_metric_passes_when_its_job_completes_and_aborts_when_it_fails() {
    let cluster = Cluster::start("job-metric").await;
    let _controller = cluster.controller("replica-a").await;
    job_template(&cluster, "smoke-pass", 0).await;
    job_template(&cluster, "smoke-fail", 1).await;
    services(&cluster, "jobs").await;
    let steps = |template: &str| json!([{ "setWeight": 50 }, { "analysis": { "templates": [{ "templateName": template }] } }]);
    cluster
        .apply::<Rollout>(rollout("jobs", V1, 4, steps("smoke-pass")))
        .await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "jobs", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    set_image(&cluster, "jobs", V2).await;
    wait_for(&api, "jobs", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    let runs: Api<AnalysisRun> = cluster.api();
    let passed = runs.list(&ListParams::default()).await.expect("runs").items;
    let message = passed
        .iter()
        .flat_map(|r| r.status.iter().flat_map(|s| s.metric_results.iter()))
        .flat_map(|m| m.measurements.iter())
        .find_map(|m| m.message.clone())
        .unwrap_or_default();
    assert!(message.contains("completed"), "{message}");

    let mut release = rollout("jobs", V3, 4, steps("smoke-fail"));
    release["metadata"] = json!({ "name": "jobs" });
    cluster.apply::<Rollout>(release).await;
    let aborted = wait_for(&api, "jobs", LIMIT, "aborted", |r| {
        r.status.as_ref().is_some_and(|s| s.abort == Some(true))
    })
    .await;
    let why = aborted.status.and_then(|s| s.message).unwrap_or_default();
    assert!(why.contains("BackoffLimitExceeded"), "{why}");
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = cluster.api();
    let start = tokio::time::Instant::now();
    loop {
        let left = jobs.list(&ListParams::default()).await.expect("jobs").items;
        if left.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < LIMIT,
            "measurement Jobs left behind: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Argo's forms: an AnalysisTemplate made of other templates, named by
/// the older `analysis.templateName`, in a pod template whose resources
/// are numbers. The run measures the composed metrics and the release
/// goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_of_templates_named_the_older_way_measures_every_metric() {
    let cluster = Cluster::start("composed").await;
    let _controller = cluster.controller("replica-a").await;
    let rate = cluster::shared(0.01);
    let source = error_rate_source(rate).await;
    error_rate_template(&cluster, &format!("{}/rate", source.url())).await;
    cluster
        .apply::<conductor::crd::analysis::AnalysisTemplate>(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": { "name": "health" },
            "spec": { "templates": [{ "templateName": "error-rate" }] }
        }))
        .await;
    services(&cluster, "combo").await;
    let steps = json!([{ "setWeight": 50 }, { "analysis": { "templateName": "health" } }]);
    let mut object = rollout("combo", V1, 4, steps);
    object["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({ "requests": { "cpu": 0.1, "memory": 67108864 } });
    cluster.apply::<Rollout>(object).await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "combo", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    set_image(&cluster, "combo", V2).await;
    wait_for(&api, "combo", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    let runs = cluster
        .api::<AnalysisRun>()
        .list(&ListParams::default())
        .await
        .expect("runs")
        .items;
    let run = runs
        .iter()
        .find(|r| r.name_any().starts_with("combo"))
        .unwrap_or_else(|| panic!("no run for combo in {runs:?}"));
    let metrics: Vec<&str> = run.spec.metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(metrics, ["error-rate"], "the composed template's metrics");
    assert_eq!(
        run.status.as_ref().and_then(|s| s.phase),
        Some(AnalysisPhase::Successful)
    );
    // The first revision's template (the image change replaced the
    // container list) carries the numbers, as quantities.
    let requests = replica_sets(&cluster, "combo")
        .await
        .iter()
        .filter_map(|rs| rs.spec.as_ref()?.template.as_ref()?.spec.as_ref())
        .find_map(|pod| pod.containers[0].resources.as_ref()?.requests.clone())
        .expect("requests on the first revision's pods");
    // As written, or as a real API server canonicalises a quantity.
    assert!(
        ["0.1", "100m"].contains(&requests["cpu"].0.as_str()),
        "{requests:?}"
    );
    assert!(
        ["67108864", "64Mi"].contains(&requests["memory"].0.as_str()),
        "{requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysis_passes_a_good_release_and_aborts_a_bad_one() {
    let cluster = Cluster::start("analysis").await;
    let _controller = cluster.controller("replica-a").await;
    let rate = cluster::shared(0.01);
    let source = error_rate_source(rate.clone()).await;
    error_rate_template(&cluster, &format!("{}/rate", source.url())).await;
    services(&cluster, "shop").await;
    let steps = json!([
        { "setWeight": 25 },
        { "analysis": { "templates": [{ "templateName": "error-rate" }] } },
        { "setWeight": 50 }
    ]);
    cluster
        .apply::<Rollout>(rollout("shop", V1, 4, steps))
        .await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "shop", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;

    set_image(&cluster, "shop", V2).await;
    wait_for(&api, "shop", LIMIT, "promoted to 3.10", healthy_at("3.10")).await;
    let runs: Api<AnalysisRun> = cluster.api();
    let passed = runs.list(&ListParams::default()).await.expect("runs").items;
    assert_eq!(passed.len(), 1, "one run for the one analysis step");
    let status = passed[0].status.clone().expect("run status");
    assert_eq!(status.phase, Some(AnalysisPhase::Successful));
    assert_eq!(
        status.metric_results[0].measurements.len(),
        2,
        "count: 2 measurements"
    );

    *rate.lock().unwrap_or_else(|e| e.into_inner()) = 0.4;
    set_image(&cluster, "shop", V3).await;
    let aborted = wait_for(&api, "shop", LIMIT, "aborted", |r| {
        phase(r) == "Degraded" && r.status.as_ref().and_then(|s| s.abort) == Some(true)
    })
    .await;
    let status = aborted.status.clone().expect("status");
    assert_eq!(status.stable_revision.as_deref(), Some("3.10"));
    assert_eq!(canary_weight(&aborted), Some(0));
    let sets = replica_sets(&cluster, "shop").await;
    let stable_hash = status.stable_rs.clone().expect("stable hash");
    for rs in &sets {
        let hash = &rs.labels()[HASH_LABEL];
        let want = if *hash == stable_hash { 4 } else { 0 };
        wait_for(
            &cluster.api::<ReplicaSet>(),
            &rs.name_any(),
            LIMIT,
            "scaled",
            |rs| replicas(rs) == want,
        )
        .await;
    }
    assert_eq!(
        selector_hash(&cluster, "shop-stable").await,
        Some(stable_hash.clone())
    );
    assert_eq!(
        selector_hash(&cluster, "shop-canary").await,
        Some(stable_hash)
    );
    let failed: Vec<AnalysisRun> = runs
        .list(&ListParams::default())
        .await
        .expect("runs")
        .items
        .into_iter()
        .filter(|r| r.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Failed))
        .collect();
    assert_eq!(failed.len(), 1, "the bad release's run failed");
    let reasons = event_reasons(&cluster, "shop", Some("RolloutAborted")).await;
    assert!(reasons.iter().any(|r| r == "RolloutAborted"), "{reasons:?}");
    let run_events = event_reasons(&cluster, &failed[0].name_any(), Some("AnalysisFailed")).await;
    assert!(
        run_events.iter().any(|r| r == "AnalysisFailed"),
        "{run_events:?}"
    );
}

/// `antiAffinity`: each new revision's ReplicaSet keeps its pods off the
/// nodes of the stable revision's (the rule names the stable pod-template
/// hash); the Rollout's template is left as written, so undo back to a
/// revision that carried the rule reuses its ReplicaSet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anti_affinity_keeps_a_new_revision_off_the_stable_revisions_nodes() {
    let cluster = Cluster::start("spread").await;
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "spread").await;
    let mut spec = rollout(
        "spread",
        V1,
        2,
        json!([{ "setWeight": 50 }, { "pause": {} }]),
    );
    spec["spec"]["strategy"]["canary"]["antiAffinity"] =
        json!({ "requiredDuringSchedulingIgnoredDuringExecution": {} });
    cluster.apply::<Rollout>(spec).await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "spread", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    let rule_of = |rs: &ReplicaSet| {
        serde_json::to_value(rs).expect("json")["spec"]["template"]["spec"]["affinity"].clone()
    };
    let first = replica_sets(&cluster, "spread").await;
    assert_eq!(first.len(), 1);
    assert_eq!(rule_of(&first[0]), Value::Null, "nothing to keep away from");
    let hash_of = |rs: &ReplicaSet| rs.labels()[HASH_LABEL].clone();
    let v1 = hash_of(&first[0]);

    for (image, label, previous) in [(V2, "3.10", v1.clone()), (V3, "3.8", String::new())] {
        let stable = if previous.is_empty() {
            api.get("spread")
                .await
                .expect("get")
                .status
                .and_then(|s| s.stable_rs)
                .expect("a stable hash")
        } else {
            previous
        };
        set_image(&cluster, "spread", image).await;
        wait_for(&api, "spread", LIMIT, "paused at 50%", |r| {
            phase(r) == "Paused" && current_step(r) == Some(1)
        })
        .await;
        let canary = replica_sets(&cluster, "spread")
            .await
            .into_iter()
            .find(|rs| rs.annotations().get(LABEL_ANNOTATION).map(String::as_str) == Some(label))
            .expect("the new revision's ReplicaSet");
        assert_eq!(
            rule_of(&canary),
            json!({ "podAntiAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": { "matchExpressions": [
                    { "key": HASH_LABEL, "operator": "In", "values": [stable] }
                ] },
                "topologyKey": "kubernetes.io/hostname"
            }] } })
        );
        let (code, out) = cli(&cluster, &["promote", "spread", "--full"]).await;
        assert_eq!(code, 0, "{out}");
        wait_for(&api, "spread", LIMIT, "promoted", healthy_at(label)).await;
    }
    let template_before = api.get("spread").await.expect("get").spec.template;
    // Back to 3.10, whose ReplicaSet carries the rule: the same template,
    // so the same ReplicaSet.
    let (code, out) = cli(&cluster, &["undo", "spread"]).await;
    assert_eq!(code, 0, "{out}");
    let restored = wait_for(&api, "spread", LIMIT, "3.10's template back", |r| {
        r.spec.template != template_before
    })
    .await;
    let affinity = restored
        .spec
        .template
        .and_then(|t| t.spec)
        .and_then(|s| s.affinity);
    assert_eq!(affinity, None, "the rule stays in the ReplicaSet");
    let (code, out) = cli(&cluster, &["promote", "spread", "--full"]).await;
    assert_eq!(code, 0, "{out}");
    wait_for(
        &api,
        "spread",
        LIMIT,
        "healthy on 3.10 again",
        healthy_at("3.10"),
    )
    .await;
    assert_eq!(
        replica_sets(&cluster, "spread").await.len(),
        3,
        "3.10's reused"
    );
}

/// `set image` starts a revision, `pause` holds it where it stands (a
/// timed pause does not run out under it), `promote` resumes it, as with
/// `kubectl argo rollouts`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_set_images_pause_and_resume_from_the_cli() {
    let cluster = Cluster::start("cli-pause").await;
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "hold").await;
    let steps = json!([
        { "setWeight": 25 }, { "pause": { "duration": "2s" } },
        { "setWeight": 50 }, { "pause": {} }
    ]);
    cluster
        .apply::<Rollout>(rollout("hold", V1, 4, steps))
        .await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "hold", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;

    let (code, out) = cli(&cluster, &["set", "image", "hold", &format!("app={V2}")]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, format!("rollout hold: app {V1} -> {V2}\n"));
    wait_for(&api, "hold", LIMIT, "at the timed pause", |r| {
        current_step(r) == Some(1)
    })
    .await;
    let (code, out) = cli(&cluster, &["pause", "hold"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("pause: rollout hold: Paused"), "{out}");
    assert!(out.contains("paused by spec.paused"), "{out}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = api.get("hold").await.expect("get");
    assert_eq!(held.spec.paused, Some(true));
    assert_eq!(
        current_step(&held),
        Some(1),
        "the 2 s pause did not run out"
    );
    assert_eq!(phase(&held), "Paused");

    let (code, out) = cli(&cluster, &["promote", "hold"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("resume: rollout hold:"), "{out}");
    let resumed = wait_for(&api, "hold", LIMIT, "at the last pause", |r| {
        current_step(r) == Some(3)
    })
    .await;
    assert_eq!(resumed.spec.paused, Some(false));

    let error = cluster
        .cli_error(&["set", "image", "hold", "sidecar=x:1"])
        .await;
    assert_eq!(
        error,
        "rollout hold has no container sidecar (spec.template.spec has: app)"
    );
    let error = cluster.cli_error(&["set", "image", "hold", "app"]).await;
    assert_eq!(error, "`app` is not CONTAINER=IMAGE");
    let (code, out) = cli(&cluster, &["set", "image", "hold", &format!("*={V2}")]).await;
    assert_eq!(
        (code, out.as_str()),
        (0, "rollout hold: every image is already set\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_promote_abort_retry_undo_and_restart_from_the_cli() {
    let cluster = Cluster::start("cli").await;
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "desk").await;
    let steps = json!([{ "setWeight": 25 }, { "pause": {} }, { "setWeight": 50 }, { "pause": {} }]);
    cluster
        .apply::<Rollout>(rollout("desk", V1, 4, steps))
        .await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "desk", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    set_image(&cluster, "desk", V2).await;
    let paused_at =
        |step: i32| move |r: &Rollout| phase(r) == "Paused" && current_step(r) == Some(step);
    wait_for(&api, "desk", LIMIT, "paused at step 1", paused_at(1)).await;

    let (code, out) = cli(&cluster, &["promote", "desk"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("promote: rollout desk"), "{out}");
    wait_for(&api, "desk", LIMIT, "paused at step 3", paused_at(3)).await;

    let (code, out) = cli(&cluster, &["abort", "desk"]).await;
    assert_eq!(code, 0, "{out}");
    let aborted = wait_for(&api, "desk", LIMIT, "degraded", |r| phase(r) == "Degraded").await;
    assert_eq!(canary_weight(&aborted), Some(0));
    let (code, out) = cli(&cluster, &["status", "desk", "--timeout", "1s"]).await;
    assert_eq!(code, 1, "a degraded rollout fails `status`: {out}");
    assert!(out.contains("Degraded"), "{out}");

    let (code, out) = cli(&cluster, &["retry", "desk"]).await;
    assert_eq!(code, 0, "{out}");
    wait_for(&api, "desk", LIMIT, "paused at step 1 again", paused_at(1)).await;

    let (code, out) = cli(&cluster, &["promote", "desk", "--full"]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli(&cluster, &["status", "desk", "--watch", "--timeout", "30s"]).await;
    assert_eq!(code, 0, "`status --watch` exits 0 once healthy: {out}");
    let healthy = api.get("desk").await.expect("get");
    assert!(healthy_at("3.10")(&healthy), "{:?}", healthy.status);

    let (code, out) = cli(&cluster, &["get", "desk"]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("Phase:     Healthy") && out.contains("REPLICASET") && out.contains("stable"),
        "{out}"
    );

    // Undo puts 3.9's template back; it is rolled out like any revision.
    let (code, out) = cli(&cluster, &["undo", "desk"]).await;
    assert_eq!(code, 0, "{out}");
    wait_for(&api, "desk", LIMIT, "undone to 3.9", |r| {
        r.spec
            .template
            .as_ref()
            .and_then(|t| t.spec.as_ref())
            .map(|s| s.containers[0].image.clone())
            == Some(Some(V1.to_owned()))
            && current_step(r) == Some(1)
    })
    .await;
    let (code, out) = cli(&cluster, &["promote", "desk", "--full"]).await;
    assert_eq!(code, 0, "{out}");
    wait_for(
        &api,
        "desk",
        LIMIT,
        "healthy on 3.9 again",
        healthy_at("3.9"),
    )
    .await;
    let sets = replica_sets(&cluster, "desk").await;
    assert_eq!(sets.len(), 2, "undo reuses 3.9's ReplicaSet");
    // Going back made 3.9's ReplicaSet the newest revision, as with Deployments.
    let mut numbers: Vec<(String, String)> = sets
        .iter()
        .map(|rs| {
            let annotation = |key: &str| rs.annotations().get(key).cloned().unwrap_or_default();
            (
                annotation(LABEL_ANNOTATION),
                annotation(REPLICA_SET_REVISION_ANNOTATION),
            )
        })
        .collect();
    numbers.sort();
    assert_eq!(
        numbers,
        [("3.10".into(), "2".into()), ("3.9".into(), "3".into())]
    );

    if cluster.fake().is_some() {
        let pods: Api<k8s_openapi::api::core::v1::Pod> = cluster.api();
        let before: BTreeSet<String> = pods
            .list(&ListParams::default().labels("app=desk"))
            .await
            .expect("pods")
            .items
            .iter()
            .map(|p| p.name_any())
            .collect();
        assert_eq!(before.len(), 4);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (code, out) = cli(&cluster, &["restart", "desk"]).await;
        assert_eq!(code, 0, "{out}");
        let start = tokio::time::Instant::now();
        loop {
            let now: BTreeSet<String> = pods
                .list(&ListParams::default().labels("app=desk"))
                .await
                .expect("pods")
                .items
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .map(|p| p.name_any())
                .collect();
            if now.len() == 4 && now.is_disjoint(&before) {
                break;
            }
            assert!(
                start.elapsed() < LIMIT,
                "pods not all restarted: {before:?} -> {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The hash controllers before this version gave a template: FNV-1a over
/// the template exactly as written, without the server's defaults.
fn legacy_hash(template: &PodTemplateSpec) -> String {
    let text = serde_json::to_string(template).expect("a template is JSON");
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:08x}", hash >> 32)
}

/// A ReplicaSet an older controller named from the template as written is
/// still that template's revision: upgrading the controller starts no new
/// ReplicaSet, the pods' selector keeps its hash, and undo back to it
/// reuses it although the server's defaulted copy hashes differently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_sets_an_older_controller_named_stay_their_templates_revision() {
    let cluster = Cluster::start("legacy").await;
    services(&cluster, "till").await;
    let steps = json!([{ "setWeight": 50 }, { "pause": {} }]);
    let stored: Rollout = cluster.apply(rollout("till", V1, 4, steps)).await;
    let template = stored.spec.template.clone().expect("a template");
    let legacy = legacy_hash(&template);
    assert_ne!(legacy, template_hash(Some(&template)));
    let mut pod_template = serde_json::to_value(&template).expect("json");
    pod_template["metadata"]["labels"][HASH_LABEL] = json!(legacy);
    cluster
        .apply::<ReplicaSet>(json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": format!("till-{legacy}"),
                "labels": { "app": "till", HASH_LABEL: legacy, ROLLOUT_LABEL: "till" },
                "annotations": { LEGACY_REPLICA_SET_REVISION_ANNOTATION: "1", LABEL_ANNOTATION: "3.9" },
                "ownerReferences": [{
                    "apiVersion": "conductor.dev/v1alpha1", "kind": "Rollout", "name": "till",
                    "uid": stored.uid(), "controller": true, "blockOwnerDeletion": true,
                }],
            },
            "spec": {
                "replicas": 4,
                "selector": { "matchLabels": { "app": "till", HASH_LABEL: legacy } },
                "template": pod_template,
            },
        }))
        .await;
    let _controller = cluster.controller("replica-a").await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "till", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    let names = |sets: Vec<ReplicaSet>| sets.iter().map(|rs| rs.name_any()).collect::<Vec<_>>();
    let legacy_name = format!("till-{legacy}");
    assert_eq!(
        names(replica_sets(&cluster, "till").await),
        std::slice::from_ref(&legacy_name)
    );
    assert_eq!(
        selector_hash(&cluster, "till-stable").await,
        Some(legacy.clone())
    );

    set_image(&cluster, "till", V2).await;
    wait_for(&api, "till", LIMIT, "paused at step 1", |r| {
        current_step(r) == Some(1)
    })
    .await;
    let (code, out) = cli(&cluster, &["promote", "till", "--full"]).await;
    assert_eq!(code, 0, "{out}");
    wait_for(&api, "till", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    let (code, out) = cli(&cluster, &["undo", "till"]).await;
    assert_eq!(code, 0, "{out}");
    wait_for(&api, "till", LIMIT, "paused at step 1 on 3.9", |r| {
        current_step(r) == Some(1) && r.spec.template.as_ref() != Some(&template)
    })
    .await;
    let (code, out) = cli(&cluster, &["promote", "till", "--full"]).await;
    assert_eq!(code, 0, "{out}");
    wait_for(
        &api,
        "till",
        LIMIT,
        "healthy on 3.9 again",
        healthy_at("3.9"),
    )
    .await;
    let sets = names(replica_sets(&cluster, "till").await);
    assert_eq!(sets.len(), 2, "undo reuses the old ReplicaSet: {sets:?}");
    assert!(sets.contains(&legacy_name), "{sets:?}");
    assert_eq!(selector_hash(&cluster, "till-stable").await, Some(legacy));
}

/// A ReplicaSet an older controller numbered under `conductor.dev/revision`
/// (the key pod templates use for the revision people see) keeps its
/// number: `rollout get` shows it, the next revision is numbered after it
/// under `conductor.dev/replicaset-revision`, and once the controller
/// writes the new key on the old ReplicaSet the old key is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_sets_an_older_controller_numbered_keep_their_numbers() {
    let cluster = Cluster::start("numbered").await;
    services(&cluster, "tally").await;
    let steps = json!([{ "setWeight": 50 }, { "pause": {} }]);
    let stored: Rollout = cluster.apply(rollout("tally", V1, 4, steps)).await;
    let template = stored.spec.template.clone().expect("a template");
    let hash = template_hash(Some(&template));
    let mut pod_template = serde_json::to_value(&template).expect("json");
    pod_template["metadata"]["labels"][HASH_LABEL] = json!(hash);
    let old_name = format!("tally-{hash}");
    cluster
        .apply::<ReplicaSet>(json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": old_name,
                "labels": { "app": "tally", HASH_LABEL: hash, ROLLOUT_LABEL: "tally" },
                "annotations": { LEGACY_REPLICA_SET_REVISION_ANNOTATION: "7", LABEL_ANNOTATION: "3.9" },
                "ownerReferences": [{
                    "apiVersion": "conductor.dev/v1alpha1", "kind": "Rollout", "name": "tally",
                    "uid": stored.uid(), "controller": true, "blockOwnerDeletion": true,
                }],
            },
            "spec": {
                "replicas": 4,
                "selector": { "matchLabels": { "app": "tally", HASH_LABEL: hash } },
                "template": pod_template,
            },
        }))
        .await;
    let _controller = cluster.controller("replica-a").await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "tally", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    let (code, out) = cli(&cluster, &["get", "tally"]).await;
    assert_eq!(code, 0, "{out}");
    let shown = |out: &str, name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_owned)
    };
    assert_eq!(shown(&out, &old_name).as_deref(), Some("7"), "{out}");

    set_image(&cluster, "tally", V2).await;
    wait_for(&api, "tally", LIMIT, "paused at step 1", |r| {
        current_step(r) == Some(1)
    })
    .await;
    let sets = replica_sets(&cluster, "tally").await;
    let annotation = |rs: &ReplicaSet, key: &str| rs.annotations().get(key).cloned();
    let new = sets
        .iter()
        .find(|rs| rs.name_any() != old_name)
        .expect("a ReplicaSet for 3.10");
    assert_eq!(
        annotation(new, REPLICA_SET_REVISION_ANNOTATION).as_deref(),
        Some("8")
    );
    assert_eq!(
        annotation(new, LEGACY_REPLICA_SET_REVISION_ANNOTATION),
        None
    );
    let (code, out) = cli(&cluster, &["get", "tally"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(shown(&out, &old_name).as_deref(), Some("7"), "{out}");
    assert_eq!(shown(&out, &new.name_any()).as_deref(), Some("8"), "{out}");

    let (code, out) = cli(&cluster, &["promote", "tally", "--full"]).await;
    assert_eq!(code, 0, "{out}");
    wait_for(&api, "tally", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    // Scaling the old ReplicaSet down wrote its number under the new key.
    let old = wait_for(
        &cluster.api::<ReplicaSet>(),
        &old_name,
        LIMIT,
        "scaled to zero",
        |rs| replicas(rs) == 0,
    )
    .await;
    assert_eq!(
        annotation(&old, REPLICA_SET_REVISION_ANNOTATION).as_deref(),
        Some("7")
    );
    assert_eq!(
        annotation(&old, LEGACY_REPLICA_SET_REVISION_ANNOTATION),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_revision_mid_rollout_supersedes_the_canary() {
    let cluster = Cluster::start("supersede").await;
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "api").await;
    let steps = json!([{ "setWeight": 25 }, { "pause": {} }]);
    cluster.apply::<Rollout>(rollout("api", V1, 4, steps)).await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "api", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    set_image(&cluster, "api", V2).await;
    wait_for(&api, "api", LIMIT, "paused on 3.10", |r| {
        phase(r) == "Paused"
            && r.status.as_ref().and_then(|s| s.canary_revision.as_deref()) == Some("3.10")
    })
    .await;
    set_image(&cluster, "api", V3).await;
    let superseded = wait_for(&api, "api", LIMIT, "paused on 3.8", |r| {
        phase(r) == "Paused"
            && r.status.as_ref().and_then(|s| s.canary_revision.as_deref()) == Some("3.8")
    })
    .await;
    assert_eq!(
        superseded
            .status
            .as_ref()
            .and_then(|s| s.stable_revision.as_deref()),
        Some("3.9")
    );
    let sets = replica_sets(&cluster, "api").await;
    assert_eq!(sets.len(), 3);
    let label = |rs: &ReplicaSet| rs.annotations()["conductor.dev/revision-label"].clone();
    let v2 = sets
        .iter()
        .find(|rs| label(rs) == "3.10")
        .expect("3.10 set");
    wait_for(
        &cluster.api::<ReplicaSet>(),
        &v2.name_any(),
        LIMIT,
        "the superseded canary at zero",
        |rs| replicas(rs) == 0,
    )
    .await;
    let reasons = event_reasons(&cluster, "api", Some("Superseded")).await;
    assert!(reasons.iter().any(|r| r == "Superseded"), "{reasons:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_killed_at_every_step_resumes_exactly() {
    let cluster = Cluster::start("restart").await;
    services(&cluster, "jobs").await;
    let steps = json!([
        { "setWeight": 20 }, { "pause": { "duration": "1s" } },
        { "setWeight": 40 }, { "pause": { "duration": "1s" } },
        { "setWeight": 60 }, { "pause": { "duration": "1s" } }
    ]);
    let mut controller = cluster.controller("pod-0").await;
    cluster
        .apply::<Rollout>(rollout("jobs", V1, 4, steps))
        .await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "jobs", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    set_image(&cluster, "jobs", V2).await;
    let mut killed_at = BTreeSet::new();
    let mut steps_seen = Vec::new();
    let start = tokio::time::Instant::now();
    let mut generation = 0;
    loop {
        let r = api.get("jobs").await.expect("get");
        if healthy_at("3.10")(&r) {
            break;
        }
        if let Some(step) = current_step(&r).filter(|_| {
            r.status.as_ref().and_then(|s| s.canary_revision.as_deref()) == Some("3.10")
        }) {
            if steps_seen.last() != Some(&step) {
                steps_seen.push(step);
            }
            if killed_at.insert(step) {
                // Events are best effort: a kill between the status write
                // and its Event loses the Event, as in any cluster. Kill
                // once the step's decision is fully recorded, so the counts
                // below check decisions, not that race.
                events_settled(&cluster, "jobs").await;
                // A new pod, a new identity: it waits for the dead one's lease to expire.
                controller.kill();
                generation += 1;
                controller = cluster.controller(&format!("pod-{generation}")).await;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not promoted: {:?}",
            r.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut sorted = steps_seen.clone();
    sorted.sort_unstable();
    assert_eq!(steps_seen, sorted, "steps never go back across restarts");
    assert!(killed_at.len() >= 3, "killed at steps {killed_at:?}");
    assert_eq!(
        replica_sets(&cluster, "jobs").await.len(),
        2,
        "no duplicate ReplicaSet"
    );
    let reasons = event_reasons(&cluster, "jobs", Some("RolloutCompleted")).await;
    let count = |reason: &str| reasons.iter().filter(|r| *r == reason).count();
    // Each decision is recorded once, whichever replica made it: never a
    // second promotion or a step walked twice.
    assert_eq!(count("RolloutCompleted"), 1, "{reasons:?}");
    assert_eq!(count("RolloutStarted"), 1, "{reasons:?}");
    assert_eq!(count("SetWeight"), 3, "{reasons:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_conflicts_errors_and_dropped_watches_still_converge() {
    let cluster = Cluster::start("faults").await;
    let Some(fake) = cluster.fake() else {
        eprintln!("SKIPPED: fault injection needs the fake API server");
        return;
    };
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "pay").await;
    let steps = json!([{ "setWeight": 50 }, { "pause": { "duration": "1s" } }]);
    let fault = |method: reqwest::Method, path: &str, status: u16, times: usize| fakeapi::Fault {
        method: Some(method),
        path_contains: path.into(),
        status,
        times,
    };
    fake.fail_next(fault(
        reqwest::Method::PATCH,
        "/rollouts/pay/status",
        409,
        3,
    ));
    fake.fail_next(fault(reqwest::Method::POST, "/replicasets", 500, 2));
    fake.fail_next(fault(reqwest::Method::PATCH, "/replicasets/", 503, 2));
    cluster.apply::<Rollout>(rollout("pay", V1, 4, steps)).await;
    let api = cluster.api::<Rollout>();
    let dropper = {
        let fake = fake.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                fake.drop_watches();
            }
        })
    };
    wait_for(&api, "pay", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    fake.fail_next(fault(
        reqwest::Method::PATCH,
        "/rollouts/pay/status",
        409,
        5,
    ));
    fake.fail_next(fault(reqwest::Method::PATCH, "/services/", 500, 2));
    set_image(&cluster, "pay", V2).await;
    wait_for(&api, "pay", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    dropper.abort();
    let failed: Vec<u16> = fake
        .audit()
        .iter()
        .map(|a| a.status)
        .filter(|s| *s >= 409)
        .collect();
    assert!(
        failed.iter().filter(|s| **s == 409).count() >= 8,
        "faults were hit: {failed:?}"
    );
    assert_eq!(
        replica_sets(&cluster, "pay").await.len(),
        2,
        "no duplicate ReplicaSet"
    );
}

/// An API server restart as the controller's watches see it: they end,
/// fail to start again for a few seconds, and the new server's watch
/// cache answers 410 to a watch resuming from before. kube's controller pauses
/// all of its watches after an error from any of them, doubling to 30 s
/// and forgetting only after two quiet minutes; the dozen watches failing
/// at once pushed that pause to 30 s, and changes made after the restart
/// went unseen for up to a minute (found by tests/soak). Each watch backs
/// off on its own instead, so the controller sees the next change as soon
/// as its own watches are back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_after_an_api_server_restart_is_seen_without_waiting_for_other_watches() {
    let cluster = Cluster::start("restart").await;
    let Some(fake) = cluster.fake() else {
        eprintln!("SKIPPED: an API server restart needs the fake API server");
        return;
    };
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "cart").await;
    let steps = json!([{ "setWeight": 50 }]);
    cluster
        .apply::<Rollout>(rollout("cart", V1, 4, steps))
        .await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "cart", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;

    // Every watch ends and cannot start again for three seconds, then the
    // server is back with an empty watch cache. (Lists and writes go on:
    // the test's two-second lease would not outlive a whole outage.)
    fake.fail_next(fakeapi::Fault {
        method: None,
        path_contains: "watch=true".into(),
        status: 503,
        times: usize::MAX,
    });
    fake.drop_watches();
    tokio::time::sleep(Duration::from_secs(3)).await;
    fake.clear_faults();
    fake.forget_watch_history();
    let back = tokio::time::Instant::now();
    set_image(&cluster, "cart", V2).await;
    // Generous against a loaded machine; the shared pause took 10 to 60 s.
    wait_for(
        &api,
        "cart",
        Duration::from_secs(8),
        "healthy on 3.10",
        healthy_at("3.10"),
    )
    .await;
    eprintln!(
        "healthy on 3.10 {:.1} s after the API server came back",
        back.elapsed().as_secs_f64()
    );
}

/// The controller's answer on its metrics port: status code and body.
async fn scrape(controller: &ControllerProcess, path: &str) -> (u16, String) {
    let addr = controller.metrics_addr.expect("metrics address");
    let response = reqwest::get(format!("http://{addr}{path}"))
        .await
        .expect("reachable");
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

/// A Rollout is first reconciled once its ReplicaSets are listed: before,
/// the reconcile could only fail (not synced) and retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollouts_wait_for_their_replica_sets_to_be_listed() {
    let cluster = Cluster::start("synced").await;
    let Some(fake) = cluster.fake() else {
        eprintln!("SKIPPED: holding back a list needs the fake API server");
        return;
    };
    services(&cluster, "queue").await;
    let steps = json!([{ "setWeight": 50 }]);
    cluster
        .apply::<Rollout>(rollout("queue", V1, 4, steps))
        .await;
    // The controller's ReplicaSet list fails twice: its watcher backs off
    // for a second or more while the Rollout list has already arrived.
    fake.fail_next(fakeapi::Fault {
        method: Some(reqwest::Method::GET),
        path_contains: "replicasets?".into(),
        status: 500,
        times: 2,
    });
    let controller = cluster.controller("replica-a").await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "queue", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;

    let (_, metrics) = scrape(&controller, "/metrics").await;
    assert!(
        metrics.contains("conductor_reconciles_total{controller=\"rollout\"}"),
        "{metrics}"
    );
    assert!(!metrics.contains("not_synced"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_controllers_with_a_lease_never_both_write() {
    let cluster = Cluster::start("leader").await;
    let Some(fake) = cluster.fake() else {
        eprintln!("SKIPPED: telling writers apart needs the fake API server's audit log");
        return;
    };
    services(&cluster, "mail").await;
    let a = cluster.controller("replica-a").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = cluster.controller("replica-b").await;
    let steps = json!([{ "setWeight": 50 }, { "pause": { "duration": "1s" } }]);
    cluster
        .apply::<Rollout>(rollout("mail", V1, 4, steps))
        .await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "mail", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    set_image(&cluster, "mail", V2).await;
    wait_for(&api, "mail", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    let writes = |who: &str| -> Vec<jiff::Timestamp> {
        fake.audit()
            .iter()
            .filter(|e| e.pod.as_deref() == Some(who) && !e.path.contains("/leases"))
            .map(|e| e.time)
            .collect()
    };
    assert!(!writes("replica-a").is_empty(), "the leader wrote");
    assert!(
        writes("replica-b").is_empty(),
        "the standby never wrote: {:?}",
        writes("replica-b")
    );

    a.kill();
    set_image(&cluster, "mail", V3).await;
    wait_for(
        &api,
        "mail",
        LIMIT,
        "healthy on 3.8 under the new leader",
        healthy_at("3.8"),
    )
    .await;
    let (a_writes, b_writes) = (writes("replica-a"), writes("replica-b"));
    assert!(!b_writes.is_empty(), "the standby took over");
    let a_last = a_writes.iter().max().copied();
    let b_first = b_writes.iter().min().copied();
    assert!(
        a_last < b_first,
        "writes overlap: a until {a_last:?}, b from {b_first:?}"
    );
    b.stop().await.expect("a clean stop");
    let lease: k8s_openapi::api::coordination::v1::Lease = cluster
        .api()
        .get("conductor-controller")
        .await
        .expect("lease");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity),
        None,
        "a clean stop hands the lease back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routers_set_gateway_weights_and_the_nginx_canary_ingress() {
    let cluster = Cluster::start("routers").await;
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "gw").await;
    services(&cluster, "ng").await;
    cluster
        .apply::<k8s_openapi::api::networking::v1::Ingress>(json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": { "name": "ng" },
            "spec": { "rules": [{ "host": "ng.example", "http": { "paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": { "service": { "name": "ng-stable", "port": { "number": 80 } } }
            }] } }] }
        }))
        .await;
    let gateway_available = cluster.fake().is_some();
    if gateway_available {
        // Gateway API's own CRD, so the route is pruned and checked as on a cluster.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/crds/httproutes.gateway.networking.k8s.io.yaml"
        );
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        let crd: CustomResourceDefinition =
            serde_yaml::from_str(&std::fs::read_to_string(path).expect("the CRD fixture"))
                .expect("a CRD");
        Api::<CustomResourceDefinition>::all(cluster.client())
            .patch(
                "httproutes.gateway.networking.k8s.io",
                &PatchParams::apply("conductor-tests").force(),
                &Patch::Apply(&crd),
            )
            .await
            .expect("install the HTTPRoute CRD");
        let route = kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
            "httproutes",
        );
        let routes: Api<kube::api::DynamicObject> =
            Api::namespaced_with(cluster.client(), &cluster.namespace, &route);
        let object: kube::api::DynamicObject = serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": { "name": "gw" },
            "spec": { "rules": [{ "backendRefs": [{ "name": "gw-stable", "port": 80 }] }] }
        }))
        .expect("route");
        routes
            .create(&Default::default(), &object)
            .await
            .expect("create route");
    } else {
        eprintln!(
            "SKIPPED: the Gateway API part (HTTPRoute may not be installed on a real cluster)"
        );
    }
    let steps = json!([{ "setWeight": 30 }, { "pause": {} }]);
    let mut gw = rollout("gw", V1, 4, steps.clone());
    gw["spec"]["strategy"]["canary"]["trafficRouting"] =
        json!({ "gatewayAPI": { "httpRoute": "gw" } });
    let mut ng = rollout("ng", V1, 4, steps);
    // The default 30 s delay before the old pods go would race the test's 30 s limit.
    for object in [&mut gw, &mut ng] {
        object["spec"]["strategy"]["canary"]["scaleDownDelaySeconds"] = json!(2);
    }
    ng["spec"]["strategy"]["canary"]["trafficRouting"] =
        json!({ "nginx": { "stableIngress": "ng" } });
    let api = cluster.api::<Rollout>();
    for (name, object) in [("ng", ng)]
        .into_iter()
        .chain(gateway_available.then_some(("gw", gw)))
    {
        cluster.apply::<Rollout>(object).await;
        wait_for(&api, name, LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
        set_image(&cluster, name, V2).await;
        wait_for(&api, name, LIMIT, "paused at 30%", |r| {
            phase(r) == "Paused" && canary_weight(r) == Some(30)
        })
        .await;
    }
    let ingresses: Api<k8s_openapi::api::networking::v1::Ingress> = cluster.api();
    let canary = ingresses
        .get("ng-ng-canary")
        .await
        .expect("the canary ingress");
    assert_eq!(
        canary.annotations()["nginx.ingress.kubernetes.io/canary"],
        "true"
    );
    assert_eq!(
        canary.annotations()["nginx.ingress.kubernetes.io/canary-weight"],
        "30"
    );
    let backend = serde_json::to_value(&canary.spec).expect("spec");
    assert_eq!(
        backend.pointer("/rules/0/http/paths/0/backend/service/name"),
        Some(&json!("ng-canary"))
    );
    if gateway_available {
        let fake = cluster.fake().expect("fake");
        let route = fake
            .get_object(
                ("gateway.networking.k8s.io/v1", "httproutes"),
                &cluster.namespace,
                "gw",
            )
            .expect("route");
        assert_eq!(
            route.pointer("/spec/rules/0/backendRefs"),
            Some(&json!([
                { "name": "gw-stable", "port": 80, "weight": 70 },
                { "name": "gw-canary", "port": 80, "weight": 30 }
            ]))
        );
    }
    let (code, out) = cli(&cluster, &["promote", "ng", "--full"]).await;
    assert_eq!(code, 0, "{out}");
    wait_for(&api, "ng", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    let canary = ingresses
        .get("ng-ng-canary")
        .await
        .expect("the canary ingress");
    assert_eq!(
        canary.annotations()["nginx.ingress.kubernetes.io/canary-weight"],
        "0"
    );
}

/// The managers that own fields of `object`, as (manager, operation).
fn writers<K: kube::Resource>(object: &K) -> BTreeSet<(String, String)> {
    object
        .meta()
        .managed_fields
        .iter()
        .flatten()
        .map(|m| {
            (
                m.manager.clone().unwrap_or_default(),
                m.operation.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn wrote(object: &impl kube::Resource, manager: &str, operation: &str) -> bool {
    writers(object).contains(&(manager.to_owned(), operation.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_writer_owns_its_fields_and_nothing_deleted_comes_back() {
    let cluster = Cluster::start("writers").await;
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "own").await;
    let steps = json!([{ "setWeight": 50 }, { "pause": { "duration": "1s" } }]);
    cluster.apply::<Rollout>(rollout("own", V1, 4, steps)).await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "own", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    set_image(&cluster, "own", V2).await;
    let done = wait_for(&api, "own", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;

    // What Conductor owns is server-side applied, one manager per writer.
    assert!(
        wrote(&done, "conductor-status", "Apply"),
        "{:?}",
        writers(&done)
    );
    let sets = replica_sets(&cluster, "own").await;
    assert_eq!(sets.len(), 2);
    for rs in &sets {
        assert!(
            wrote(rs, "conductor-replicasets", "Apply") && wrote(rs, "conductor-scale", "Apply"),
            "{}: {:?}",
            rs.name_any(),
            writers(rs)
        );
    }
    // Other people's objects get merge patches of the fields named.
    let stable = cluster
        .api::<Service>()
        .get("own-stable")
        .await
        .expect("service");
    assert!(
        wrote(&stable, "conductor-services", "Update"),
        "{:?}",
        writers(&stable)
    );

    // A partial write to an object deleted meanwhile must not bring back a
    // half-object: the API server refuses it, and the write says "gone".
    let client = cluster.client();
    let scale = writes::ReplicaSetScale {
        replicas: 2,
        revision: Some(7),
        scale_down_at: None,
    };
    let scaled = writes::scale_replica_set(&client, &cluster.namespace, "own-gone", &scale)
        .await
        .expect("a scale of nothing is not an error");
    assert!(!scaled);
    let gone = cluster
        .api::<ReplicaSet>()
        .get_opt("own-gone")
        .await
        .expect("get");
    assert!(gone.is_none(), "{gone:?}");
    let terminated = writes::terminate_analysis_run(&client, &cluster.namespace, "own-gone")
        .await
        .expect("a terminate of nothing is not an error");
    assert!(!terminated);
    let gone = cluster
        .api::<AnalysisRun>()
        .get_opt("own-gone")
        .await
        .expect("get");
    assert!(gone.is_none(), "{gone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_ref_takes_over_a_deployment_and_hpas_scale_through_the_subresource() {
    let cluster = Cluster::start("workload").await;
    let _controller = cluster.controller("replica-a").await;
    cluster
        .apply::<k8s_openapi::api::apps::v1::Deployment>(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": { "name": "legacy" },
            "spec": {
                "replicas": 3,
                "selector": { "matchLabels": { "app": "legacy" } },
                "template": {
                    "metadata": { "labels": { "app": "legacy" } },
                    "spec": { "containers": [{ "name": "app", "image": V1 }] }
                }
            }
        }))
        .await;
    cluster
        .apply::<Rollout>(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": { "name": "legacy" },
            "spec": {
                "replicas": 3,
                "workloadRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "legacy" },
                "strategy": { "canary": { "steps": [{ "setWeight": 50 }] } }
            }
        }))
        .await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "legacy", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = cluster.api();
    wait_for(&deployments, "legacy", LIMIT, "scaled down", |d| {
        d.spec.as_ref().and_then(|s| s.replicas) == Some(0)
    })
    .await;
    let rs = &replica_sets(&cluster, "legacy").await[0];
    assert_eq!(replicas(rs), 3);

    // What an HPA does: write spec.replicas through the scale subresource.
    let scale = json!({ "spec": { "replicas": 5 } });
    api.patch_scale("legacy", &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .expect("scale");
    wait_for(
        &cluster.api::<ReplicaSet>(),
        &rs.name_any(),
        LIMIT,
        "at 5 replicas",
        |rs| replicas(rs) == 5,
    )
    .await;
    let scaled = api.get_scale("legacy").await.expect("scale");
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(5));

    // A new template in the Deployment is a new revision at once: its
    // watch starts the rollout, not the five-minute resync.
    let image = json!({ "spec": { "template": { "spec": { "containers": [{ "name": "app", "image": V2 }] } } } });
    deployments
        .patch("legacy", &PatchParams::default(), &Patch::Merge(&image))
        .await
        .expect("new image in the deployment");
    wait_for(&api, "legacy", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    assert_eq!(replica_sets(&cluster, "legacy").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progressively_scaled_down_deployment_gives_up_a_pod_per_rollout_pod_available() {
    let cluster = Cluster::start("progressive").await;
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = cluster.api();
    let deployment = cluster
        .apply::<k8s_openapi::api::apps::v1::Deployment>(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": { "name": "migrating" },
            "spec": {
                "replicas": 3,
                "selector": { "matchLabels": { "app": "migrating" } },
                "template": {
                    "metadata": { "labels": { "app": "migrating" } },
                    "spec": { "containers": [{ "name": "app", "image": V1 }] }
                }
            }
        }))
        .await;
    // The rollout's ReplicaSet is named after the Deployment's template,
    // so its pods can be held unready before it exists.
    let hash = template_hash(deployment.spec.as_ref().map(|s| &s.template));
    let rs_name = format!("migrating-{hash}");
    let simulator = cluster.simulator();
    match simulator {
        Some(simulator) => simulator.set_unready(&cluster.namespace, &rs_name, 3),
        None => eprintln!("SKIPPED: the pod-by-pod part needs the fake's simulator"),
    }
    let _controller = cluster.controller("replica-a").await;
    cluster
        .apply::<Rollout>(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": { "name": "migrating" },
            "spec": {
                "replicas": 3,
                "workloadRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "migrating",
                    "scaleDown": "progressively"
                },
                "strategy": { "canary": { "steps": [{ "setWeight": 50 }] } }
            }
        }))
        .await;
    let api = cluster.api::<Rollout>();
    let deployment_replicas =
        |d: &k8s_openapi::api::apps::v1::Deployment| d.spec.as_ref().and_then(|s| s.replicas);
    if let Some(simulator) = simulator {
        wait_for(&api, "migrating", LIMIT, "up with no pod available", |r| {
            let status = r.status.as_ref();
            status.and_then(|s| s.replicas) == Some(3)
                && status.and_then(|s| s.available_replicas) == Some(0)
        })
        .await;
        let untouched = deployments.get("migrating").await.expect("the deployment");
        assert_eq!(
            deployment_replicas(&untouched),
            Some(3),
            "nothing replaced yet"
        );
        // One more pod of the rollout available at a time: the Deployment
        // gives up one pod each time, never more than the rollout replaced.
        for unready in [2, 1, 0] {
            simulator.set_unready(&cluster.namespace, &rs_name, unready);
            let left = i32::try_from(unready).expect("a small count");
            wait_for(&deployments, "migrating", LIMIT, "one pod fewer", |d| {
                deployment_replicas(d) == Some(left)
            })
            .await;
            wait_for(&api, "migrating", LIMIT, "seen the pod available", |r| {
                r.status.as_ref().and_then(|s| s.available_replicas) == Some(3 - left)
            })
            .await;
            let held = deployments.get("migrating").await.expect("the deployment");
            assert_eq!(
                deployment_replicas(&held),
                Some(left),
                "the Deployment gives up no pod the rollout has not replaced"
            );
        }
    }
    wait_for(
        &api,
        "migrating",
        LIMIT,
        "healthy on 3.9",
        healthy_at("3.9"),
    )
    .await;
    wait_for(&deployments, "migrating", LIMIT, "scaled down", |d| {
        deployment_replicas(d) == Some(0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_rollout_is_reported_and_others_keep_going() {
    let cluster = Cluster::start("invalid").await;
    let controller = cluster.controller("replica-a").await;
    services(&cluster, "bad").await;
    services(&cluster, "good").await;
    let bad = rollout("bad", V1, 4, json!([{ "setWeight": 120 }]));
    cluster.apply::<Rollout>(bad).await;
    cluster
        .apply::<Rollout>(rollout("good", V1, 4, json!([{ "setWeight": 50 }])))
        .await;
    // One the API server would refuse under the CRD's schema, as an older
    // CRD could let through: it fails its own reconciles, not the watch.
    let garbled = cluster.fake().map(|fake| {
        let mut garbled = rollout("garbled", V1, 4, json!([]));
        garbled["metadata"]["namespace"] = json!(cluster.namespace);
        garbled["spec"]["replicas"] = json!("three");
        fake.insert(("conductor.dev/v1alpha1", "rollouts"), garbled)
            .expect("inserted")
    });
    let api = cluster.api::<Rollout>();
    let invalid = wait_for(&api, "bad", LIMIT, "reported invalid", |r| {
        phase(r) == "Degraded"
    })
    .await;
    let condition = invalid
        .status
        .as_ref()
        .and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == "InvalidSpec")
                .cloned()
        })
        .expect("an InvalidSpec condition");
    assert_eq!(condition.status.as_str(), "True");
    assert!(
        condition
            .message
            .as_deref()
            .unwrap_or("")
            .contains("setWeight"),
        "the condition names the field: {condition:?}"
    );
    assert!(
        event_reasons(&cluster, "bad", Some("InvalidSpec"))
            .await
            .iter()
            .any(|r| r == "InvalidSpec")
    );
    assert!(
        replica_sets(&cluster, "bad").await.is_empty(),
        "nothing applied for an invalid spec"
    );
    wait_for(&api, "good", LIMIT, "healthy", healthy_at("3.9")).await;

    // Its metrics, health and readiness, as Prometheus and the kubelet see them.
    assert_eq!(scrape(&controller, "/healthz").await.0, 200);
    assert_eq!(scrape(&controller, "/readyz").await.0, 200);
    let (code, text) = scrape(&controller, "/metrics").await;
    assert_eq!(code, 200);
    for line in [
        "conductor_rollouts{phase=\"Healthy\"} 1",
        "conductor_rollouts{phase=\"Degraded\"} 1",
        "conductor_leader 1",
    ] {
        assert!(text.contains(line), "no `{line}` in:\n{text}");
    }
    assert!(
        text.contains("conductor_reconciles_total{controller=\"rollout\"}"),
        "{text}"
    );
    assert!(!text.contains("name=\"good\""), "no object names as labels");
    if garbled.is_some() {
        let invalid = "conductor_reconcile_errors_total{controller=\"rollout\",kind=\"invalid\"}";
        assert!(text.contains(invalid), "no `{invalid}` in:\n{text}");
    }
}

/// An Argo Rollouts manifest applied as written: what Conductor does not
/// support is kept by the API server and reported by its field path, in
/// the condition, a Warning Event and `rollout status`, instead of the
/// rollout running some other way (an Ambassador canary by replica ratio).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argo_fields_conductor_does_not_support_are_kept_and_named() {
    let cluster = Cluster::start("unsupported").await;
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "istio").await;
    services(&cluster, "smoke").await;
    let mut istio = rollout("istio", V1, 4, json!([{ "setWeight": 50 }]));
    istio["spec"]["strategy"]["canary"]["trafficRouting"] =
        json!({ "ambassador": { "mappings": ["istio-mapping"] } });
    cluster.apply_as_written(istio).await;
    cluster
        .apply_as_written(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": { "name": "smoke" },
            "spec": { "metrics": [{ "name": "smoke", "provider": { "wavefront": {
                "address": "example.wavefront.com", "query": "ts(errors)" } } }] }
        }))
        .await;
    cluster
        .apply_as_written(rollout(
            "smoke",
            V1,
            4,
            json!([{ "analysis": { "templates": [{ "templateName": "smoke" }] } }]),
        ))
        .await;
    cluster
        .apply_as_written(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "AnalysisRun",
            "metadata": { "name": "by-hand" },
            "spec": { "metrics": [{ "name": "apdex", "provider": {
                "newRelic": { "query": "SELECT apdex(duration) FROM Transaction" } } }] }
        }))
        .await;

    let api = cluster.api::<Rollout>();
    let message = |r: &Rollout| {
        r.status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "InvalidSpec"))
            .and_then(|c| c.message.clone())
    };
    let istio = wait_for(&api, "istio", LIMIT, "reported invalid", |r| {
        message(r).is_some()
    })
    .await;
    let expected = "spec.strategy.canary.trafficRouting.ambassador: not supported by Conductor";
    assert_eq!(message(&istio).as_deref(), Some(expected));
    assert_eq!(phase(&istio), "Degraded");
    assert!(
        replica_sets(&cluster, "istio").await.is_empty(),
        "no replica-ratio canary instead"
    );
    event_reasons(&cluster, "istio", Some("InvalidSpec")).await;
    let events: Api<Event> = cluster.api();
    let warned = events
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .any(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.reason.as_deref() == Some("InvalidSpec")
                && e.note.as_deref() == Some(expected)
        });
    assert!(warned, "a Warning Event names the field");
    let (code, out) = cli(&cluster, &["status", "istio", "--timeout", "1s"]).await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains(expected), "{out}");
    // The API server kept the field: fixing the manifest is all it takes.
    let routes: Api<kube::api::DynamicObject> = Api::namespaced_with(
        cluster.client(),
        &cluster.namespace,
        &kube::api::ApiResource::erase::<Rollout>(&()),
    );
    let stored = routes.get("istio").await.expect("the rollout");
    assert_eq!(
        stored.data["spec"]["strategy"]["canary"]["trafficRouting"]["ambassador"]["mappings"][0],
        "istio-mapping"
    );

    let smoke = wait_for(&api, "smoke", LIMIT, "reported invalid", |r| {
        message(r).is_some()
    })
    .await;
    assert_eq!(
        message(&smoke).as_deref(),
        Some(
            "spec.strategy.canary.steps[0].analysis.templates[0].templateName: \
             AnalysisTemplate `smoke`: spec.metrics[0].provider.wavefront: not supported by Conductor"
        )
    );

    let runs = cluster.api::<AnalysisRun>();
    let run = wait_for(&runs, "by-hand", LIMIT, "ended", |r| {
        r.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Error)
    })
    .await;
    let run_message = run.status.and_then(|s| s.message).unwrap_or_default();
    assert!(
        run_message.contains("spec.metrics[0].provider.newRelic: not supported by Conductor"),
        "{run_message}"
    );
}

/// Argo Rollouts' `secretRef`: a Secret in the run's namespace when
/// `namespaced`, else in the controller's own namespace, `datadog` unless
/// named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datadog_keys_come_from_the_secret_argo_names() {
    use conductor::analysis::plan::DatadogSecret;
    use conductor::analysis::providers::DatadogKeys;
    use conductor::crd::analysis::DatadogSecretRef;

    let cluster = Cluster::start("datadog-secrets").await;
    let home = format!("{}-home", cluster.namespace);
    if cluster.fake().is_none() {
        eprintln!("SKIPPED: a second namespace for the controller's home (fake only)");
        return;
    }
    let secret = |namespace: &str, name: &str, key: &str| {
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": { "name": name, "namespace": namespace },
            "stringData": { "api-key": format!("{key}-api"), "app-key": format!("{key}-app") }
        })
    };
    let client = cluster.client();
    for (namespace, body) in [
        (home.as_str(), secret(&home, "datadog", "shared")),
        (
            cluster.namespace.as_str(),
            secret(&cluster.namespace, "team-keys", "team"),
        ),
        (
            cluster.namespace.as_str(),
            secret(&cluster.namespace, "datadog", "wrong"),
        ),
    ] {
        let api: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(client.clone(), namespace);
        let name = body["metadata"]["name"].as_str().expect("name").to_owned();
        api.patch(
            &name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&body),
        )
        .await
        .expect("secret");
    }
    let metric = |secret_ref: Value| {
        json!({
            "name": "errors",
            "provider": { "datadog": { "query": "sum:errors{*}", "secretRef": secret_ref } }
        })
    };
    let run: AnalysisRun = serde_json::from_value(json!({
        "apiVersion": "conductor.dev/v1alpha1", "kind": "AnalysisRun",
        "metadata": { "name": "keys", "namespace": cluster.namespace },
        "spec": { "metrics": [
            metric(json!({ "name": "team-keys", "namespaced": true })),
            metric(json!({}))
        ] }
    }))
    .expect("run");
    let fetched = conductor::platform::kubernetes::secrets::prefetch(&client, &run, &home)
        .await
        .expect("prefetch");
    let team = DatadogSecret::of(Some(&DatadogSecretRef {
        name: Some("team-keys".into()),
        namespaced: Some(true),
    }));
    assert_eq!(
        fetched.keys(&team),
        Ok(("team-api".to_owned(), "team-app".to_owned()))
    );
    let shared = DatadogSecret::of(Some(&DatadogSecretRef::default()));
    assert_eq!(
        fetched.keys(&shared),
        Ok(("shared-api".to_owned(), "shared-app".to_owned())),
        "not namespaced: the controller's namespace, not the run's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysis_arguments_come_from_secrets_and_rollout_fields_and_stay_masked() {
    let cluster = Cluster::start("args").await;
    let _controller = cluster.controller("replica-a").await;
    let source = servers::Stub::start(servers::handler(|request: servers::Request| async move {
        let authorized = request.header("authorization") == Some("Bearer s3cret");
        let named = request.query == "rollout=vault";
        match (authorized, named) {
            (true, true) => servers::Response::new(200, r#"{"errorRate": 0.01}"#),
            _ => servers::Response::new(401, "who are you?"),
        }
    }))
    .await;
    cluster
        .apply::<k8s_openapi::api::core::v1::Secret>(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": { "name": "metrics-token" },
            "stringData": { "token": "s3cret" }
        }))
        .await;
    cluster
        .apply::<conductor::crd::analysis::AnalysisTemplate>(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": { "name": "authorized-rate" },
            "spec": {
                "args": [{ "name": "token" }, { "name": "rollout" }],
                "metrics": [{
                    "name": "error-rate",
                    "successCondition": "result < 0.05",
                    "provider": { "web": {
                        "url": format!("{}/rate?rollout={{{{args.rollout}}}}", source.url()),
                        "headers": [{ "key": "Authorization", "value": "Bearer {{args.token}}" }],
                        "jsonPath": "{$.errorRate}"
                    } }
                }]
            }
        }))
        .await;
    services(&cluster, "vault").await;
    let steps = json!([{ "analysis": {
        "templates": [{ "templateName": "authorized-rate" }],
        "args": [
            { "name": "token", "valueFrom": { "secretKeyRef": { "name": "metrics-token", "key": "token" } } },
            { "name": "rollout", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } }
        ]
    } }]);
    cluster
        .apply::<Rollout>(rollout("vault", V1, 4, steps))
        .await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "vault", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    set_image(&cluster, "vault", V2).await;
    wait_for(
        &api,
        "vault",
        LIMIT,
        "promoted after the analysis",
        healthy_at("3.10"),
    )
    .await;
    let runs: Api<AnalysisRun> = cluster.api();
    let run = runs
        .list(&ListParams::default())
        .await
        .expect("runs")
        .items
        .remove(0);
    let text = serde_json::to_string(&run).expect("json");
    assert!(
        !text.contains("s3cret"),
        "the secret leaked into the run: {text}"
    );
    let status = run.status.expect("status");
    assert_eq!(status.phase, Some(AnalysisPhase::Successful), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_the_rollout_no_longer_needs_is_terminated() {
    let cluster = Cluster::start("terminate").await;
    let _controller = cluster.controller("replica-a").await;
    let rate = cluster::shared(0.01);
    let source = error_rate_source(rate).await;
    cluster
        .apply::<conductor::crd::analysis::AnalysisTemplate>(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": { "name": "watch-errors" },
            "spec": { "metrics": [{
                "name": "error-rate",
                "interval": "1s",
                "successCondition": "result < 0.05",
                "provider": { "web": { "url": format!("{}/rate", source.url()), "jsonPath": "{$.errorRate}" } }
            }] }
        }))
        .await;
    services(&cluster, "bg").await;
    let mut object = rollout("bg", V1, 4, json!([{ "setWeight": 50 }, { "pause": {} }]));
    object["spec"]["strategy"]["canary"]["analysis"] =
        json!({ "templates": [{ "templateName": "watch-errors" }] });
    cluster.apply::<Rollout>(object).await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "bg", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    set_image(&cluster, "bg", V2).await;
    wait_for(&api, "bg", LIMIT, "paused", |r| phase(r) == "Paused").await;
    let runs: Api<AnalysisRun> = cluster.api();
    let start = tokio::time::Instant::now();
    let name = loop {
        let list = runs.list(&ListParams::default()).await.expect("runs").items;
        let measured = list.iter().find(|r| {
            r.status
                .as_ref()
                .is_some_and(|s| s.metric_results.iter().any(|m| m.count >= 2))
        });
        if let Some(run) = measured {
            break run.name_any();
        }
        assert!(
            start.elapsed() < LIMIT,
            "the background run never measured twice: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (code, out) = cli(&cluster, &["promote", "bg", "--full"]).await;
    assert_eq!(code, 0, "{out}");
    wait_for(&api, "bg", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    let run = wait_for(&runs, &name, LIMIT, "terminated", |r| {
        r.spec.terminate == Some(true)
            && r.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Successful)
    })
    .await;
    let message = run.status.and_then(|s| s.message).unwrap_or_default();
    assert!(message.starts_with("terminated"), "{message}");
}

/// `revisionHistoryLimit`: idle ReplicaSets (at zero, neither the
/// template's nor selected by a Service) beyond it are deleted, oldest
/// first; those within it stay for `undo`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_replica_sets_beyond_the_revision_history_limit_are_deleted_oldest_first() {
    let cluster = Cluster::start("history-limit").await;
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "cart").await;
    let mut cart = rollout("cart", V1, 4, json!([{ "setWeight": 50 }]));
    cart["spec"]["revisionHistoryLimit"] = json!(1);
    cluster.apply::<Rollout>(cart).await;
    let api = cluster.api::<Rollout>();
    let hashes = || async {
        replica_sets(&cluster, "cart")
            .await
            .iter()
            .map(|rs| rs.labels()[HASH_LABEL].clone())
            .collect::<BTreeSet<String>>()
    };
    wait_for(&api, "cart", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    let v1 = hashes().await;
    set_image(&cluster, "cart", V2).await;
    wait_for(&api, "cart", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    let v1_v2 = hashes().await;
    set_image(&cluster, "cart", V3).await;
    wait_for(&api, "cart", LIMIT, "healthy on 3.8", healthy_at("3.8")).await;
    // Scaled to zero, the first ReplicaSet was idle and within the limit.
    assert_eq!(v1_v2.len(), 2, "{v1_v2:?}");
    let v2: BTreeSet<String> = v1_v2.difference(&v1).cloned().collect();
    let start = tokio::time::Instant::now();
    loop {
        let now = hashes().await;
        if now.is_disjoint(&v1) {
            assert_eq!(now.len(), 2, "only the oldest went: {now:?}");
            assert!(now.is_superset(&v2), "the newest idle one stays: {now:?}");
            break;
        }
        assert!(
            start.elapsed() < LIMIT,
            "the oldest of two idle ReplicaSets is still there with revisionHistoryLimit 1: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ReplicaSet the stored status names as stable is never deleted,
/// however idle: the status write that retires it may be refused. The soak
/// lost a stable that way (history limit 1, promotion's status write
/// refused) and the rollout stood still.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stable_a_refused_status_write_still_names_is_not_deleted() {
    let cluster = Cluster::start("stable-kept").await;
    let Some(fake) = cluster.fake() else {
        eprintln!("SKIPPED: refusing status writes needs the fake API server");
        return;
    };
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "cart").await;
    let mut cart = rollout("cart", V1, 4, json!([{ "setWeight": 50 }]));
    cart["spec"]["revisionHistoryLimit"] = json!(0);
    cluster.apply::<Rollout>(cart).await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "cart", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    let v1 = replica_sets(&cluster, "cart").await[0].labels()[HASH_LABEL].clone();

    fake.fail_next(fakeapi::Fault {
        method: Some(reqwest::Method::PATCH),
        path_contains: "/rollouts/cart/status".into(),
        status: 500,
        times: usize::MAX,
    });
    set_image(&cluster, "cart", V2).await;
    // The promotion is decided and its ReplicaSets written; only the status
    // that says so is refused. Two more refused writes after v1 is at
    // zero: the decisions that would have deleted it.
    let status_writes = fake.count_requests("/rollouts/cart/status");
    let start = tokio::time::Instant::now();
    let mut refused_since_zero = None;
    loop {
        let sets = replica_sets(&cluster, "cart").await;
        let stable = sets.iter().find(|rs| rs.labels()[HASH_LABEL] == v1);
        assert!(
            stable.is_some(),
            "v1's ReplicaSet was deleted while the stored status still names it stable"
        );
        let at_zero = stable.is_some_and(|rs| replicas(rs) == 0);
        let writes = status_writes.get();
        match refused_since_zero {
            None if at_zero => refused_since_zero = Some(writes),
            Some(then) if writes >= then + 2 => break,
            _ => {}
        }
        assert!(
            start.elapsed() < LIMIT * 2,
            "v1 at zero: {at_zero}, status writes: {writes}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    fake.clear_faults();
    wait_for(&api, "cart", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    let start = tokio::time::Instant::now();
    while replica_sets(&cluster, "cart").await.len() > 1 {
        assert!(
            start.elapsed() < LIMIT,
            "v1 stays once the status names v2 stable, with revisionHistoryLimit 0"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A first revision whose pods never become available is Degraded with
/// `ProgressDeadlineExceeded` at its deadline, as a Deployment would be,
/// not Progressing for ever; and Healthy once they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_revision_without_pods_is_degraded_at_its_progress_deadline() {
    let cluster = Cluster::start("first-deadline").await;
    let Some(simulator) = cluster.simulator() else {
        eprintln!("SKIPPED: holding pods unready needs the fake's simulator");
        return;
    };
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "cart").await;
    let mut cart = rollout("cart", V1, 4, json!([{ "setWeight": 50 }]));
    cart["spec"]["progressDeadlineSeconds"] = json!(3);
    // Unready before its ReplicaSet exists: named after the template.
    let parsed: Rollout = serde_json::from_value(cart.clone()).expect("a rollout");
    let replica_set = format!("cart-{}", template_hash(parsed.spec.template.as_ref()));
    simulator.set_unready(&cluster.namespace, &replica_set, 4);
    cluster.apply::<Rollout>(cart).await;
    let api = cluster.api::<Rollout>();
    let degraded = wait_for(&api, "cart", LIMIT, "degraded at its deadline", |r| {
        phase(r) == "Degraded"
    })
    .await;
    let status = degraded.status.clone().unwrap_or_default();
    let progressing = status.conditions.iter().find(|c| c.type_ == "Progressing");
    assert_eq!(
        progressing.and_then(|c| c.reason.as_deref()),
        Some("ProgressDeadlineExceeded"),
        "{status:?}"
    );
    let message = status.message.unwrap_or_default();
    assert!(
        message.contains("no progress for 3s") && message.contains("0/4 available"),
        "{message}"
    );
    simulator.set_unready(&cluster.namespace, &replica_set, 0);
    wait_for(
        &api,
        "cart",
        LIMIT,
        "healthy once its pods are",
        healthy_at("3.9"),
    )
    .await;
}
