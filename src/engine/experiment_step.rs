//! The canary `experiment` step: the rollout asks for an Experiment built
//! from its stable and canary templates, waits for its verdict, and aborts
//! when it fails, as it does for a failed analysis run.

use super::decision::{DecisionState, EventType};
use super::desired::DesiredExperiment;
use super::lifecycle::{abort_for_run, hold_inconclusive};
use crate::crd::analysis::AnalysisPhase;
use crate::crd::rollout::{CanaryStatus, RolloutExperiment};

/// `Some(true)` once the experiment succeeded, `Some(false)` while it runs
/// or is inconclusive, `None` when it failed and the rollout aborted.
pub fn walk(
    ctx: &mut DecisionState,
    experiment: &RolloutExperiment,
    index: usize,
    steps: usize,
    (canary_hash, stable_hash): (&str, &str),
) -> Option<bool> {
    let name = ctx.experiment_name(index);
    let status = ctx.status.canary.get_or_insert_with(CanaryStatus::default);
    if status.current_experiment.as_deref() != Some(name.as_str()) {
        status.current_experiment = Some(name.clone());
        ctx.event(
            EventType::Normal,
            "ExperimentStarted",
            format!("step {}/{steps}: experiment {name}", index + 1),
        );
    }
    let found = ctx.observed.experiment(&name).cloned();
    match found.as_ref().map(|e| e.phase) {
        Some(AnalysisPhase::Successful) => Some(true),
        Some(phase @ (AnalysisPhase::Failed | AnalysisPhase::Error)) => {
            abort_for_run(
                ctx,
                &format!("experiment {name}"),
                phase,
                found.and_then(|e| e.message),
            );
            None
        }
        phase => {
            keep(ctx, &name, index, experiment, (canary_hash, stable_hash));
            if phase == Some(AnalysisPhase::Inconclusive) {
                hold_inconclusive(ctx, &format!("experiment {name}"));
            } else {
                ctx.waiting = Some(format!(
                    "step {}/{steps}: waiting for experiment {name}",
                    index + 1
                ));
            }
            Some(false)
        }
    }
}

/// The step is over: its experiment is recorded and forgotten.
pub fn passed(ctx: &mut DecisionState, index: usize, steps: usize) {
    let name = ctx
        .status
        .canary
        .as_mut()
        .and_then(|c| c.current_experiment.take())
        .unwrap_or_default();
    ctx.event(
        EventType::Normal,
        "ExperimentSuccessful",
        format!("step {}/{steps}: experiment {name} passed", index + 1),
    );
}

/// Keeps the experiment going (once, however often it is asked for).
pub fn keep(
    ctx: &mut DecisionState,
    name: &str,
    index: usize,
    experiment: &RolloutExperiment,
    (canary_hash, stable_hash): (&str, &str),
) {
    if ctx.desired.experiments.iter().any(|e| e.name == name) {
        return;
    }
    ctx.desired.experiments.push(DesiredExperiment {
        name: name.to_owned(),
        step: index,
        canary_hash: canary_hash.to_owned(),
        stable_hash: stable_hash.to_owned(),
        experiment: experiment.clone(),
    });
}
