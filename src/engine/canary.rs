//! Canary: the new revision takes traffic step by step (setWeight, pause,
//! analysis, setCanaryScale) and becomes stable after the last step.

use super::decision::{DecisionState, EventType};
use super::desired::RunKind;
use super::experiment_step;
use super::lifecycle::{self, abort_for_run, hold_inconclusive, is_aborted, keep_run};
use super::managed_routes;
use super::scale::{self, ReplicaTarget};
use super::settings::{Canary, CanaryScale, Settings, Step};
use crate::crd::analysis::AnalysisPhase;
use crate::crd::rollout::{CanaryStatus, PauseReason, RolloutAnalysis, TrafficWeights};

pub fn decide(ctx: &mut DecisionState, settings: &Settings, canary: &Canary) {
    ctx.desired.weight_total = canary.max_weight;
    walk_strategy(ctx, settings, canary);
    managed_routes::keep(ctx, canary);
}

fn walk_strategy(ctx: &mut DecisionState, settings: &Settings, canary: &Canary) {
    let steps = canary.steps.len();
    let promote = lifecycle::begin(ctx, settings, steps);
    let hash = ctx.observed.template_hash.clone();
    let stable = ctx.status.stable_rs.clone().unwrap_or_else(|| hash.clone());
    ctx.desired.stable_hash = Some(stable.clone());
    ctx.desired.canary_hash = Some(hash.clone());
    if settings.paused {
        lifecycle::freeze(ctx);
        hold_analysis_runs(ctx, canary);
        ctx.waiting = Some("paused by spec.paused".into());
        return;
    }
    if hash != stable && !is_aborted(ctx) {
        if promote {
            promote_step(ctx, steps);
        }
        advance(ctx, settings, canary, &hash, &stable);
    }
    // Advancing may have promoted (stable is now `hash`) or aborted.
    let stable = ctx.status.stable_rs.clone().unwrap_or_else(|| hash.clone());
    ctx.desired.stable_hash = Some(stable.clone());
    if hash == stable || is_aborted(ctx) {
        // Whatever advancing asked for or waited on no longer applies.
        ctx.desired.replica_sets.clear();
        ctx.desired.analysis_runs.clear();
        ctx.desired.experiments.clear();
        ctx.desired.requeue_after_ms = None;
        ctx.waiting = None;
    }
    if hash == stable {
        set_weight(ctx, canary, 0);
        let mut targets = lifecycle::retire_others_within(
            ctx,
            &[&stable],
            canary.scale_down_delay_ms,
            canary.delayed_revisions,
        );
        targets.push(ReplicaTarget::new(&stable, settings.replicas));
        scale::apply(ctx, settings, targets, true);
        if ctx.observed.available(&stable) < settings.replicas {
            ctx.waiting = Some(format!(
                "waiting for stable pods: {}/{} available",
                ctx.observed.available(&stable),
                settings.replicas
            ));
        }
    } else if is_aborted(ctx) {
        set_weight(ctx, canary, 0);
        let mut targets = lifecycle::retire_others(ctx, &[&stable, &hash], 0);
        targets.push(lifecycle::retire(
            ctx,
            &hash,
            canary.abort_scale_down_delay_ms,
        ));
        targets.push(ReplicaTarget::new(&stable, settings.replicas));
        scale::apply(ctx, settings, targets, !canary.traffic_routed);
    }
}

/// `promote`: leave the current step (a pause, an analysis, a weight not yet reached).
fn promote_step(ctx: &mut DecisionState, steps: usize) {
    let index = current_index(ctx, steps);
    ctx.status.pause_conditions.clear();
    if index < steps {
        ctx.status.current_step_index = Some(lifecycle::step_index(index + 1));
        ctx.event(
            EventType::Normal,
            "Promoted",
            format!("step {}/{steps} skipped on request", index + 1),
        );
    }
}

fn current_index(ctx: &DecisionState, steps: usize) -> usize {
    ctx.status
        .current_step_index
        .map_or(0, |i| usize::try_from(i).unwrap_or(0))
        .min(steps)
}

/// Walks the steps as far as the observed world allows, then asks for the
/// world the step it stops at needs.
fn advance(
    ctx: &mut DecisionState,
    settings: &Settings,
    canary: &Canary,
    hash: &str,
    stable: &str,
) {
    if background_analysis(ctx, canary, hash) {
        walk(ctx, settings, canary, hash, stable);
        // The steps may have reached the background analysis' starting step.
        if !is_aborted(ctx) && ctx.status.stable_rs.as_deref() != Some(hash) {
            background_analysis(ctx, canary, hash);
        }
    }
}

fn walk(ctx: &mut DecisionState, settings: &Settings, canary: &Canary, hash: &str, stable: &str) {
    let steps = canary.steps.len();
    loop {
        let index = current_index(ctx, steps);
        let full = ctx.status.promote_full == Some(true) || index >= steps;
        let weight = if full {
            canary.max_weight
        } else {
            weight_at(&canary.steps, index)
        };
        let canary_target = at_least_min(
            canary,
            if full {
                settings.replicas
            } else {
                canary_replicas(settings, canary, index, weight)
            },
        );
        let stable_target = if canary.traffic_routed {
            at_least_min(canary, settings.replicas)
        } else {
            (settings.replicas - canary_target).max(0)
        };
        let canary_available = ctx.observed.available(hash);
        let stable_asked = ctx.observed.replica_set(stable).map_or(0, |rs| rs.replicas);
        let pods_ready = canary_available >= canary_target && stable_asked <= stable_target;
        let weight_now = if canary.traffic_routed && canary_available < canary_target {
            // Traffic only moves once the pods to take it are up.
            current_weight(ctx).min(weight)
        } else {
            weight
        };
        let weight_applied = ctx.observed.traffic_weight.is_none_or(|w| w == weight_now);
        if full {
            if pods_ready && weight_applied && weight_now == canary.max_weight {
                // The caller scales for the new stable.
                complete(ctx, stable);
                return;
            }
            hold_at(
                ctx,
                settings,
                canary,
                (hash, canary_target),
                (stable, stable_target),
                weight_now,
            );
            ctx.waiting = Some(format!(
                "promoting: canary pods {canary_available}/{canary_target} available"
            ));
            return;
        }
        let held_before = held(ctx);
        let step_done = match &canary.steps[index] {
            Step::SetWeight(_) => {
                if pods_ready && weight_applied {
                    true
                } else {
                    ctx.waiting = Some(format!(
                        "step {}/{steps} setWeight {weight}: canary pods {canary_available}/{canary_target} available",
                        index + 1
                    ));
                    false
                }
            }
            // The route is kept from this step on (see `managed_routes`).
            Step::SetCanaryScale(_) | Step::Route(..) => true,
            // An inconclusive analysis stops the pause clock too.
            Step::Pause(_) if held_before => false,
            Step::Pause(duration) => pause(ctx, index, steps, *duration),
            Step::Analysis(analysis) => match step_analysis(ctx, analysis, index, steps, hash) {
                Some(done) => done,
                None => return, // aborted
            },
            Step::Experiment(experiment) => {
                match experiment_step::walk(ctx, experiment, index, steps, (hash, stable)) {
                    Some(done) => done,
                    None => return, // aborted
                }
            }
        };
        // The step's own analysis may have just turned inconclusive.
        if !step_done || held(ctx) {
            hold_at(
                ctx,
                settings,
                canary,
                (hash, canary_target),
                (stable, stable_target),
                weight_now,
            );
            return;
        }
        ctx.status.current_step_index = Some(lifecycle::step_index(index + 1));
        match &canary.steps[index] {
            Step::SetWeight(w) => ctx.event(
                EventType::Normal,
                "SetWeight",
                format!("step {}/{steps}: canary weight {w}%", index + 1),
            ),
            Step::Analysis(_) => {
                let name = ctx
                    .status
                    .canary
                    .as_mut()
                    .and_then(|c| c.current_step_analysis_run.take())
                    .unwrap_or_default();
                ctx.event(
                    EventType::Normal,
                    "AnalysisRunSuccessful",
                    format!("step {}/{steps}: analysis run {name} passed", index + 1),
                );
            }
            Step::Experiment(_) => experiment_step::passed(ctx, index, steps),
            _ => {}
        }
    }
}

/// Asks for the world of the step the walk stops at: replicas and weight.
fn hold_at(
    ctx: &mut DecisionState,
    settings: &Settings,
    canary: &Canary,
    (hash, canary_target): (&str, i32),
    (stable, stable_target): (&str, i32),
    weight: i32,
) {
    let mut targets = lifecycle::retire_others(ctx, &[stable, hash], 0);
    targets.push(ReplicaTarget::new(stable, stable_target));
    targets.push(ReplicaTarget::new(hash, canary_target));
    scale::apply(ctx, settings, targets, !canary.traffic_routed);
    set_weight(ctx, canary, weight);
}

/// An inconclusive analysis holds the rollout until a person decides.
fn held(ctx: &DecisionState) -> bool {
    ctx.status
        .pause_conditions
        .iter()
        .any(|p| p.reason == PauseReason::InconclusiveAnalysis)
}

/// The canary becomes stable.
fn complete(ctx: &mut DecisionState, old_stable: &str) {
    let hash = ctx.observed.template_hash.clone();
    ctx.status.stable_rs = Some(hash);
    ctx.status.stable_revision = ctx.status.canary_revision.clone();
    ctx.status.promote_full = None;
    ctx.status.pause_conditions.clear();
    if let Some(canary) = ctx.status.canary.as_mut() {
        canary.current_step_analysis_run = None;
        canary.current_background_analysis_run = None;
        canary.current_experiment = None;
    }
    // A stable revision needs no analysis.
    ctx.desired.analysis_runs.clear();
    ctx.desired.experiments.clear();
    let label = ctx.status.stable_revision.clone().unwrap_or_default();
    let old = ctx
        .observed
        .replica_set(old_stable)
        .map_or_else(|| old_stable.to_owned(), |rs| rs.label.clone());
    ctx.event(
        EventType::Normal,
        "RolloutCompleted",
        format!("revision {label} is stable; revision {old} scales down"),
    );
}

/// Weight of the last setWeight step up to and including `index`.
fn weight_at(steps: &[Step], index: usize) -> i32 {
    steps
        .iter()
        .take(index + 1)
        .rev()
        .find_map(|s| match s {
            Step::SetWeight(w) => Some(*w),
            _ => None,
        })
        .unwrap_or(0)
}

fn current_weight(ctx: &DecisionState) -> i32 {
    ctx.status
        .canary
        .as_ref()
        .and_then(|c| c.weights.as_ref())
        .map_or(0, |w| w.canary)
}

/// Canary pods for the step at `index`: its share of `replicas` rounded up
/// (so any weight gets a pod), or the latest setCanaryScale (whose
/// `weight` is a percentage of the pods, whatever the traffic total).
fn canary_replicas(settings: &Settings, canary: &Canary, index: usize, weight: i32) -> i32 {
    let share = |w: i32, total: i32| {
        let total = i64::from(total.max(1));
        ((i64::from(settings.replicas) * i64::from(w) + total - 1) / total) as i32
    };
    let of_weight = |w: i32| share(w, 100);
    let scale = canary
        .steps
        .iter()
        .take(index + 1)
        .rev()
        .find_map(|s| match s {
            Step::SetCanaryScale(scale) => Some(*scale),
            _ => None,
        });
    match scale {
        Some(CanaryScale::Replicas(n)) => n,
        Some(CanaryScale::Weight(w)) => of_weight(w),
        Some(CanaryScale::MatchTrafficWeight) | None => share(weight, canary.max_weight),
    }
}

/// `minPodsPerReplicaSet`: a ReplicaSet that runs pods runs at least
/// that many (0 stays 0).
fn at_least_min(canary: &Canary, replicas: i32) -> i32 {
    if replicas > 0 {
        replicas.max(canary.min_pods)
    } else {
        replicas
    }
}

fn set_weight(ctx: &mut DecisionState, canary: &Canary, weight: i32) {
    ctx.desired.canary_weight = weight;
    let status = ctx.status.canary.get_or_insert_with(CanaryStatus::default);
    status.weights = Some(TrafficWeights {
        canary: weight,
        stable: canary.max_weight - weight,
    });
}

/// Returns whether the pause is over.
fn pause(ctx: &mut DecisionState, index: usize, steps: usize, duration: Option<i64>) -> bool {
    let started = lifecycle::pause_started(ctx, PauseReason::CanaryPauseStep, || {
        let how_long = duration.map_or_else(
            || "until promoted".to_owned(),
            |ms| format!("for {}s", ms / 1000),
        );
        format!("step {}/{steps}: paused {how_long}", index + 1)
    });
    let Some(duration) = duration else {
        ctx.waiting = Some(format!("step {}/{steps}: paused until promoted", index + 1));
        return false;
    };
    let Some(elapsed) = ctx.millis_since(&started) else {
        ctx.waiting = Some(format!(
            "step {}/{steps}: paused, for how long is unknown",
            index + 1
        ));
        return false;
    };
    let remaining = duration - elapsed;
    if remaining > 0 {
        ctx.desired.requeue_in(remaining);
        ctx.waiting = Some(format!(
            "step {}/{steps}: paused, {}s left",
            index + 1,
            (remaining + 999) / 1000
        ));
        return false;
    }
    ctx.status
        .pause_conditions
        .retain(|p| p.reason != PauseReason::CanaryPauseStep);
    true
}

/// `Some(true)` when the step's analysis succeeded, `Some(false)` while it
/// runs or is inconclusive, `None` when it failed and the rollout aborted.
fn step_analysis(
    ctx: &mut DecisionState,
    analysis: &RolloutAnalysis,
    index: usize,
    steps: usize,
    hash: &str,
) -> Option<bool> {
    let name = ctx.analysis_run_name(RunKind::Step(index));
    let status = ctx.status.canary.get_or_insert_with(CanaryStatus::default);
    if status.current_step_analysis_run.as_deref() != Some(name.as_str()) {
        status.current_step_analysis_run = Some(name.clone());
        ctx.event(
            EventType::Normal,
            "AnalysisRunStarted",
            format!("step {}/{steps}: analysis run {name}", index + 1),
        );
    }
    let run = ctx.observed.analysis_run(&name).cloned();
    match run.as_ref().map(|r| r.phase) {
        // Recorded when the walk moves past the step, which a hold may delay.
        Some(AnalysisPhase::Successful) => Some(true),
        Some(phase @ (AnalysisPhase::Failed | AnalysisPhase::Error)) => {
            abort_for_run(
                ctx,
                &format!("analysis run {name}"),
                phase,
                run.and_then(|r| r.message),
            );
            None
        }
        phase => {
            keep_run(ctx, &name, RunKind::Step(index), hash, analysis);
            if phase == Some(AnalysisPhase::Inconclusive) {
                let why = run.as_ref().and_then(|r| r.message.as_deref());
                hold_inconclusive(ctx, &format!("analysis run {name}"), why);
            } else {
                ctx.waiting = Some(format!(
                    "step {}/{steps}: waiting for analysis run {name}{}",
                    index + 1,
                    lifecycle::run_waits_for(run.as_ref())
                ));
            }
            Some(false)
        }
    }
}

/// Returns false when the background run failed and the rollout aborted.
fn background_analysis(ctx: &mut DecisionState, canary: &Canary, hash: &str) -> bool {
    let Some((analysis, starting_step)) = &canary.background else {
        return true;
    };
    if current_index(ctx, canary.steps.len()) < *starting_step
        && ctx.status.promote_full != Some(true)
    {
        return true;
    }
    let name = ctx.analysis_run_name(RunKind::Background);
    let status = ctx.status.canary.get_or_insert_with(CanaryStatus::default);
    if status.current_background_analysis_run.as_deref() != Some(name.as_str()) {
        status.current_background_analysis_run = Some(name.clone());
        ctx.event(
            EventType::Normal,
            "AnalysisRunStarted",
            format!("background analysis run {name}"),
        );
    }
    let run = ctx.observed.analysis_run(&name).cloned();
    match run.as_ref().map(|r| r.phase) {
        Some(phase @ (AnalysisPhase::Failed | AnalysisPhase::Error)) => {
            abort_for_run(
                ctx,
                &format!("background analysis run {name}"),
                phase,
                run.and_then(|r| r.message),
            );
            false
        }
        Some(AnalysisPhase::Inconclusive) => {
            keep_run(ctx, &name, RunKind::Background, hash, analysis);
            let why = run.as_ref().and_then(|r| r.message.as_deref());
            hold_inconclusive(ctx, &format!("analysis run {name}"), why);
            true
        }
        Some(AnalysisPhase::Successful) => true,
        _ => {
            keep_run(ctx, &name, RunKind::Background, hash, analysis);
            true
        }
    }
}

/// Under `spec.paused`, keep the runs the rollout had started.
fn hold_analysis_runs(ctx: &mut DecisionState, canary: &Canary) {
    let hash = ctx.observed.template_hash.clone();
    let steps = canary.steps.len();
    let index = current_index(ctx, steps);
    let status = ctx.status.canary.clone().unwrap_or_default();
    if let (Some(name), Some(Step::Analysis(analysis))) =
        (status.current_step_analysis_run, canary.steps.get(index))
    {
        keep_run(ctx, &name, RunKind::Step(index), &hash, analysis);
    }
    if let (Some(name), Some((analysis, _))) =
        (status.current_background_analysis_run, &canary.background)
    {
        keep_run(ctx, &name, RunKind::Background, &hash, analysis);
    }
    if let (Some(name), Some(Step::Experiment(experiment))) =
        (status.current_experiment, canary.steps.get(index))
    {
        let stable = ctx.status.stable_rs.clone().unwrap_or_else(|| hash.clone());
        experiment_step::keep(ctx, &name, index, experiment, (&hash, &stable));
    }
}
