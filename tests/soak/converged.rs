//! When a rollout has converged: its status is about its current spec,
//! every request on it was acted on, and it is either Healthy at its
//! latest revision or visibly aborted at it.

use serde_json::Value;

use crate::objects::{NAMESPACE, ROLLOUTS, object_name, tag};
use conductor::platform::kubernetes::requests::REQUEST_ANNOTATION;
use fakeapi::FakeApi;

#[derive(Debug, Default)]
pub struct Tally {
    pub healthy: usize,
    pub aborted: usize,
    /// Not converged yet: the first few, with why.
    pub waiting: Vec<String>,
    pub waiting_count: usize,
}

impl Tally {
    pub fn done(&self) -> bool {
        self.waiting_count == 0
    }
}

pub fn tally(fake: &FakeApi) -> Tally {
    let mut tally = Tally::default();
    for rollout in fake.list_objects(ROLLOUTS, Some(NAMESPACE)) {
        match state(&rollout) {
            Ok(true) => tally.healthy += 1,
            Ok(false) => tally.aborted += 1,
            Err(why) => {
                tally.waiting_count += 1;
                if tally.waiting.len() < 5 {
                    tally
                        .waiting
                        .push(format!("{}: {why}", object_name(&rollout)));
                }
            }
        }
    }
    tally
}

/// `Ok(true)` Healthy at the latest revision, `Ok(false)` aborted at it,
/// `Err` not converged (and why).
fn state(rollout: &Value) -> Result<bool, String> {
    let status = &rollout["status"];
    let latest = tag(rollout).unwrap_or_default();
    let text = |field: &str| status[field].as_str().unwrap_or_default();
    if status["observedGeneration"] != rollout["metadata"]["generation"] {
        return Err(format!(
            "status is of generation {}, spec is {}",
            status["observedGeneration"], rollout["metadata"]["generation"]
        ));
    }
    let request = rollout["metadata"]["annotations"][REQUEST_ANNOTATION].as_str();
    if request.is_some_and(|r| r != text("lastRequest")) {
        return Err(format!(
            "request {request:?} not acted on (last {:?})",
            text("lastRequest")
        ));
    }
    if text("canaryRevision") != latest {
        return Err(format!(
            "canary revision {:?}, latest {latest:?}",
            text("canaryRevision")
        ));
    }
    let phase = text("phase");
    if status["abort"] == true {
        return if phase == "Degraded" {
            Ok(false)
        } else {
            Err(format!("aborted but {phase}"))
        };
    }
    if phase == "Healthy" && text("stableRevision") == latest {
        Ok(true)
    } else {
        Err(format!(
            "{phase} at step {}, stable {:?}: {}",
            status["currentStepIndex"],
            text("stableRevision"),
            text("message")
        ))
    }
}
