//! Metric outages through the operator: a provider that is down, one that
//! never answers within the metric's timeout, one answering an empty
//! result or NaN, one whose answers meet neither condition. None of them
//! ever promotes the release. Errors past `consecutiveErrorLimit` end the
//! run as an Error and abort the rollout, the reason in its status and
//! Events; no data and inconclusive answers pause it, the reason in its
//! status, until a person promotes or aborts. Against the in-process fake
//! API server by default; against a real cluster when KUBECONFIG is set.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/rollouts.rs"]
mod rollouts;
#[path = "support/servers.rs"]
mod servers;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster::{Cluster, ControllerProcess, phase, wait_for};
use conductor::crd::analysis::{AnalysisPhase, AnalysisRun, AnalysisTemplate};
use conductor::crd::rollout::{PauseReason, Rollout};
use k8s_openapi::api::events::v1::Event;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use rollouts::{V1, V2, message, rollout, services, set_image, stable_at};
use serde_json::{Value, json};
use servers::{Response, Stub, handler};

const LIMIT: Duration = Duration::from_secs(30);
/// The analysis step; the step after it would set the weight to 50.
const ANALYSIS_STEP: i32 = 1;

/// What a watcher saw of the rollout, every 25 ms, from the release on.
#[derive(Debug, Clone)]
struct Seen {
    stable: Option<String>,
    step: Option<i32>,
    weight: Option<i32>,
}

/// A rollout measured by one template, healthy on v1, then released as
/// v2 while a watcher records every state it passes through.
struct Release {
    cluster: Cluster,
    _controller: ControllerProcess,
    seen: Arc<Mutex<Vec<Seen>>>,
    watcher: tokio::task::JoinHandle<()>,
}

impl Drop for Release {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

const NAME: &str = "shop";

async fn release(test: &str, metric: Value) -> Release {
    let cluster = Cluster::start(test).await;
    let controller = cluster.controller("replica-a").await;
    cluster
        .apply::<AnalysisTemplate>(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": { "name": "health" },
            "spec": { "metrics": [metric] }
        }))
        .await;
    services(&cluster, NAME).await;
    let steps = json!([
        { "setWeight": 25 },
        { "analysis": { "templates": [{ "templateName": "health" }] } },
        { "setWeight": 50 }
    ]);
    cluster.apply::<Rollout>(rollout(NAME, V1, 4, steps)).await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, NAME, LIMIT, "healthy on 3.9", stable_at("3.9")).await;
    set_image(&cluster, NAME, V2).await;
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let watcher = {
        let seen = seen.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(r) = api.get(NAME).await {
                    let status = r.status.clone().unwrap_or_default();
                    seen.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
                        stable: status.stable_revision,
                        step: status.current_step_index,
                        weight: status.canary.and_then(|c| c.weights).map(|w| w.canary),
                    });
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    Release {
        cluster,
        _controller: controller,
        seen,
        watcher,
    }
}

fn paused_inconclusive(r: &Rollout) -> bool {
    r.status.as_ref().is_some_and(|s| {
        s.pause_conditions
            .iter()
            .any(|p| p.reason == PauseReason::InconclusiveAnalysis)
    })
}

impl Release {
    fn api(&self) -> Api<Rollout> {
        self.cluster.api()
    }

    /// Nothing the watcher saw went past the analysis step: once v2's
    /// steps began, the step never passed it, the weight never passed the
    /// step before it, and v2 never became stable.
    fn never_promoted(&self) {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // Until the controller takes v2 up, the status is v1's, done.
        let canary: Vec<&Seen> = seen
            .iter()
            .skip_while(|s| s.step.is_none_or(|step| step > ANALYSIS_STEP))
            .collect();
        assert!(!canary.is_empty(), "v2's steps never began: {seen:?}");
        assert!(
            canary.iter().all(|s| s.step <= Some(ANALYSIS_STEP)),
            "past the analysis step: {seen:?}"
        );
        for state in &seen {
            assert_eq!(state.stable.as_deref(), Some("3.9"), "promoted: {seen:?}");
            assert!(
                state.weight.unwrap_or(0) <= 25,
                "past the analysis step: {seen:?}"
            );
        }
    }

    /// The run of the analysis step, once it reached `want`.
    async fn run(&self, want: AnalysisPhase) -> AnalysisRun {
        let runs: Api<AnalysisRun> = self.cluster.api();
        let start = tokio::time::Instant::now();
        loop {
            let list = runs.list(&ListParams::default()).await.expect("runs").items;
            if let Some(run) = list
                .iter()
                .find(|r| r.status.as_ref().and_then(|s| s.phase) == Some(want))
            {
                return run.clone();
            }
            assert!(
                start.elapsed() < LIMIT,
                "no {want} run after {LIMIT:?}: {list:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Aborted by errors: the rollout is Degraded with the reason in its
    /// status and a RolloutAborted Event; the run is an Error of
    /// `limit + 1` erroring measurements, with an AnalysisError Event.
    async fn aborted_by_errors(&self, limit: i32, reason: &str) {
        let rollout = wait_for(&self.api(), NAME, LIMIT, "aborted", |r| {
            phase(r) == "Degraded" && r.status.as_ref().and_then(|s| s.abort) == Some(true)
        })
        .await;
        let why = message(&rollout);
        assert!(
            why.contains(&format!(
                "consecutive errors, over consecutiveErrorLimit {limit}"
            )) && why.contains(reason),
            "{why}"
        );
        let run = self.run(AnalysisPhase::Error).await;
        let result = &run.status.as_ref().expect("status").metric_results[0];
        let phases: Vec<AnalysisPhase> = result.measurements.iter().map(|m| m.phase).collect();
        assert_eq!(
            phases,
            vec![AnalysisPhase::Error; usize::try_from(limit + 1).unwrap()],
            "{result:?}"
        );
        assert!(
            result
                .measurements
                .iter()
                .all(|m| m.message.as_deref().unwrap_or("").contains(reason)),
            "{result:?}"
        );
        assert!(events(&self.cluster, NAME, "RolloutAborted").await);
        assert!(events(&self.cluster, &run.name_any(), "AnalysisError").await);
        self.never_promoted();
    }

    /// Paused by an inconclusive run: the reason in the rollout's status
    /// and an AnalysisRunInconclusive Event; still paused at the step a
    /// while later.
    async fn paused_with(&self, reason: &str) {
        let rollout = wait_for(&self.api(), NAME, LIMIT, "paused", paused_inconclusive).await;
        let why = message(&rollout);
        assert!(
            why.contains("inconclusive")
                && why.contains(reason)
                && why.ends_with("promote to continue or abort"),
            "{why}"
        );
        self.run(AnalysisPhase::Inconclusive).await;
        assert!(events(&self.cluster, NAME, "AnalysisRunInconclusive").await);
        // Held, not promoted by waiting: a person decides.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let later = self.api().get(NAME).await.expect("the rollout");
        assert!(paused_inconclusive(&later), "{:?}", later.status);
        assert_eq!(
            later.status.as_ref().and_then(|s| s.current_step_index),
            Some(ANALYSIS_STEP)
        );
        self.never_promoted();
    }
}

/// Whether an Event about `name` with `reason` appears within the limit
/// (the controller publishes Events just after the status write).
async fn events(cluster: &Cluster, name: &str, reason: &str) -> bool {
    let events: Api<Event> = cluster.api();
    let start = tokio::time::Instant::now();
    loop {
        let list = events.list(&ListParams::default()).await.expect("events");
        let found = list.items.iter().any(|e| {
            e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                && e.reason.as_deref() == Some(reason)
        });
        if found || start.elapsed() > LIMIT {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Prometheus instant-query answer.
fn prometheus_answer(result: &str) -> String {
    format!(r#"{{"status":"success","data":{{"resultType":"vector","result":{result}}}}}"#)
}

async fn prometheus(result: &'static str) -> Stub {
    Stub::start(handler(move |_| async move {
        Response::new(200, prometheus_answer(result))
    }))
    .await
}

async fn web(body: &'static str) -> Stub {
    Stub::start(handler(move |_| async move { Response::new(200, body) })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_is_down_aborts_after_consecutive_errors() {
    // Nothing listens there: every connection is refused.
    let address = format!("http://127.0.0.1:{}", servers::free_port());
    let release = release(
        "down",
        json!({
            "name": "error-rate",
            "interval": "200ms",
            "consecutiveErrorLimit": 2,
            "successCondition": "result[0] < 0.05",
            "provider": { "prometheus": { "address": address, "query": "errors" } }
        }),
    )
    .await;
    release.aborted_by_errors(2, "cannot connect").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_never_answers_in_time_aborts_after_consecutive_errors() {
    let hanging = Stub::start(handler(|_| async {
        tokio::time::sleep(Duration::from_secs(20)).await;
        Response::new(200, r#"{"errorRate": 0.0}"#)
    }))
    .await;
    let release = release(
        "timeout",
        json!({
            "name": "error-rate",
            "interval": "200ms",
            "consecutiveErrorLimit": 1,
            "successCondition": "result < 0.05",
            "provider": { "web": {
                "url": format!("{}/rate", hanging.url()),
                "jsonPath": "{$.errorRate}",
                "timeoutSeconds": 1
            } }
        }),
    )
    .await;
    release.aborted_by_errors(1, "timed out").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_result_pauses_with_the_reason_in_status() {
    let source = prometheus("[]").await;
    let release = release(
        "empty",
        json!({
            "name": "error-rate",
            "successCondition": "result[0] < 0.05",
            "provider": { "prometheus": { "address": source.url(), "query": "errors" } }
        }),
    )
    .await;
    release
        .paused_with("no data (empty or NaN result): noDataPolicy is inconclusive")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nan_result_pauses_with_the_reason_in_status() {
    // 0/0 over a window without requests, as Prometheus answers it.
    let source = prometheus(r#"[{"metric":{},"value":[1700000000,"NaN"]}]"#).await;
    let release = release(
        "nan",
        json!({
            "name": "error-rate",
            "successCondition": "result[0] < 0.05",
            "failureCondition": "result[0] >= 0.05",
            "provider": { "prometheus": { "address": source.url(), "query": "errors" } }
        }),
    )
    .await;
    release
        .paused_with("no data (empty or NaN result): noDataPolicy is inconclusive")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_meeting_neither_condition_pause_past_the_inconclusive_limit() {
    let source = web(r#"{"errorRate": 0.1}"#).await;
    let release = release(
        "neither",
        json!({
            "name": "error-rate",
            "interval": "200ms",
            "count": 5,
            "inconclusiveLimit": 1,
            "successCondition": "result < 0.05",
            "failureCondition": "result > 0.2",
            "provider": { "web": {
                "url": format!("{}/rate", source.url()),
                "jsonPath": "{$.errorRate}"
            } }
        }),
    )
    .await;
    release
        .paused_with(
            "2 inconclusive measurements, over inconclusiveLimit 1; last: 0.1: neither \
             successCondition nor failureCondition holds",
        )
        .await;
}
