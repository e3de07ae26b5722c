//! A stand-in for Kubernetes' Job controller: a new Job runs for a moment,
//! then completes, or fails as its pod template asks
//! ([`EXIT_CODE_ANNOTATION`], since no container really runs here). Each
//! attempt leaves a Pod labelled `job-name` with its container's
//! termination state, and the Job ends with the conditions and counts the
//! real controller writes (`Complete`, or `Failed` with
//! `BackoffLimitExceeded` after `backoffLimit + 1` attempts).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::meta::meta_str;
use crate::path::ResourceKey;
use crate::selector::Filter;
use crate::shared::Shared;
use crate::store::{Event, EventKind, Store};
use crate::writes::WritePart;

/// On a Job's pod template: the exit code its container "exits" with.
pub const EXIT_CODE_ANNOTATION: &str = "fakeapi.conductor.dev/exit-code";

/// How long a Job runs before it ends: long enough for a watcher to see it
/// running.
const RUN_FOR: Duration = Duration::from_millis(200);

/// Attempts kept as Pods at most, however large `backoffLimit` is.
const MAX_ATTEMPT_PODS: i64 = 7;

pub(super) fn job_key() -> ResourceKey {
    ResourceKey::new("batch/v1", "jobs")
}

fn pod_key() -> ResourceKey {
    ResourceKey::new("v1", "pods")
}

pub(super) async fn run(shared: Arc<Shared>, mut events: broadcast::Receiver<Arc<Event>>) {
    resync(&shared);
    loop {
        match events.recv().await {
            Ok(event) if event.kind == EventKind::Added => start(&shared, &event.object),
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => resync(&shared),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Starts every Job that has not ended (at start, and after missed events).
fn resync(shared: &Arc<Shared>) {
    let jobs = shared.lock().list(&job_key(), None, &Filter::default());
    for job in jobs.iter().filter(|j| !ended(j)) {
        start(shared, job);
    }
}

fn ended(job: &Value) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| matches!(c["type"].as_str(), Some("Complete" | "Failed")))
        })
}

fn start(shared: &Arc<Shared>, job: &Value) {
    let (Some(ns), Some(name), Some(uid)) = (
        meta_str(job, "namespace"),
        meta_str(job, "name"),
        meta_str(job, "uid"),
    ) else {
        return;
    };
    let (ns, name, uid) = (ns.to_owned(), name.to_owned(), uid.to_owned());
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(RUN_FOR).await;
        let mut store = shared.lock();
        // Deleted, or replaced by a Job of the same name, in the meantime.
        let Ok(job) = store.get(&job_key(), &ns, &name) else {
            return;
        };
        if meta_str(&job, "uid") != Some(uid.as_str()) || ended(&job) {
            return;
        }
        finish(&mut store, &job, &ns, &name, &uid);
    });
}

fn finish(store: &mut Store, job: &Value, ns: &str, name: &str, uid: &str) {
    let exit_code: i64 = job
        .pointer("/spec/template/metadata/annotations")
        .and_then(|a| a.get(EXIT_CODE_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    let attempts = if exit_code == 0 {
        1
    } else {
        job.pointer("/spec/backoffLimit")
            .and_then(Value::as_i64)
            .unwrap_or(6)
            .saturating_add(1)
            .clamp(1, MAX_ATTEMPT_PODS)
    };
    for _ in 0..attempts {
        // The namespace exists (the Job is in it); a failure only loses a
        // Pod that says how the attempt ended.
        let _ = store.create(&pod_key(), ns, attempt_pod(job, name, uid, exit_code), true);
    }
    let now = jiff::Timestamp::now().to_string();
    let mut status = job
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    status.insert("startTime".into(), json!(now));
    let conditions = if exit_code == 0 {
        status.insert("succeeded".into(), json!(1));
        status.insert("completionTime".into(), json!(now));
        vec![
            condition(
                "SuccessCriteriaMet",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                &now,
            ),
            condition(
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                &now,
            ),
        ]
    } else {
        status.insert("failed".into(), json!(attempts));
        vec![
            condition(
                "FailureTarget",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                &now,
            ),
            condition(
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                &now,
            ),
        ]
    };
    status.insert("conditions".into(), Value::Array(conditions));
    status.insert("ready".into(), json!(0));
    status.insert("terminating".into(), json!(0));
    // The Job was read under the same lock, so it still exists.
    let _ = store.update(
        &job_key(),
        ns,
        name,
        json!({ "status": Value::Object(status) }),
        WritePart::Status,
        None,
    );
}

fn condition(kind: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": now,
        "lastTransitionTime": now,
    })
}

fn attempt_pod(job: &Value, name: &str, uid: &str, exit_code: i64) -> Value {
    let mut labels: Map<String, Value> = job
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (key, value) in [
        ("job-name", name),
        ("batch.kubernetes.io/job-name", name),
        ("controller-uid", uid),
        ("batch.kubernetes.io/controller-uid", uid),
    ] {
        labels.insert(key.into(), json!(value));
    }
    let spec = job
        .pointer("/spec/template/spec")
        .cloned()
        .unwrap_or_else(|| json!({"containers": []}));
    let statuses: Vec<Value> = spec
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            json!({
                "name": c.get("name").cloned().unwrap_or(Value::Null),
                "image": c.get("image").cloned().unwrap_or(Value::Null),
                "ready": false,
                "restartCount": 0,
                "state": {"terminated": {
                    "exitCode": exit_code,
                    "reason": if exit_code == 0 { "Completed" } else { "Error" },
                }},
            })
        })
        .collect();
    super::pods::controlled_pod(
        ("batch/v1", "Job", name, uid),
        Value::Object(labels),
        spec,
        json!({
            "phase": if exit_code == 0 { "Succeeded" } else { "Failed" },
            "containerStatuses": statuses,
        }),
    )
}
