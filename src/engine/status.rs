//! The status a person reads: counts, phase, message and conditions.

use super::blocker::{self, Blocker};
use super::decision::{DecisionState, EventType};
use super::lifecycle;
use super::settings::{Settings, Strategy};
use crate::crd::condition::{Condition, ConditionStatus};
use crate::crd::problem::joined;
use crate::crd::rollout::{RolloutPhase, RolloutSpec, RolloutStatus};
use crate::crd::time::{self, UnreadableTime};

pub fn finish(
    ctx: &mut DecisionState,
    settings: &Settings,
    spec: &RolloutSpec,
    previous: &RolloutStatus,
) {
    counts(ctx, spec);
    // First, so the paths of unreadable times below stay true in the status returned.
    ctx.status.conditions.retain(|c| c.type_ != "InvalidSpec");
    let progressed = signature(&ctx.status) != signature(previous);
    let paused = settings.paused || !ctx.status.pause_conditions.is_empty();
    if progressed || paused || !lifecycle::awaits_progress(ctx, settings) {
        // Whatever the clock said at the start, the rollout moved, or ended
        // up where the deadline does not run.
        ctx.deadline_exceeded = false;
    }
    let (mut phase, mut message) = phase_and_message(ctx, settings);
    let unreadable = unreadable_times(&ctx.status, progressed);
    let invalid_status = (!unreadable.is_empty()).then(|| joined(&unreadable, "; "));
    if let Some(problem) = &invalid_status {
        // The rollout cannot tell how long it has paused or idled, so it
        // stops where it is until a person acts (promote, abort) or it
        // progresses and the time is written afresh.
        phase = RolloutPhase::Degraded;
        message = format!("InvalidStatus: {problem}");
    }
    ctx.status.phase = Some(phase);
    ctx.status.message = Some(message);
    let available = match &settings.strategy {
        Strategy::Canary(_) => {
            ctx.status.available_replicas.unwrap_or(0)
                >= settings.replicas - settings.max_unavailable
        }
        Strategy::BlueGreen(_) => {
            let active = ctx.status.stable_rs.clone().unwrap_or_default();
            ctx.observed.available(&active) >= settings.replicas
        }
    };
    let aborted = lifecycle::is_aborted(ctx);
    let (progressing, reason) = if aborted {
        (false, "RolloutAborted")
    } else if invalid_status.is_some() {
        (false, "InvalidStatus")
    } else if ctx.deadline_exceeded {
        (false, "ProgressDeadlineExceeded")
    } else {
        match phase {
            RolloutPhase::Healthy => (true, "RolloutCompleted"),
            RolloutPhase::Paused => (true, "RolloutPaused"),
            RolloutPhase::Progressing | RolloutPhase::Degraded => (true, "RolloutProgressing"),
        }
    };
    let message = ctx.status.message.clone();
    set_condition(
        ctx,
        "Progressing",
        progressing,
        reason,
        message.as_deref(),
        progressed,
    );
    set_condition(
        ctx,
        "Available",
        available,
        if available {
            "AvailableReplicas"
        } else {
            "NotEnoughAvailableReplicas"
        },
        None,
        false,
    );
    set_condition(
        ctx,
        "Healthy",
        phase == RolloutPhase::Healthy,
        phase.as_str(),
        None,
        false,
    );
    requeue_for_deadline(ctx, settings, phase);
    report_invalid_status(ctx, previous, invalid_status);
    if ctx.deadline_exceeded && previous_reason(previous) != Some("ProgressDeadlineExceeded") {
        ctx.event(
            EventType::Warning,
            "ProgressDeadlineExceeded",
            format!("no progress for {}s", settings.progress_deadline_ms / 1000),
        );
    }
}

/// The `InvalidStatus` condition while a status time is unreadable, with
/// a Warning event each time the problem changes.
fn report_invalid_status(
    ctx: &mut DecisionState,
    previous: &RolloutStatus,
    problem: Option<String>,
) {
    let Some(problem) = problem else {
        ctx.status.conditions.retain(|c| c.type_ != "InvalidStatus");
        return;
    };
    let changed = previous
        .conditions
        .iter()
        .find(|c| c.type_ == "InvalidStatus")
        .is_none_or(|c| c.message.as_deref() != Some(problem.as_str()));
    if changed {
        ctx.event(EventType::Warning, "InvalidStatus", problem.clone());
    }
    set_condition(
        ctx,
        "InvalidStatus",
        true,
        "UnreadableTime",
        Some(&problem),
        false,
    );
}

/// The status times the engine reads that do not parse. Progressing's
/// `lastUpdateTime` is left out when the rollout progressed: this decision
/// writes a fresh one over it.
fn unreadable_times(status: &RolloutStatus, progressed: bool) -> Vec<UnreadableTime> {
    let pauses = status
        .pause_conditions
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            time::parse(
                format!("status.pauseConditions[{i}].startTime"),
                &p.start_time,
            )
            .err()
        });
    let progress = status
        .conditions
        .iter()
        .enumerate()
        .filter(|(_, c)| c.type_ == "Progressing" && !progressed)
        .filter_map(|(i, c)| {
            let text = c.last_update_time.as_deref()?;
            time::parse(format!("status.conditions[{i}].lastUpdateTime"), text).err()
        });
    pauses.chain(progress).collect()
}

/// An invalid spec changes nothing in the world; it is reported and waits
/// for a fix.
pub fn invalid(ctx: &mut DecisionState, spec: &RolloutSpec, message: &str) {
    counts(ctx, spec);
    lifecycle::freeze(ctx);
    ctx.status.phase = Some(RolloutPhase::Degraded);
    ctx.status.message = Some(format!("InvalidSpec: {message}"));
    let changed = ctx
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "InvalidSpec")
        .is_none_or(|c| c.message.as_deref() != Some(message));
    if changed {
        ctx.event(EventType::Warning, "InvalidSpec", message.to_owned());
    }
    set_condition(
        ctx,
        "InvalidSpec",
        true,
        "InvalidSpec",
        Some(message),
        false,
    );
    set_condition(ctx, "Healthy", false, "Degraded", None, false);
}

/// A rollout held by a blocker changes nothing in the world and says
/// why. Its wait runs from when it began (the Progressing condition's
/// `lastUpdateTime`, touched then) toward the progress deadline, where it
/// fails; until then it is looked at again after as long as it has waited
/// (5 s, 5 s, 10 s, 20 s... 5 min), and at the deadline.
pub fn blocked(
    ctx: &mut DecisionState,
    settings: &Settings,
    spec: &RolloutSpec,
    blocker: &Blocker,
    previous: &RolloutStatus,
) {
    counts(ctx, spec);
    if let Strategy::Canary(canary) = &settings.strategy {
        ctx.desired.weight_total = canary.max_weight;
    }
    lifecycle::freeze(ctx);
    ctx.status
        .conditions
        .retain(|c| c.type_ != "InvalidSpec" && c.type_ != "InvalidStatus");
    let reason = blocker.reason();
    let message = blocker.to_string();
    let before = previous
        .conditions
        .iter()
        .find(|c| c.type_ == "Progressing");
    let before_reason = before.and_then(|c| c.reason.as_deref());
    // Blocked since an earlier decision (or failed already): the clock
    // runs on; otherwise the wait starts now.
    let waiting_since = before_reason
        .filter(|r| Blocker::is_reason(r) || *r == "ProgressDeadlineExceeded")
        .and_then(|_| lifecycle::last_progress(ctx))
        .and_then(|since| ctx.millis_since(&since));
    let waited = waiting_since.unwrap_or(0);
    let touched = waiting_since.is_none();
    let deadline = settings.progress_deadline_ms;
    if waited > deadline {
        let seconds = deadline / 1000;
        let message = format!("progress deadline exceeded: no progress for {seconds}s; {message}");
        ctx.status.phase = Some(RolloutPhase::Degraded);
        ctx.status.message = Some(message.clone());
        set_condition(
            ctx,
            "Progressing",
            false,
            "ProgressDeadlineExceeded",
            Some(&message),
            false,
        );
        if before_reason != Some("ProgressDeadlineExceeded") {
            ctx.event(EventType::Warning, "ProgressDeadlineExceeded", message);
        }
        ctx.desired.requeue_in(blocker::retry_after(waited));
    } else {
        ctx.status.phase = Some(RolloutPhase::Progressing);
        ctx.status.message = Some(message.clone());
        // A wait for an object is still progress in the making; a refusal
        // is not, as a Deployment's ReplicaSetCreateError is not.
        let progressing = matches!(blocker, Blocker::Missing(_));
        set_condition(
            ctx,
            "Progressing",
            progressing,
            reason,
            Some(&message),
            touched,
        );
        let repeated = before_reason == Some(reason)
            && before.and_then(|c| c.message.as_deref()) == Some(message.as_str());
        if !repeated {
            let type_ = if progressing {
                EventType::Normal
            } else {
                EventType::Warning
            };
            ctx.event(type_, reason, message);
        }
        ctx.desired
            .requeue_in(blocker::retry_after(waited).min(deadline - waited + 1));
    }
    let phase = ctx.status.phase.map_or("", RolloutPhase::as_str);
    set_condition(ctx, "Healthy", false, phase, None, false);
}

fn counts(ctx: &mut DecisionState, spec: &RolloutSpec) {
    let sets = &ctx.observed.replica_sets;
    ctx.status.replicas = Some(sets.iter().map(|rs| rs.replicas).sum());
    ctx.status.updated_replicas = Some(
        ctx.observed
            .replica_set(&ctx.observed.template_hash)
            .map_or(0, |rs| rs.replicas),
    );
    ctx.status.ready_replicas = Some(sets.iter().map(|rs| rs.ready).sum());
    ctx.status.available_replicas = Some(sets.iter().map(|rs| rs.available).sum());
    ctx.status.selector = spec
        .selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        });
}

fn phase_and_message(ctx: &DecisionState, settings: &Settings) -> (RolloutPhase, String) {
    let stable_label = ctx.status.stable_revision.clone().unwrap_or_default();
    if lifecycle::is_aborted(ctx) {
        let message = ctx
            .status
            .message
            .clone()
            .unwrap_or_else(|| "Rollout aborted".into());
        return (RolloutPhase::Degraded, message);
    }
    if ctx.deadline_exceeded {
        return (
            RolloutPhase::Degraded,
            format!(
                "progress deadline exceeded: no progress for {}s; {}",
                settings.progress_deadline_ms / 1000,
                ctx.waiting.clone().unwrap_or_default()
            ),
        );
    }
    let waiting = ctx.waiting.clone();
    if settings.paused || !ctx.status.pause_conditions.is_empty() {
        return (
            RolloutPhase::Paused,
            waiting.unwrap_or_else(|| "paused".into()),
        );
    }
    if lifecycle::is_rolling_out(ctx) || waiting.is_some() {
        return (
            RolloutPhase::Progressing,
            waiting.unwrap_or_else(|| "progressing".into()),
        );
    }
    let available = ctx
        .observed
        .available(ctx.status.stable_rs.as_deref().unwrap_or_default());
    (
        RolloutPhase::Healthy,
        format!(
            "revision {stable_label} is stable: {available}/{} pods available",
            settings.replicas
        ),
    )
}

/// A rollout still moving is looked at again when its deadline passes.
fn requeue_for_deadline(ctx: &mut DecisionState, settings: &Settings, phase: RolloutPhase) {
    if phase != RolloutPhase::Progressing || ctx.deadline_exceeded {
        return;
    }
    let idle = match lifecycle::last_progress(ctx) {
        None => 0,
        Some(last) => match ctx.millis_since(&last) {
            Some(idle) => idle,
            // Reported as an invalid status; no deadline runs from it.
            None => return,
        },
    };
    ctx.desired
        .requeue_in(settings.progress_deadline_ms - idle + 1);
}

/// What counts as progress for the deadline: any of these moving.
fn signature(status: &RolloutStatus) -> impl PartialEq + use<> {
    (
        status.current_pod_hash.clone(),
        status.current_step_index,
        status.stable_rs.clone(),
        status.updated_replicas,
        status.available_replicas,
        status.abort,
        status
            .pause_conditions
            .iter()
            .map(|p| p.reason)
            .collect::<Vec<_>>(),
    )
}

fn previous_reason(previous: &RolloutStatus) -> Option<&str> {
    previous
        .conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .and_then(|c| c.reason.as_deref())
}

/// Sets a condition; `lastTransitionTime` moves only when its status
/// flips, `lastUpdateTime` (Progressing only) when the rollout progressed.
fn set_condition(
    ctx: &mut DecisionState,
    type_: &str,
    value: bool,
    reason: &str,
    message: Option<&str>,
    touched: bool,
) {
    let now = ctx.now_string();
    let status = ConditionStatus::from(value);
    let tracks_updates = type_ == "Progressing";
    match ctx.status.conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.status = status;
                c.last_transition_time = Some(now.clone());
            }
            c.reason = Some(reason.into());
            c.message = message.map(str::to_owned);
            if tracks_updates && (touched || c.last_update_time.is_none()) {
                c.last_update_time = Some(now);
            }
        }
        None => ctx.status.conditions.push(Condition {
            type_: type_.into(),
            status,
            reason: Some(reason.into()),
            message: message.map(str::to_owned),
            last_transition_time: Some(now.clone()),
            last_update_time: tracks_updates.then_some(now),
        }),
    }
}
