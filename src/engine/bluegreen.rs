//! Blue-green: the new revision comes up beside the active one behind the
//! preview service, is analysed, then the active service switches to it at
//! once; the old side stays up for the scale-down delay.

use super::decision::{DecisionState, EventType};
use super::desired::RunKind;
use super::lifecycle::{self, abort_for_run, hold_inconclusive, is_aborted, keep_run};
use super::scale::{self, ReplicaTarget};
use super::settings::{BlueGreen, Settings};
use crate::crd::analysis::AnalysisPhase;
use crate::crd::rollout::{BlueGreenStatus, PauseReason, RolloutAnalysis};

pub fn decide(ctx: &mut DecisionState, settings: &Settings, bg: &BlueGreen) {
    let promote = lifecycle::begin(ctx, settings, 0);
    let hash = ctx.observed.template_hash.clone();
    let stable = ctx.status.stable_rs.clone().unwrap_or_else(|| hash.clone());
    if settings.paused {
        lifecycle::freeze(ctx);
        let active = bg_status(ctx)
            .active_selector
            .clone()
            .unwrap_or_else(|| stable.clone());
        services(ctx, &active, &hash);
        ctx.waiting = Some("paused by spec.paused".into());
        return;
    }
    if hash == stable {
        return steady(ctx, settings, bg, &stable);
    }
    if is_aborted(ctx) {
        return aborted(ctx, settings, bg, &stable, &hash);
    }
    if promote && bg_status(ctx).active_selector.as_deref() != Some(hash.as_str()) {
        ctx.status.pause_conditions.clear();
        if bg_status(ctx).scale_up_preview_check_point != Some(true) {
            bg_status(ctx).scale_up_preview_check_point = Some(true);
            ctx.event(
                EventType::Normal,
                "Promoted",
                "promoting the preview on request",
            );
        }
    }
    if bg_status(ctx).active_selector.as_deref() != Some(hash.as_str())
        && !before_switch(ctx, settings, bg, &stable, &hash)
    {
        return;
    }
    after_switch(ctx, settings, bg, &stable, &hash);
}

fn bg_status<'a>(ctx: &'a mut DecisionState) -> &'a mut BlueGreenStatus {
    ctx.status
        .blue_green
        .get_or_insert_with(BlueGreenStatus::default)
}

fn services(ctx: &mut DecisionState, active: &str, preview: &str) {
    ctx.desired.stable_hash = Some(active.to_owned());
    ctx.desired.canary_hash = Some(preview.to_owned());
    let status = bg_status(ctx);
    status.active_selector = Some(active.to_owned());
    status.preview_selector = Some(preview.to_owned());
}

fn steady(ctx: &mut DecisionState, settings: &Settings, bg: &BlueGreen, stable: &str) {
    services(ctx, stable, stable);
    ctx.desired.canary_weight = 0;
    let mut targets = lifecycle::retire_others_within(
        ctx,
        &[stable],
        bg.scale_down_delay_ms,
        bg.delayed_revisions,
    );
    targets.push(ReplicaTarget::new(stable, settings.replicas));
    scale::apply(ctx, settings, targets, false);
    if ctx.observed.available(stable) < settings.replicas {
        ctx.waiting = Some(format!(
            "waiting for active pods: {}/{} available",
            ctx.observed.available(stable),
            settings.replicas
        ));
    }
}

fn aborted(ctx: &mut DecisionState, settings: &Settings, bg: &BlueGreen, stable: &str, hash: &str) {
    services(ctx, stable, hash);
    ctx.desired.canary_weight = 0;
    let mut targets = lifecycle::retire_others(ctx, &[stable, hash], 0);
    targets.push(lifecycle::retire(ctx, hash, bg.abort_scale_down_delay_ms));
    targets.push(ReplicaTarget::new(stable, settings.replicas));
    scale::apply(ctx, settings, targets, false);
}

/// Preview up, analysed and promoted; returns true once the active service
/// may switch to the new revision.
fn before_switch(
    ctx: &mut DecisionState,
    settings: &Settings,
    bg: &BlueGreen,
    stable: &str,
    hash: &str,
) -> bool {
    services(ctx, stable, hash);
    ctx.desired.canary_weight = 0;
    let full = ctx.status.promote_full == Some(true);
    let preview_target = bg
        .preview_replicas
        .unwrap_or(settings.replicas)
        .min(settings.replicas);
    let mut promoted = full || bg_status(ctx).scale_up_preview_check_point == Some(true);
    let mut target = if promoted {
        settings.replicas
    } else {
        preview_target
    };
    let preview_up = ctx.observed.available(hash) >= target;
    if preview_up && !promoted {
        if let (Some(pre), false) = (&bg.pre_promotion, full) {
            match run(ctx, RunKind::PrePromotion, hash, pre, "pre-promotion") {
                Some(true) => {}
                Some(false) => {
                    scale_sides(ctx, settings, stable, hash, target);
                    return false;
                }
                None => {
                    aborted(ctx, settings, bg, stable, hash);
                    return false;
                }
            }
        }
        promoted = gate(ctx, bg);
        if promoted {
            bg_status(ctx).scale_up_preview_check_point = Some(true);
            target = settings.replicas;
        }
    }
    scale_sides(ctx, settings, stable, hash, target);
    let available = ctx.observed.available(hash);
    if !promoted || available < settings.replicas {
        if ctx.waiting.is_none() {
            ctx.waiting = Some(format!("preview pods {available}/{target} available"));
        }
        return false;
    }
    ctx.desired.replica_sets.clear();
    let label = ctx.status.canary_revision.clone().unwrap_or_default();
    ctx.event(
        EventType::Normal,
        "Switched",
        format!("active service now selects revision {label}"),
    );
    true
}

/// The promotion gate after the preview is up: manual, timed or immediate.
fn gate(ctx: &mut DecisionState, bg: &BlueGreen) -> bool {
    if bg.auto_promotion && bg.auto_promotion_ms.is_none() {
        return true;
    }
    let started = lifecycle::pause_started(ctx, PauseReason::BlueGreenPause, || {
        "preview is ready: waiting for promotion".to_owned()
    });
    if !bg.auto_promotion {
        ctx.waiting = Some("preview ready: waiting for promotion".into());
        return false;
    }
    let Some(elapsed) = ctx.millis_since(&started) else {
        ctx.waiting = Some("preview ready: auto-promotion time unknown".into());
        return false;
    };
    let remaining = bg.auto_promotion_ms.unwrap_or(0) - elapsed;
    if remaining > 0 {
        ctx.desired.requeue_in(remaining);
        ctx.waiting = Some(format!(
            "preview ready: auto-promotion in {}s",
            (remaining + 999) / 1000
        ));
        return false;
    }
    ctx.status
        .pause_conditions
        .retain(|p| p.reason != PauseReason::BlueGreenPause);
    true
}

fn scale_sides(
    ctx: &mut DecisionState,
    settings: &Settings,
    stable: &str,
    hash: &str,
    preview: i32,
) {
    let mut targets = lifecycle::retire_others(ctx, &[stable, hash], 0);
    targets.push(ReplicaTarget::new(stable, settings.replicas));
    targets.push(ReplicaTarget::new(hash, preview));
    scale::apply(ctx, settings, targets, false);
}

fn after_switch(
    ctx: &mut DecisionState,
    settings: &Settings,
    bg: &BlueGreen,
    stable: &str,
    hash: &str,
) {
    services(ctx, hash, hash);
    ctx.desired.canary_weight = 100;
    // The old side stays whole until the new one has proven itself.
    scale_sides(ctx, settings, stable, hash, settings.replicas);
    let full = ctx.status.promote_full == Some(true);
    if let (Some(post), false) = (&bg.post_promotion, full) {
        match run(ctx, RunKind::PostPromotion, hash, post, "post-promotion") {
            Some(true) => {}
            Some(false) => return,
            None => {
                ctx.desired.replica_sets.clear();
                return aborted(ctx, settings, bg, stable, hash);
            }
        }
    }
    ctx.status.stable_rs = Some(hash.to_owned());
    ctx.status.stable_revision = ctx.status.canary_revision.clone();
    ctx.status.promote_full = None;
    ctx.status.pause_conditions.clear();
    let status = bg_status(ctx);
    status.scale_up_preview_check_point = None;
    status.pre_promotion_analysis_run = None;
    status.post_promotion_analysis_run = None;
    let label = ctx.status.stable_revision.clone().unwrap_or_default();
    ctx.event(
        EventType::Normal,
        "RolloutCompleted",
        format!("revision {label} is active and stable; the old side scales down after its delay"),
    );
    ctx.desired.replica_sets.clear();
    steady(ctx, settings, bg, hash);
}

/// `Some(true)` passed, `Some(false)` running or inconclusive, `None` failed (aborted).
fn run(
    ctx: &mut DecisionState,
    kind: RunKind,
    hash: &str,
    analysis: &RolloutAnalysis,
    what: &str,
) -> Option<bool> {
    let name = ctx.analysis_run_name(kind);
    let slot = match kind {
        RunKind::PrePromotion => &mut bg_status(ctx).pre_promotion_analysis_run,
        _ => &mut bg_status(ctx).post_promotion_analysis_run,
    };
    if slot.as_deref() != Some(name.as_str()) {
        *slot = Some(name.clone());
        ctx.event(
            EventType::Normal,
            "AnalysisRunStarted",
            format!("{what} analysis run {name}"),
        );
    }
    let observed = ctx
        .observed
        .analysis_runs
        .iter()
        .find(|r| r.name == name)
        .cloned();
    match observed.as_ref().map(|r| r.phase) {
        Some(AnalysisPhase::Successful) => {
            ctx.status
                .pause_conditions
                .retain(|p| p.reason != PauseReason::InconclusiveAnalysis);
            Some(true)
        }
        Some(phase @ (AnalysisPhase::Failed | AnalysisPhase::Error)) => {
            abort_for_run(
                ctx,
                &format!("{what} analysis run {name}"),
                phase,
                observed.and_then(|r| r.message),
            );
            None
        }
        phase => {
            keep_run(ctx, &name, kind, hash, analysis);
            if phase == Some(AnalysisPhase::Inconclusive) {
                let why = observed.as_ref().and_then(|r| r.message.as_deref());
                hold_inconclusive(ctx, &format!("analysis run {name}"), why);
            } else {
                ctx.waiting = Some(format!(
                    "waiting for {what} analysis run {name}{}",
                    lifecycle::run_waits_for(observed.as_ref())
                ));
            }
            Some(false)
        }
    }
}
