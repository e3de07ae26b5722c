//! `conductor rollout get`: a rollout and what it owns, as a person reads
//! it.

use std::fmt::Write as _;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use crate::crd::analysis::{AnalysisPhase, AnalysisRun};
use crate::crd::experiment::Experiment;
use crate::crd::rollout::{Rollout, RolloutPhase};
use crate::platform::kubernetes::owned_replica_set::written_revision;
use crate::platform::kubernetes::{HASH_LABEL, LABEL_ANNOTATION, ROLLOUT_LABEL};

/// The rollout with its ReplicaSets, analysis runs and experiments, as a
/// person reads it.
pub async fn describe(client: &Client, rollout: &Rollout) -> Result<String, kube::Error> {
    let namespace = rollout.namespace().unwrap_or_default();
    let status = rollout.status.clone().unwrap_or_default();
    let selector = format!("{ROLLOUT_LABEL}={}", rollout.name_any());
    let params = ListParams::default().labels(&selector);
    let sets = Api::<ReplicaSet>::namespaced(client.clone(), &namespace)
        .list(&params)
        .await?;
    let runs = Api::<AnalysisRun>::namespaced(client.clone(), &namespace)
        .list(&params)
        .await?;
    let experiments = Api::<Experiment>::namespaced(client.clone(), &namespace)
        .list(&params)
        .await?;
    let mut text = String::new();
    let _ = writeln!(text, "Name:      {}", rollout.name_any());
    let _ = writeln!(text, "Namespace: {namespace}");
    let _ = writeln!(text, "Phase:     {}", phase(rollout));
    if let Some(message) = &status.message {
        let _ = writeln!(text, "Message:   {message}");
    }
    if let Some(step) = status.current_step_index {
        let steps = rollout
            .spec
            .strategy
            .canary
            .as_ref()
            .map_or(0, |c| c.steps.len());
        let _ = writeln!(text, "Step:      {step}/{steps}");
    }
    if let Some(weights) = status.canary.as_ref().and_then(|c| c.weights.as_ref()) {
        let _ = writeln!(
            text,
            "Weights:   stable {}%, canary {}%",
            weights.stable, weights.canary
        );
    }
    let _ = writeln!(
        text,
        "Revisions: stable {}, canary {}",
        status.stable_revision.as_deref().unwrap_or("-"),
        status.canary_revision.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        text,
        "\n{:<40} {:>8} {:<12} {:>7} {:>5}  ROLE",
        "REPLICASET", "REVISION", "LABEL", "DESIRED", "READY"
    );
    let mut sets = sets.items;
    sets.sort_by_key(|rs| {
        std::cmp::Reverse(
            written_revision(rs.annotations())
                .and_then(|r| r.parse::<u64>().ok())
                .unwrap_or(0),
        )
    });
    for rs in &sets {
        let hash = rs.labels().get(HASH_LABEL).cloned().unwrap_or_default();
        let role = if status.stable_rs.as_deref() == Some(hash.as_str()) {
            "stable"
        } else if status.current_pod_hash.as_deref() == Some(hash.as_str()) {
            "canary"
        } else {
            ""
        };
        let _ = writeln!(
            text,
            "{:<40} {:>8} {:<12} {:>7} {:>5}  {role}",
            rs.name_any(),
            written_revision(rs.annotations()).unwrap_or("-"),
            rs.annotations().get(LABEL_ANNOTATION).map_or("-", |s| s),
            rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            rs.status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0),
        );
    }
    let run_rows = runs.items.iter().map(|run| {
        let status = run.status.clone().unwrap_or_default();
        (run.name_any(), status.phase, status.message)
    });
    phase_table(&mut text, "ANALYSISRUN", run_rows);
    let experiment_rows = experiments.items.iter().map(|experiment| {
        let status = experiment.status.clone().unwrap_or_default();
        (experiment.name_any(), status.phase, status.message)
    });
    phase_table(&mut text, "EXPERIMENT", experiment_rows);
    Ok(text)
}

/// A table of named objects with a phase and a message, under `heading`;
/// nothing when there are none.
fn phase_table(
    text: &mut String,
    heading: &str,
    rows: impl Iterator<Item = (String, Option<AnalysisPhase>, Option<String>)>,
) {
    let mut rows = rows.peekable();
    if rows.peek().is_none() {
        return;
    }
    let _ = writeln!(text, "\n{heading:<52} {:<12} MESSAGE", "PHASE");
    for (name, phase, message) in rows {
        let _ = writeln!(
            text,
            "{name:<52} {:<12} {}",
            phase.unwrap_or_default(),
            message.as_deref().unwrap_or("")
        );
    }
}

/// The rollout's phase as people read it; `Unknown` before the controller
/// has written one.
pub fn phase(rollout: &Rollout) -> &'static str {
    rollout
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .map_or("Unknown", RolloutPhase::as_str)
}
