//! Experiments through the operator: a canary step runs the stable and
//! canary templates side by side with an analysis comparing them, goes on
//! when it passes and aborts the rollout when it fails; a standalone
//! Experiment runs for its duration and scales down. Against the
//! in-process fake API server by default; against a real cluster when
//! KUBECONFIG is set.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/rollouts.rs"]
mod rollouts;
#[path = "support/servers.rs"]
mod servers;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster::{Cluster, phase, wait_for};
use conductor::crd::analysis::{AnalysisPhase, AnalysisRun, AnalysisTemplate};
use conductor::crd::experiment::Experiment;
use conductor::crd::rollout::Rollout;
use conductor::platform::kubernetes::HASH_LABEL;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::{Api, ResourceExt};
use rollouts::{V1, V2, V3, engine_healthy_at, replicas, rollout, services, set_image};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(40);

/// A web metric source answering the error rate the test sets, and
/// remembering the query each measurement asked with.
struct Source {
    stub: servers::Stub,
    rate: Arc<Mutex<f64>>,
    queries: Arc<Mutex<Vec<String>>>,
}

async fn source() -> Source {
    let rate = Arc::new(Mutex::new(0.01));
    let queries = Arc::new(Mutex::new(Vec::new()));
    let (answer, seen) = (rate.clone(), queries.clone());
    let stub = servers::Stub::start(servers::handler(move |request| {
        let rate = *answer.lock().unwrap_or_else(|e| e.into_inner());
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request.query);
        async move { servers::Response::new(200, json!({ "errorRate": rate }).to_string()) }
    }))
    .await;
    Source {
        stub,
        rate,
        queries,
    }
}

/// Compares the canary's pods (by their pod-template hash, which the
/// experiment passes in) against a threshold.
async fn compare_template(cluster: &Cluster, url: &str) {
    cluster
        .apply::<AnalysisTemplate>(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": { "name": "compare" },
            "spec": {
                "args": [{ "name": "canary-hash" }],
                "metrics": [{
                    "name": "error-rate",
                    "interval": "1s",
                    "count": 2,
                    "successCondition": "result < 0.05",
                    "failureLimit": 0,
                    "provider": { "web": {
                        "url": format!("{url}/rate?pods={{{{args.canary-hash}}}}"),
                        "jsonPath": "{$.errorRate}"
                    } }
                }]
            }
        }))
        .await;
}

/// 50%, then an experiment running the stable and canary templates side
/// by side for 3 s, compared by the `compare` template, then 100%.
fn experiment_steps() -> serde_json::Value {
    json!([
        { "setWeight": 50 },
        { "experiment": {
            "duration": "3s",
            "templates": [
                { "name": "baseline", "specRef": "stable" },
                { "name": "canary", "specRef": "canary" }
            ],
            "analyses": [{
                "name": "compare",
                "templateName": "compare",
                "args": [{
                    "name": "canary-hash",
                    "value": "{{templates.canary.podTemplateHash}}"
                }]
            }]
        } },
        { "setWeight": 100 }
    ])
}

fn image(rs: &ReplicaSet) -> Option<String> {
    rs.spec
        .as_ref()?
        .template
        .as_ref()?
        .spec
        .as_ref()?
        .containers
        .first()?
        .image
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_experiment_step_compares_baseline_and_canary_then_promotes_or_aborts() {
    let cluster = Cluster::start("experiment-step").await;
    let _controller = cluster.controller("replica-a").await;
    let source = source().await;
    compare_template(&cluster, &source.stub.url()).await;
    services(&cluster, "shop").await;
    cluster
        .apply::<Rollout>(rollout("shop", V1, 2, experiment_steps()))
        .await;
    let rollouts = cluster.api::<Rollout>();
    wait_for(
        &rollouts,
        "shop",
        LIMIT,
        "healthy on 3.9",
        engine_healthy_at("3.9"),
    )
    .await;

    set_image(&cluster, "shop", V2).await;
    let experiments: Api<Experiment> = cluster.api();
    let running = wait_for(&rollouts, "shop", LIMIT, "at the experiment step", |r| {
        r.status
            .as_ref()
            .and_then(|s| s.canary.as_ref())
            .and_then(|c| c.current_experiment.clone())
            .is_some()
    })
    .await;
    let name = running
        .status
        .and_then(|s| s.canary)
        .and_then(|c| c.current_experiment)
        .expect("the experiment's name");
    // Its ReplicaSets run the stable and the canary templates, under
    // pod-template hashes of their own.
    let sets = cluster.api::<ReplicaSet>();
    let baseline = wait_for(
        &sets,
        &format!("{name}-baseline"),
        LIMIT,
        "baseline",
        |rs| replicas(rs) == 1,
    )
    .await;
    let canary = wait_for(&sets, &format!("{name}-canary"), LIMIT, "canary", |rs| {
        replicas(rs) == 1
    })
    .await;
    assert_eq!(image(&baseline).as_deref(), Some(V1));
    assert_eq!(image(&canary).as_deref(), Some(V2));
    let canary_hash = canary.labels()[HASH_LABEL].clone();
    let rollout_hash = running_hash(&rollouts).await;
    assert_ne!(
        canary_hash, rollout_hash,
        "the experiment's pods are its own"
    );

    wait_for(
        &rollouts,
        "shop",
        LIMIT,
        "promoted to 3.10",
        engine_healthy_at("3.10"),
    )
    .await;
    let passed = experiments.get(&name).await.expect("the experiment");
    let status = passed.status.expect("its status");
    assert_eq!(status.phase, Some(AnalysisPhase::Successful), "{status:?}");
    assert_eq!(
        status.analysis_runs[0].analysis_run,
        format!("{name}-compare")
    );
    let (code, out) = cluster.cli(&["get", "shop"]).await;
    assert_eq!(code, 0, "{out}");
    let listed = out
        .lines()
        .skip_while(|l| !l.starts_with("EXPERIMENT "))
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no experiment {name} in:\n{out}"));
    assert!(listed.contains("Successful"), "{listed}");
    let run: Api<AnalysisRun> = cluster.api();
    let run = run.get(&format!("{name}-compare")).await.expect("the run");
    assert_eq!(
        run.status.and_then(|s| s.phase),
        Some(AnalysisPhase::Successful)
    );
    assert!(
        source
            .queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|q| *q == format!("pods={canary_hash}")),
        "the analysis measured the experiment's canary pods"
    );
    for template in ["baseline", "canary"] {
        wait_for(
            &sets,
            &format!("{name}-{template}"),
            LIMIT,
            "scaled down",
            |rs| replicas(rs) == 0,
        )
        .await;
    }

    // A bad release: the experiment's analysis fails, the rollout aborts.
    *source.rate.lock().unwrap_or_else(|e| e.into_inner()) = 0.4;
    set_image(&cluster, "shop", V3).await;
    let aborted = wait_for(&rollouts, "shop", LIMIT, "aborted", |r| {
        phase(r) == "Degraded" && r.status.as_ref().and_then(|s| s.abort) == Some(true)
    })
    .await;
    let message = aborted.status.and_then(|s| s.message).unwrap_or_default();
    assert!(
        message.contains("experiment shop-") && message.contains("failed: analysis compare failed"),
        "{message}"
    );
}

/// The hash the rollout's own canary pods run under.
async fn running_hash(rollouts: &Api<Rollout>) -> String {
    rollouts
        .get("shop")
        .await
        .expect("the rollout")
        .status
        .and_then(|s| s.current_pod_hash)
        .expect("a current pod hash")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_experiment_runs_for_its_duration_and_scales_down() {
    let cluster = Cluster::start("experiment").await;
    let _controller = cluster.controller("replica-a").await;
    cluster
        .apply_as_written(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "Experiment",
            "metadata": { "name": "side-by-side" },
            "spec": {
                "duration": "2s",
                "templates": [
                    {
                        "name": "purple",
                        "replicas": 2,
                        "selector": { "matchLabels": { "app": "demo", "color": "purple" } },
                        "template": {
                            "metadata": { "labels": { "app": "demo", "color": "purple" } },
                            "spec": { "containers": [{ "name": "app", "image": V1 }] }
                        }
                    },
                    {
                        "name": "orange",
                        "selector": { "matchLabels": { "app": "demo", "color": "orange" } },
                        "template": {
                            "metadata": { "labels": { "app": "demo", "color": "orange" } },
                            "spec": { "containers": [{ "name": "app", "image": V2 }] }
                        }
                    }
                ]
            }
        }))
        .await;
    let experiments: Api<Experiment> = cluster.api();
    let running = wait_for(&experiments, "side-by-side", LIMIT, "running", |e| {
        e.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Running)
    })
    .await;
    let status = running.status.expect("status");
    assert!(status.available_at.is_some());
    let available: Vec<(String, i32)> = status
        .template_statuses
        .iter()
        .map(|t| (t.name.clone(), t.available_replicas))
        .collect();
    assert_eq!(
        available,
        [("purple".to_owned(), 2), ("orange".to_owned(), 1)]
    );
    wait_for(&experiments, "side-by-side", LIMIT, "successful", |e| {
        e.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Successful)
    })
    .await;
    let sets = cluster.api::<ReplicaSet>();
    for template in ["purple", "orange"] {
        wait_for(
            &sets,
            &format!("side-by-side-{template}"),
            LIMIT,
            "scaled down",
            |rs| replicas(rs) == 0,
        )
        .await;
    }
}

/// An experiment whose template the API server refuses (Argo's malformed
/// quantity): the refusal is a Warning Event on the Experiment, naming the
/// server's answer, and the experiment fails at its progress deadline
/// instead of trying in silence for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_experiment_whose_replica_set_is_refused_says_so_and_fails_at_its_deadline() {
    let cluster = Cluster::start("experiment-refused").await;
    let _controller = cluster.controller("replica-a").await;
    cluster
        .apply_as_written(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "Experiment",
            "metadata": { "name": "malformed" },
            "spec": {
                "progressDeadlineSeconds": 6,
                "templates": [{
                    "name": "baseline",
                    "selector": { "matchLabels": { "app": "demo" } },
                    "template": {
                        "metadata": { "labels": { "app": "demo" } },
                        "spec": { "containers": [{
                            "name": "app",
                            "image": V1,
                            "resources": { "requests": { "cpu": "notaquantity" } }
                        }] }
                    }
                }]
            }
        }))
        .await;
    let warning = cluster
        .event("malformed", "ReplicaSetCreateError", LIMIT)
        .await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let note = warning.note.unwrap_or_default();
    for part in [
        "the API server refused to create ReplicaSet malformed-baseline",
        "400 BadRequest",
        "quantities must match the regular expression",
    ] {
        assert!(note.contains(part), "no `{part}` in {note}");
    }
    let experiments: Api<Experiment> = cluster.api();
    let failed = wait_for(&experiments, "malformed", LIMIT, "failed", |e| {
        e.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Failed)
    })
    .await;
    let message = failed.status.and_then(|s| s.message).unwrap_or_default();
    assert!(message.contains("after 6s"), "{message}");
}

/// An Experiment running one pod of `template` (3.9), and nothing else.
fn one_template_experiment(name: &str, template: &str) -> serde_json::Value {
    json!({
        "apiVersion": "conductor.dev/v1alpha1",
        "kind": "Experiment",
        "metadata": { "name": name },
        "spec": { "templates": [{
            "name": template,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "app", "image": V1 }] }
            }
        }] }
    })
}

/// An experiment naming an analysis template that is not there yet
/// (applied in the same `kubectl apply` as its template, in the wrong
/// order): it waits, Pending and saying for what, with its clock not
/// started; the template's arrival lets it run and its analysis pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_experiment_waits_for_its_analysis_template() {
    let cluster = Cluster::start("experiment-waits").await;
    let _controller = cluster.controller("replica-a").await;
    let source = source().await;
    let mut early = one_template_experiment("early", "canary");
    early["spec"]["analyses"] = json!([{
        "name": "compare",
        "templateName": "compare",
        "requiredForCompletion": true,
        "args": [{ "name": "canary-hash", "value": "{{templates.canary.podTemplateHash}}" }]
    }]);
    cluster.apply_as_written(early).await;
    let experiments: Api<Experiment> = cluster.api();
    let expected = format!(
        "waiting for AnalysisTemplate compare in namespace {} \
         (named by spec.analyses[0].templateName): not found",
        cluster.namespace
    );
    let waiting = wait_for(&experiments, "early", LIMIT, "waiting", |e| {
        e.status.as_ref().and_then(|s| s.message.as_deref()) == Some(expected.as_str())
    })
    .await;
    let status = waiting.status.expect("status");
    assert_eq!(status.phase, Some(AnalysisPhase::Pending));
    assert_eq!(status.available_at, None);
    cluster.event("early", "WaitingForReference", LIMIT).await;
    let runs: Api<AnalysisRun> = cluster.api();
    assert!(runs.get_opt("early-compare").await.expect("get").is_none());

    compare_template(&cluster, &source.stub.url()).await;
    let done = wait_for(&experiments, "early", LIMIT, "successful", |e| {
        e.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Successful)
    })
    .await;
    assert_eq!(
        done.status.and_then(|s| s.message).as_deref(),
        Some("the analyses required for completion passed")
    );
    let queries = source.queries.lock().unwrap_or_else(|e| e.into_inner());
    assert!(!queries.is_empty(), "the analysis measured");
}

/// `conductor rollout terminate experiment|analysisrun NAME` ends one
/// that would run until told, and says how it ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_terminates_an_experiment_and_an_analysis_run() {
    let cluster = Cluster::start("terminate").await;
    let _controller = cluster.controller("replica-a").await;
    let source = source().await;
    cluster
        .apply_as_written(one_template_experiment("open-ended", "probe"))
        .await;
    cluster
        .apply_as_written(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "AnalysisRun",
            "metadata": { "name": "watching" },
            "spec": { "metrics": [{
                "name": "error-rate",
                "interval": "1s",
                "successCondition": "result < 0.05",
                "provider": { "web": {
                    "url": format!("{}/rate", source.stub.url()),
                    "jsonPath": "{$.errorRate}"
                } }
            }] }
        }))
        .await;
    let experiments: Api<Experiment> = cluster.api();
    wait_for(&experiments, "open-ended", LIMIT, "running", |e| {
        e.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Running)
    })
    .await;
    let runs: Api<AnalysisRun> = cluster.api();
    wait_for(&runs, "watching", LIMIT, "measuring", |r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.metric_results.first().is_some_and(|m| m.count >= 2))
    })
    .await;

    let (code, out) = cluster
        .cli(&["terminate", "experiment", "open-ended"])
        .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "terminate: experiment open-ended: Successful (terminated)\n"
    );
    let (code, out) = cluster.cli(&["terminate", "analysisrun", "watching"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("terminate: analysisrun watching: Successful"),
        "{out}"
    );
    let error = cluster
        .cli_error(&["terminate", "analysisrun", "nowhere"])
        .await;
    assert_eq!(
        error,
        format!(
            "analysisrun nowhere not found in namespace {}",
            cluster.namespace
        )
    );
}
