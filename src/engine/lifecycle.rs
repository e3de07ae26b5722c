//! What every strategy does the same way: adopting the first revision,
//! noticing a new one, acting on requests, retiring old ReplicaSets and
//! watching the progress deadline.

use jiff::{SignedDuration, Timestamp};

use super::decision::{DecisionState, EventType};
use super::desired::{DesiredAnalysisRun, DesiredReplicaSet, RunKind};
use super::observed::{AnalysisRunState, Request};
use super::scale::ReplicaTarget;
use super::settings::Settings;
use crate::crd::analysis::AnalysisPhase;
use crate::crd::rollout::{PauseCondition, PauseReason, RolloutAnalysis};

/// Runs before the strategy decides. Returns whether a plain `Promote` was
/// requested, which each strategy interprets itself.
pub fn begin(ctx: &mut DecisionState, settings: &Settings, steps: usize) -> bool {
    let hash = ctx.observed.template_hash.clone();
    let label = ctx.observed.template_label.clone();
    if ctx.status.stable_rs.is_none() {
        ctx.status.stable_rs = Some(hash.clone());
        ctx.status.stable_revision = Some(label.clone());
        ctx.status.current_pod_hash = Some(hash.clone());
        ctx.status.canary_revision = Some(label.clone());
        ctx.status.current_step_index = Some(step_index(steps));
        ctx.event(
            EventType::Normal,
            "RolloutCreated",
            format!("revision {label} is the first: deployed without steps"),
        );
    }
    if ctx.status.current_pod_hash.as_deref() != Some(hash.as_str()) {
        new_revision(ctx, settings, steps, &hash, &label);
    }
    let mut promote = false;
    for request in ctx.observed.requests.clone() {
        match request {
            Request::Promote => promote = true,
            Request::PromoteFull => promote_full(ctx, &hash),
            Request::Abort => {
                if is_rolling_out(ctx) && !is_aborted(ctx) {
                    abort(ctx, "aborted on request");
                }
            }
            Request::Retry => retry(ctx),
            Request::Undo => undo(ctx, &hash),
        }
    }
    check_progress_deadline(ctx, settings);
    promote
}

/// How soon to look again while pods wait to be restarted: a pod replaced
/// leaves its ReplicaSet's counts as they were, so no change would bring
/// the platform back for the next one.
const RESTART_POLL_MS: i64 = 1000;

/// `spec.restartAt`: once it has come, every pod created before it is
/// restarted, the oldest first, one at a time and only while every pod of
/// the rollout is ready, so a restart never costs more than one pod of
/// capacity. The status remembers it was asked.
pub fn restart(ctx: &mut DecisionState, settings: &Settings) {
    let Some(at) = settings.restart_at else {
        return;
    };
    let wait = at.as_millisecond() - ctx.now.as_millisecond();
    if wait > 0 {
        ctx.desired.requeue_in(wait);
        return;
    }
    ctx.desired.restart_pods_before = Some(at);
    let running = |hash: &str| {
        ctx.observed
            .replica_set(hash)
            .is_some_and(|rs| rs.replicas > 0)
    };
    let oldest = ctx
        .observed
        .pods
        .iter()
        .filter(|p| !p.terminating && running(&p.hash))
        .filter_map(|p| Some((p.created_at?, p)))
        .filter(|(created, _)| *created < at)
        .min_by(|(a, p), (b, q)| a.cmp(b).then_with(|| p.name.cmp(&q.name)))
        .map(|(_, p)| p.name.clone());
    if let Some(pod) = oldest {
        ctx.desired.requeue_in(RESTART_POLL_MS);
        // A replacement still starting: wait for it before the next one.
        let all_ready = ctx
            .observed
            .replica_sets
            .iter()
            .all(|rs| rs.ready >= rs.replicas);
        if all_ready {
            ctx.desired.restart_pods.push(pod);
        }
    }
    let at = at.to_string();
    if ctx.status.restarted_at.as_deref() != Some(at.as_str()) {
        ctx.status.restarted_at = Some(at.clone());
        ctx.event(
            EventType::Normal,
            "Restarting",
            format!("restarting pods created before {at}"),
        );
    }
}

pub fn step_index(steps: usize) -> i32 {
    i32::try_from(steps).unwrap_or(i32::MAX)
}

pub fn is_aborted(ctx: &DecisionState) -> bool {
    ctx.status.abort == Some(true)
}

/// A revision other than the stable one is being rolled out.
pub fn is_rolling_out(ctx: &DecisionState) -> bool {
    ctx.status.stable_rs.as_deref() != Some(ctx.observed.template_hash.as_str())
}

fn new_revision(
    ctx: &mut DecisionState,
    settings: &Settings,
    steps: usize,
    hash: &str,
    label: &str,
) {
    let previous = ctx.status.current_pod_hash.replace(hash.to_owned());
    let previous_label = ctx.status.canary_revision.replace(label.to_owned());
    let stable = ctx.status.stable_rs.clone();
    fresh_attempt(ctx);
    if stable.as_deref() == Some(hash) {
        ctx.status.current_step_index = Some(step_index(steps));
        ctx.event(
            EventType::Normal,
            "RolledBack",
            format!("template is back to stable revision {label}; nothing to roll out"),
        );
        return;
    }
    ctx.status.current_step_index = Some(0);
    if within_rollback_window(ctx, settings, hash) {
        ctx.status.current_step_index = Some(step_index(steps));
        ctx.status.promote_full = Some(true);
        ctx.event(
            EventType::Normal,
            "RollbackWithinWindow",
            format!(
                "revision {label} is one of the last {} revisions: rolling back without steps",
                settings.rollback_window
            ),
        );
        return;
    }
    match previous {
        Some(previous) if stable.as_deref() != Some(previous.as_str()) => ctx.event(
            EventType::Normal,
            "Superseded",
            format!(
                "revision {label} supersedes {}, which had not finished; steps restart",
                previous_label.unwrap_or(previous)
            ),
        ),
        _ => ctx.event(
            EventType::Normal,
            "RolloutStarted",
            format!("rolling out revision {label}"),
        ),
    }
}

/// Going back to a ReplicaSet created no more than
/// `rollbackWindow.revisions` ReplicaSets ago, and older than the stable
/// one, skips the steps: that revision already ran in production.
/// Forgets the previous attempt's abort, pauses and analysis runs; the
/// attempt number moves on so new runs get new names.
fn fresh_attempt(ctx: &mut DecisionState) {
    ctx.status.attempt = Some(ctx.status.attempt.unwrap_or(0).saturating_add(1));
    ctx.status.abort = None;
    ctx.status.aborted_at = None;
    ctx.status.promote_full = None;
    ctx.status.pause_conditions.clear();
    ctx.status.message = None;
    if let Some(canary) = ctx.status.canary.as_mut() {
        canary.current_step_analysis_run = None;
        canary.current_background_analysis_run = None;
        canary.current_experiment = None;
    }
    if let Some(blue_green) = ctx.status.blue_green.as_mut() {
        blue_green.scale_up_preview_check_point = None;
        blue_green.pre_promotion_analysis_run = None;
        blue_green.post_promotion_analysis_run = None;
    }
}

/// Keeps an analysis run going (once, however often it is asked for).
pub fn keep_run(
    ctx: &mut DecisionState,
    name: &str,
    kind: RunKind,
    hash: &str,
    analysis: &RolloutAnalysis,
) {
    if ctx.desired.analysis_runs.iter().any(|r| r.name == name) {
        return;
    }
    ctx.desired.analysis_runs.push(DesiredAnalysisRun {
        name: name.to_owned(),
        kind,
        hash: hash.to_owned(),
        templates: analysis.templates.clone(),
        args: analysis.args.clone(),
        dry_run: analysis.dry_run.clone(),
        measurement_retention: analysis.measurement_retention.clone(),
        metadata: analysis.analysis_run_metadata.clone(),
    });
}

/// When the pause for `reason` began, starting it (with a `Paused` event
/// saying `why`) if it had not.
pub fn pause_started(
    ctx: &mut DecisionState,
    reason: PauseReason,
    why: impl FnOnce() -> String,
) -> String {
    if let Some(p) = ctx
        .status
        .pause_conditions
        .iter()
        .find(|p| p.reason == reason)
    {
        return p.start_time.clone();
    }
    let now = ctx.now_string();
    ctx.status.pause_conditions.push(PauseCondition {
        reason,
        start_time: now.clone(),
    });
    ctx.event(EventType::Normal, "Paused", why());
    now
}

/// An inconclusive run pauses the rollout until a person promotes or aborts.
/// `what` names the run: `analysis run web-1a2b-0-step2`, `experiment ...`;
/// `why` is the run's own message (which metric, what it measured), shown
/// in the rollout's status and Event so nobody has to dig for it.
pub fn hold_inconclusive(ctx: &mut DecisionState, what: &str, why: Option<&str>) {
    let why = why
        .filter(|w| !w.trim().is_empty())
        .map(|w| format!(": {w};"))
        .unwrap_or_else(|| ":".to_owned());
    let paused = ctx
        .status
        .pause_conditions
        .iter()
        .any(|p| p.reason == PauseReason::InconclusiveAnalysis);
    if !paused {
        ctx.status.pause_conditions.push(PauseCondition {
            reason: PauseReason::InconclusiveAnalysis,
            start_time: ctx.now_string(),
        });
        ctx.event(
            EventType::Warning,
            "AnalysisRunInconclusive",
            format!("{what} is inconclusive{why} paused until promoted or aborted"),
        );
    }
    ctx.waiting = Some(format!(
        "{what} inconclusive{why} promote to continue or abort"
    ));
}

/// What a run not started yet waits for (a Secret it names), as `: ...`
/// to follow its name in the rollout's message; empty otherwise.
pub fn run_waits_for(run: Option<&AnalysisRunState>) -> String {
    match run {
        Some(AnalysisRunState {
            phase: AnalysisPhase::Pending,
            message: Some(message),
            ..
        }) if !message.is_empty() => format!(": {message}"),
        _ => String::new(),
    }
}

/// The Progressing condition's `lastUpdateTime`: when the rollout last moved.
pub fn last_progress(ctx: &DecisionState) -> Option<String> {
    ctx.status
        .conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .and_then(|c| c.last_update_time.clone())
}

fn within_rollback_window(ctx: &DecisionState, settings: &Settings, hash: &str) -> bool {
    if settings.rollback_window == 0 {
        return false;
    }
    let created = |h: &str| ctx.observed.replica_set(h).and_then(|rs| rs.created_at);
    let (Some(target), Some(stable)) = (
        created(hash),
        ctx.status.stable_rs.as_deref().and_then(created),
    ) else {
        return false;
    };
    if target >= stable {
        return false;
    }
    let newer = ctx
        .observed
        .replica_sets
        .iter()
        .filter(|rs| rs.created_at.is_some_and(|c| c > target))
        .count();
    newer <= settings.rollback_window
}

fn promote_full(ctx: &mut DecisionState, hash: &str) {
    if ctx.status.stable_rs.as_deref() == Some(hash) || is_aborted(ctx) {
        return;
    }
    if ctx.status.promote_full != Some(true) {
        ctx.status.promote_full = Some(true);
        ctx.status.pause_conditions.clear();
        ctx.event(
            EventType::Normal,
            "PromotedFull",
            "skipping remaining steps and analysis on request",
        );
    }
}

/// Stops the rollout: traffic and pods go back to stable.
pub fn abort(ctx: &mut DecisionState, reason: &str) {
    ctx.status.abort = Some(true);
    ctx.status.aborted_at = Some(ctx.now_string());
    ctx.status.pause_conditions.clear();
    ctx.status.promote_full = None;
    ctx.status.message = Some(format!("Rollout aborted: {reason}"));
    ctx.desired.canary_weight = 0;
    let label = ctx.status.canary_revision.clone().unwrap_or_default();
    ctx.event(
        EventType::Warning,
        "RolloutAborted",
        format!("revision {label}: {reason}; traffic returns to stable"),
    );
}

/// Aborts because an analysis run failed or errored, quoting its message.
pub fn abort_for_run(
    ctx: &mut DecisionState,
    run: &str,
    phase: AnalysisPhase,
    message: Option<String>,
) {
    let detail = message.map(|m| format!(": {m}")).unwrap_or_default();
    abort(
        ctx,
        &format!("{run} {}{detail}", phase.as_str().to_lowercase()),
    );
}

fn retry(ctx: &mut DecisionState) {
    if !is_aborted(ctx) {
        return;
    }
    fresh_attempt(ctx);
    ctx.status.current_step_index = Some(0);
    ctx.event(
        EventType::Normal,
        "RolloutRetried",
        "retrying the aborted revision from its first step",
    );
}

fn undo(ctx: &mut DecisionState, hash: &str) {
    let current_revision = ctx.observed.replica_set(hash).map(|rs| rs.revision);
    let previous = ctx
        .observed
        .replica_sets
        .iter()
        .filter(|rs| rs.hash != hash && current_revision.is_none_or(|r| rs.revision < r))
        .max_by_key(|rs| rs.revision);
    match previous {
        Some(rs) => {
            ctx.desired.rollback_to = Some(rs.hash.clone());
            let label = rs.label.clone();
            ctx.event(
                EventType::Normal,
                "Undo",
                format!("rolling the template back to revision {label}"),
            );
        }
        None => ctx.event(
            EventType::Warning,
            "UndoImpossible",
            "no earlier revision to go back to",
        ),
    }
}

/// Whether the progress deadline runs: while a revision rolls out, and
/// while the stable one lacks pods (a first revision whose pods never come
/// up, a scale-up that cannot be placed), as a Deployment's does.
pub fn awaits_progress(ctx: &DecisionState, settings: &Settings) -> bool {
    if is_rolling_out(ctx) {
        return !is_aborted(ctx);
    }
    let stable = ctx.status.stable_rs.as_deref().unwrap_or_default();
    ctx.observed.available(stable) < settings.replicas
}

/// The progress deadline counts from the last progress (the Progressing
/// condition's `lastUpdateTime`) while a rollout moves and is not paused.
/// Only a revision rolling out is aborted: a stable one has nothing to go
/// back to, it is reported.
fn check_progress_deadline(ctx: &mut DecisionState, settings: &Settings) {
    let paused = settings.paused || !ctx.status.pause_conditions.is_empty();
    if !awaits_progress(ctx, settings) || paused {
        return;
    }
    let Some(idle) = last_progress(ctx).and_then(|last| ctx.millis_since(&last)) else {
        return;
    };
    if idle <= settings.progress_deadline_ms {
        return;
    }
    let seconds = settings.progress_deadline_ms / 1000;
    if settings.progress_deadline_abort && is_rolling_out(ctx) {
        abort(
            ctx,
            &format!("progress deadline exceeded: no progress for {seconds}s"),
        );
    } else {
        ctx.deadline_exceeded = true;
    }
}

/// Targets for the ReplicaSets not in `keep`: zero, once any scale-down
/// delay has run out. A ReplicaSet seen retiring for the first time gets
/// its delay now; the platform records it so later decisions keep it.
pub fn retire_others(ctx: &DecisionState, keep: &[&str], delay_ms: i64) -> Vec<ReplicaTarget> {
    retire_others_within(ctx, keep, delay_ms, None)
}

/// [`retire_others`], with at most `delayed` of them (the newest
/// revisions) waiting out the delay: `scaleDownDelayRevisionLimit`.
pub fn retire_others_within(
    ctx: &DecisionState,
    keep: &[&str],
    delay_ms: i64,
    delayed: Option<usize>,
) -> Vec<ReplicaTarget> {
    let mut others: Vec<_> = ctx
        .observed
        .replica_sets
        .iter()
        .filter(|rs| !keep.contains(&rs.hash.as_str()))
        .collect();
    others.sort_by_key(|rs| std::cmp::Reverse(rs.revision));
    let mut waiting = 0;
    others
        .into_iter()
        .map(|rs| {
            let running = rs.replicas > 0;
            let delay = if running && delayed.is_some_and(|limit| waiting >= limit) {
                0
            } else {
                waiting += usize::from(running);
                delay_ms
            };
            retire(ctx, &rs.hash, delay)
        })
        .collect()
}

/// A target that scales `hash` to zero after `delay_ms`.
pub fn retire(ctx: &DecisionState, hash: &str, delay_ms: i64) -> ReplicaTarget {
    let Some(rs) = ctx.observed.replica_set(hash) else {
        return ReplicaTarget::new(hash, 0);
    };
    if rs.replicas == 0 || delay_ms == 0 {
        return ReplicaTarget::new(hash, 0);
    }
    let deadline = rs.scale_down_at.unwrap_or_else(|| {
        ctx.now
            .checked_add(SignedDuration::from_millis(delay_ms))
            .unwrap_or(Timestamp::MAX)
    });
    let replicas = if deadline <= ctx.now { 0 } else { rs.replicas };
    ReplicaTarget {
        hash: hash.to_owned(),
        replicas,
        scale_down_at: Some(deadline),
    }
}

/// `spec.paused`: hold every ReplicaSet and the weights where they are.
pub fn freeze(ctx: &mut DecisionState) {
    for rs in &ctx.observed.replica_sets {
        ctx.desired.replica_sets.push(DesiredReplicaSet {
            hash: rs.hash.clone(),
            revision: rs.revision,
            replicas: rs.replicas,
            scale_down_at: rs.scale_down_at,
        });
    }
    ctx.desired.canary_weight = ctx
        .status
        .canary
        .as_ref()
        .and_then(|c| c.weights.as_ref())
        .map_or(0, |w| w.canary);
}
