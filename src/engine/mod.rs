//! The rollout state machine: what happens next to a rollout.
//!
//! ```text
//!   spec + status + observed world + now ──decide──▶ new status + desired world + events
//! ```
//!
//! Pure: no I/O, no clock. Every platform (the Kubernetes controller, the
//! local demo) observes its world, calls [`decide`], makes the desired world
//! real and writes the status back, so all of them make the same decisions.
//! Deciding again on the status a decision returned, with nothing else
//! changed, returns that same decision with no events: the engine never
//! triggers itself.
//!
//! In the order a decision reads them: `observed` (what the platform saw)
//! and `settings` (the spec, validated) go in; `identity` names the
//! template's ReplicaSet; `canary` or `bluegreen` walks the strategy, using
//! `lifecycle` (new revision, abort, retry, undo, restart) and `scale`
//! (replica targets within surge and availability); `status` finishes the
//! status; `services` turns the revisions the strategy named into the
//! hashes the Services select; `routing` checks the traffic routers and
//! `managed_routes` keeps the header and mirror routes the steps set up;
//! `workload` scales a `workloadRef` Deployment down as the status
//! allows; `desired` and `decision` are what comes out. A `blocker` (an
//! object the spec names is missing, the platform's API refused a
//! request) holds the rollout where it is until it clears or the progress
//! deadline passes. [`outcome`] reads a
//! status back as "is it done?".

pub mod blocker;
mod bluegreen;
mod canary;
mod decision;
mod desired;
pub mod duration;
mod experiment_check;
mod experiment_step;
mod identity;
mod lifecycle;
mod managed_routes;
mod observed;
mod outcome;
mod routing;
mod scale;
mod services;
mod settings;
mod status;
mod workload;

use jiff::Timestamp;

pub use crate::crd::analysis::AnalysisPhase;
pub use crate::crd::problem::SpecProblem;
use crate::crd::rollout::{RolloutSpec, RolloutStatus};
pub use crate::crd::time::UnreadableTime;

pub use blocker::{Blocker, MissingReference, Refusal, RefusalReason};
use decision::DecisionState;
pub use decision::{Decision, Event, EventType};
pub use desired::{
    Desired, DesiredAnalysisRun, DesiredExperiment, DesiredReplicaSet, DesiredRoute, RouteKind,
    RunKind,
};
pub use identity::template_replica_set;
pub use observed::{
    AnalysisRunState, ExperimentState, Observed, PodState, ReplicaSetState, Request,
};
pub use outcome::{Outcome, outcome};
pub use settings::Settings;

/// Decides the next status and desired world of a rollout.
pub fn decide(
    spec: &RolloutSpec,
    status: &RolloutStatus,
    observed: &Observed,
    now: Timestamp,
) -> Decision {
    let resolved = identity::resolve(observed);
    let observed = &*resolved;
    let mut ctx = DecisionState {
        status: status.clone(),
        desired: Desired::default(),
        events: Vec::new(),
        observed,
        now,
        deadline_exceeded: false,
        waiting: None,
    };
    ctx.status.observed_generation = Some(observed.generation);
    let settings = match &observed.problem {
        Some(problem) => Err(problem.clone()),
        None => Settings::from_spec(spec, observed.known_templates.as_deref()),
    };
    let blocker = settings.as_ref().ok().and_then(|settings| {
        observed
            .blocker
            .clone()
            .or_else(|| settings.missing_template.clone().map(Blocker::Missing))
    });
    match (settings, &blocker) {
        (Err(problem), _) => status::invalid(&mut ctx, spec, &problem.to_string()),
        (Ok(settings), Some(blocker)) => {
            status::blocked(&mut ctx, &settings, spec, blocker, status)
        }
        (Ok(settings), None) => {
            match &settings.strategy {
                settings::Strategy::Canary(canary) => canary::decide(&mut ctx, &settings, canary),
                settings::Strategy::BlueGreen(blue_green) => {
                    bluegreen::decide(&mut ctx, &settings, blue_green)
                }
            }
            services::select(&mut ctx);
            lifecycle::restart(&mut ctx, &settings);
            status::finish(&mut ctx, &settings, spec, status);
            workload::scale_down(&mut ctx, &settings);
        }
    }
    // Runs in a stable order, whatever order the strategy found them in.
    ctx.desired
        .analysis_runs
        .sort_by(|a, b| a.name.cmp(&b.name));
    ctx.desired.experiments.sort_by(|a, b| a.name.cmp(&b.name));
    Decision {
        status: ctx.status,
        desired: ctx.desired,
        events: ctx.events,
        blocker,
    }
}
