//! "Is it done?": the one answer every caller uses (`rollout status
//! --watch`, the demo, the tests and `conductor deploy`).
//!
//! A status only counts for the spec it was written for. Until the
//! controller has decided on the current generation, whatever the status
//! says describes the previous spec: a Healthy left from the previous
//! revision must never let a deploy's next wave start (Argo CD's
//! progressive sync does exactly that, argo-cd #29410, #22558).

use crate::crd::rollout::{RolloutPhase, RolloutSpec, RolloutStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still moving; `waiting` says on what, in words.
    Progressing {
        /// Current canary step and the number of steps, when there are steps.
        step: Option<(i32, usize)>,
        /// Traffic percentage on the canary, when a weight is set.
        weight: Option<i32>,
        waiting: String,
    },
    /// Waiting for a person (a pause step without duration, `spec.paused`).
    Paused { message: String },
    /// Done: every pod runs `revision`, and it is the current spec's.
    Healthy { revision: String },
    /// Rolled back (aborted by analysis or a person), stalled past the
    /// progress deadline, or an invalid spec.
    Degraded { reason: String },
}

impl Outcome {
    /// Finished, one way or the other.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Healthy { .. } | Self::Degraded { .. })
    }

    pub fn is_healthy_at(&self, revision: &str) -> bool {
        matches!(self, Self::Healthy { revision: r } if r == revision)
    }

    /// Where a progressing canary is, ` step 2/5 weight 40%`; empty otherwise.
    pub fn position(&self) -> String {
        let Self::Progressing { step, weight, .. } = self else {
            return String::new();
        };
        let mut text = String::new();
        if let Some((step, steps)) = step {
            text.push_str(&format!(" step {step}/{steps}"));
        }
        if let Some(weight) = weight {
            text.push_str(&format!(" weight {weight}%"));
        }
        text
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Healthy { revision } => write!(f, "Healthy at {revision}"),
            Self::Degraded { reason } => write!(f, "Degraded: {reason}"),
            Self::Paused { message } => write!(f, "Paused: {message}"),
            Self::Progressing { waiting, .. } => {
                write!(f, "Progressing{}: {waiting}", self.position())
            }
        }
    }
}

/// Where a rollout stands for its current `generation` (its
/// `metadata.generation`).
pub fn outcome(
    generation: Option<i64>,
    spec: &RolloutSpec,
    status: Option<&RolloutStatus>,
) -> Outcome {
    let Some(status) = status.filter(|s| s.observed_generation.is_some()) else {
        return Outcome::Progressing {
            step: None,
            weight: None,
            waiting: "waiting for the controller to see this rollout".into(),
        };
    };
    if status.observed_generation != generation {
        return Outcome::Progressing {
            step: None,
            weight: None,
            waiting: format!(
                "waiting for the controller to see generation {}: the status is for generation {}",
                generation.unwrap_or(0),
                status.observed_generation.unwrap_or(0)
            ),
        };
    }
    let message = status.message.clone().unwrap_or_default();
    match status.phase {
        Some(RolloutPhase::Healthy) => Outcome::Healthy {
            revision: status.stable_revision.clone().unwrap_or_default(),
        },
        Some(RolloutPhase::Degraded) => Outcome::Degraded { reason: message },
        Some(RolloutPhase::Paused) => Outcome::Paused { message },
        Some(RolloutPhase::Progressing) | None => Outcome::Progressing {
            step: status.current_step_index.and_then(|step| {
                let steps = spec.strategy.canary.as_ref()?.steps.len();
                (steps > 0).then_some((step, steps))
            }),
            weight: status
                .canary
                .as_ref()
                .and_then(|c| c.weights.as_ref())
                .map(|w| w.canary),
            waiting: if message.is_empty() {
                "progressing".into()
            } else {
                message
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(phase: RolloutPhase, observed: i64) -> RolloutStatus {
        RolloutStatus {
            phase: Some(phase),
            observed_generation: Some(observed),
            stable_revision: Some("v2".into()),
            message: Some("because".into()),
            ..RolloutStatus::default()
        }
    }

    #[test]
    fn a_status_for_an_older_generation_never_counts() {
        let spec = RolloutSpec::default();
        let healthy = status(RolloutPhase::Healthy, 3);
        assert!(outcome(Some(3), &spec, Some(&healthy)).is_healthy_at("v2"));
        let stale = outcome(Some(4), &spec, Some(&healthy));
        assert!(!stale.is_final(), "{stale:?}");
        let degraded = status(RolloutPhase::Degraded, 3);
        assert!(!outcome(Some(4), &spec, Some(&degraded)).is_final());
        assert!(!outcome(Some(1), &spec, None).is_final());
    }

    #[test]
    fn phases_map_to_outcomes() {
        let spec = RolloutSpec::default();
        assert_eq!(
            outcome(Some(1), &spec, Some(&status(RolloutPhase::Degraded, 1))),
            Outcome::Degraded {
                reason: "because".into()
            }
        );
        assert_eq!(
            outcome(Some(1), &spec, Some(&status(RolloutPhase::Paused, 1))),
            Outcome::Paused {
                message: "because".into()
            }
        );
        assert!(matches!(
            outcome(Some(1), &spec, Some(&status(RolloutPhase::Progressing, 1))),
            Outcome::Progressing { .. }
        ));
        assert!(
            !outcome(Some(1), &spec, Some(&status(RolloutPhase::Healthy, 1))).is_healthy_at("v1")
        );
    }
}
