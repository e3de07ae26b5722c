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

mod bluegreen;
mod canary;
pub mod duration;
mod identity;
mod lifecycle;
mod outcome;
mod scale;
mod settings;
mod status;

use jiff::Timestamp;

use crate::crd::analysis::AnalysisArg;
pub use crate::crd::analysis::AnalysisPhase;
pub use crate::crd::problem::SpecProblem;
use crate::crd::rollout::{AnalysisTemplateRef, RolloutSpec, RolloutStatus};
pub use crate::crd::time::UnreadableTime;

pub use identity::template_replica_set;
pub use outcome::{Outcome, outcome};
pub use settings::Settings;

/// A ReplicaSet of the rollout, as the platform sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicaSetState {
    /// Pod-template hash: the identity of a revision, as its creator
    /// computed it; its pods' selector holds it, so it never changes.
    pub hash: String,
    /// The hash of its template as it is now, when the platform can tell.
    /// It differs from `hash` for a ReplicaSet named from a template before
    /// server defaults were taken into account; see [`template_replica_set`].
    pub template: Option<String>,
    /// Human revision (image tag or git sha) of its template.
    pub label: String,
    /// Rollout revision number; higher is newer. Going back to an old
    /// template makes its ReplicaSet the newest revision again.
    pub revision: u64,
    /// When the ReplicaSet was created; unlike `revision`, never changes.
    pub created_at: Option<Timestamp>,
    /// Replicas asked of it.
    pub replicas: i32,
    pub ready: i32,
    pub available: i32,
    /// When it is due to scale down to zero, if a delay is running.
    pub scale_down_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisRunState {
    pub name: String,
    pub phase: AnalysisPhase,
    pub message: Option<String>,
}

/// Something a person or CI asked for; each is acted on once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Go to the next step (or, in blue-green, promote now).
    Promote,
    /// Skip every remaining step and analysis.
    PromoteFull,
    Abort,
    /// Start the aborted revision's steps again.
    Retry,
    /// Roll the template back to the previous revision.
    Undo,
}

/// What the platform saw this time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// The rollout's name; analysis runs are named after it.
    pub name: String,
    pub generation: i64,
    /// Pod-template hash of the spec's template now. [`decide`] reads it
    /// as the name of the ReplicaSet running that template, if one does.
    pub template_hash: String,
    /// Human revision of the spec's template now.
    pub template_label: String,
    pub replica_sets: Vec<ReplicaSetState>,
    pub analysis_runs: Vec<AnalysisRunState>,
    /// The canary weight the traffic router reports; `None` when the
    /// platform routes by replica ratio or applies weights synchronously.
    pub traffic_weight: Option<i32>,
    /// Analysis templates that exist, when the platform knows; references
    /// to others make the spec invalid.
    pub known_templates: Option<Vec<AnalysisTemplateRef>>,
    pub requests: Vec<Request>,
    /// A problem the platform found with the spec that the engine cannot
    /// see (a missing workloadRef Deployment or Service); the rollout is
    /// invalid until it is fixed.
    pub problem: Option<SpecProblem>,
}

impl Observed {
    pub fn replica_set(&self, hash: &str) -> Option<&ReplicaSetState> {
        self.replica_sets.iter().find(|rs| rs.hash == hash)
    }

    fn available(&self, hash: &str) -> i32 {
        self.replica_set(hash).map_or(0, |rs| rs.available)
    }

    fn analysis_run(&self, name: &str) -> Option<&AnalysisRunState> {
        self.analysis_runs.iter().find(|r| r.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredReplicaSet {
    pub hash: String,
    pub replicas: i32,
    pub scale_down_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Step(usize),
    Background,
    PrePromotion,
    PostPromotion,
}

/// An analysis run that must exist and keep running; runs of the rollout
/// not listed are to be terminated.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredAnalysisRun {
    pub name: String,
    pub kind: RunKind,
    pub hash: String,
    pub templates: Vec<AnalysisTemplateRef>,
    pub args: Vec<AnalysisArg>,
}

/// What the platform must make true.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Desired {
    /// Every ReplicaSet to keep, with its replicas (0 to scale down).
    pub replica_sets: Vec<DesiredReplicaSet>,
    /// Traffic percentage for the canary (or preview); the rest goes to stable.
    pub canary_weight: i32,
    /// Hash the stable (canary) or active (blue-green) service selects.
    pub stable_hash: Option<String>,
    /// Hash the canary (canary) or preview (blue-green) service selects.
    pub canary_hash: Option<String>,
    pub analysis_runs: Vec<DesiredAnalysisRun>,
    /// Undo: replace the spec's template with this ReplicaSet's.
    pub rollback_to: Option<String>,
    /// Restart pods created before this time (from `spec.restartAt`).
    pub restart_pods_before: Option<Timestamp>,
    /// Decide again after this many milliseconds even if nothing changes.
    pub requeue_after_ms: Option<i64>,
}

impl Desired {
    fn requeue_in(&mut self, millis: i64) {
        let millis = millis.max(1);
        self.requeue_after_ms = Some(self.requeue_after_ms.map_or(millis, |m| m.min(millis)));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// A Kubernetes Event (or a line in the demo's log) for a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub type_: EventType,
    pub reason: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub status: RolloutStatus,
    pub desired: Desired,
    pub events: Vec<Event>,
}

/// Decides the next status and desired world of a rollout.
pub fn decide(
    spec: &RolloutSpec,
    status: &RolloutStatus,
    observed: &Observed,
    now: Timestamp,
) -> Decision {
    let resolved = identity::resolve(observed);
    let observed = &*resolved;
    let mut ctx = Context {
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
    match settings {
        Ok(settings) => {
            match &settings.strategy {
                settings::Strategy::Canary(canary) => canary::decide(&mut ctx, &settings, canary),
                settings::Strategy::BlueGreen(blue_green) => {
                    bluegreen::decide(&mut ctx, &settings, blue_green)
                }
            }
            lifecycle::restart(&mut ctx, &settings);
            status::finish(&mut ctx, &settings, spec, status);
        }
        Err(problem) => status::invalid(&mut ctx, spec, &problem.to_string()),
    }
    // Runs in a stable order, whatever order the strategy found them in.
    ctx.desired
        .analysis_runs
        .sort_by(|a, b| a.name.cmp(&b.name));
    Decision {
        status: ctx.status,
        desired: ctx.desired,
        events: ctx.events,
    }
}

/// State threaded through one decision.
pub(crate) struct Context<'a> {
    pub status: RolloutStatus,
    pub desired: Desired,
    pub events: Vec<Event>,
    pub observed: &'a Observed,
    pub now: Timestamp,
    /// The progress deadline passed and the rollout does not abort on it.
    pub deadline_exceeded: bool,
    /// What the rollout waits for, in words, for the status message.
    pub waiting: Option<String>,
}

impl Context<'_> {
    fn event(&mut self, type_: EventType, reason: &'static str, message: impl Into<String>) {
        self.events.push(Event {
            type_,
            reason,
            message: message.into(),
        });
    }

    fn now_string(&self) -> String {
        self.now.to_string()
    }

    /// Milliseconds since an RFC 3339 time in the status, or `None` when it
    /// is unreadable: the caller then waits instead of acting on a guess,
    /// and `status::finish` reports the field.
    fn millis_since(&self, time: &str) -> Option<i64> {
        let time = time.parse::<Timestamp>().ok()?;
        Some(self.now.as_millisecond() - time.as_millisecond())
    }

    /// `<rollout>-<hash>-<attempt>-<kind>`: unique per attempt, so a run
    /// left over from an earlier try at the same revision is never mistaken
    /// for this one's.
    fn analysis_run_name(&self, kind: RunKind) -> String {
        let suffix = match kind {
            RunKind::Step(i) => format!("step{i}"),
            RunKind::Background => "background".to_owned(),
            RunKind::PrePromotion => "pre".to_owned(),
            RunKind::PostPromotion => "post".to_owned(),
        };
        format!(
            "{}-{}-{}-{suffix}",
            self.observed.name,
            self.observed.template_hash,
            self.status.attempt.unwrap_or(0)
        )
    }
}
