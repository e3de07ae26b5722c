//! One decision: what it returns, and the state threaded through the rules
//! while they make it.

use jiff::Timestamp;

use super::blocker::Blocker;
use super::desired::{Desired, RunKind};
use super::observed::Observed;
use crate::crd::rollout::RolloutStatus;

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
    /// What held the rollout, if anything: a platform watches for the
    /// missing object to come.
    pub blocker: Option<Blocker>,
}

/// The engine's decision state: threaded through the rules of one
/// decision, it holds the status and desired world being built, the events
/// so far, and what the platform saw.
pub(crate) struct DecisionState<'a> {
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

impl DecisionState<'_> {
    pub(super) fn event(
        &mut self,
        type_: EventType,
        reason: &'static str,
        message: impl Into<String>,
    ) {
        self.events.push(Event {
            type_,
            reason,
            message: message.into(),
        });
    }

    pub(super) fn now_string(&self) -> String {
        self.now.to_string()
    }

    /// Milliseconds since an RFC 3339 time in the status, or `None` when it
    /// is unreadable: the caller then waits instead of acting on a guess,
    /// and `status::finish` reports the field.
    pub(super) fn millis_since(&self, time: &str) -> Option<i64> {
        let time = time.parse::<Timestamp>().ok()?;
        Some(self.now.as_millisecond() - time.as_millisecond())
    }

    /// `<rollout>-<hash>-<attempt>-<kind>`: unique per attempt, so a run
    /// left over from an earlier try at the same revision is never mistaken
    /// for this one's.
    /// `<rollout>-<hash>-<attempt>-<step>`, unique per attempt as analysis
    /// run names are.
    pub(super) fn experiment_name(&self, step: usize) -> String {
        format!(
            "{}-{}-{}-{step}",
            self.observed.name,
            self.observed.template_hash,
            self.status.attempt.unwrap_or(0)
        )
    }

    pub(super) fn analysis_run_name(&self, kind: RunKind) -> String {
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
