//! A rollout's strategy as a list people read: each canary step in words,
//! which are done and which is current. Pure.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::crd::rollout::{CanaryStep, RolloutPhase, RolloutSpec, RolloutStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    Done,
    Current,
    /// Where an aborted rollout stopped.
    Stopped,
    Ahead,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepLine {
    pub text: String,
    pub state: StepState,
}

/// The canary steps with their states; empty for blue-green or a canary
/// without steps.
pub fn canary_steps(spec: &RolloutSpec, status: Option<&RolloutStatus>) -> Vec<StepLine> {
    let Some(canary) = spec.strategy.canary.as_ref() else {
        return Vec::new();
    };
    let current = status
        .and_then(|s| s.current_step_index)
        .and_then(|i| usize::try_from(i).ok());
    let phase = status.and_then(|s| s.phase);
    let aborted = status.and_then(|s| s.abort) == Some(true);
    canary
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let state = match current {
                Some(c) if i < c => StepState::Done,
                Some(c) if i == c && aborted => StepState::Stopped,
                Some(c) if i == c && phase != Some(RolloutPhase::Healthy) => StepState::Current,
                Some(c) if i == c => StepState::Done,
                _ => StepState::Ahead,
            };
            StepLine {
                text: describe(step),
                state,
            }
        })
        .collect()
}

/// One step in words: `Set canary weight to 25%`, `Pause until promoted`.
pub fn describe(step: &CanaryStep) -> String {
    let mut parts = Vec::new();
    if let Some(weight) = step.set_weight {
        parts.push(format!("Set canary weight to {weight}%"));
    }
    if let Some(pause) = &step.pause {
        parts.push(match &pause.duration {
            None => "Pause until promoted".to_owned(),
            Some(IntOrString::Int(seconds)) => format!("Pause for {seconds}s"),
            Some(IntOrString::String(duration)) => format!("Pause for {duration}"),
        });
    }
    if let Some(analysis) = &step.analysis {
        let names: Vec<&str> = analysis
            .templates
            .iter()
            .map(|t| t.template_name.as_str())
            .collect();
        parts.push(format!("Analysis: {}", names.join(", ")));
    }
    if let Some(scale) = &step.set_canary_scale {
        parts.push(if scale.match_traffic_weight == Some(true) {
            "Scale the canary to match its traffic".to_owned()
        } else if let Some(replicas) = scale.replicas {
            format!("Scale the canary to {replicas} pods")
        } else if let Some(weight) = scale.weight {
            format!("Scale the canary to {weight}% of the pods")
        } else {
            "Scale the canary".to_owned()
        });
    }
    if parts.is_empty() {
        "An empty step".to_owned()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(steps: serde_json::Value) -> RolloutSpec {
        serde_json::from_value(serde_json::json!({
            "strategy": { "canary": { "steps": steps } }
        }))
        .expect("a spec")
    }

    #[test]
    fn steps_before_the_current_one_are_done() {
        let spec = spec(serde_json::json!([
            { "setWeight": 25 }, { "pause": {} }, { "pause": { "duration": "30s" } },
            { "analysis": { "templates": [{ "templateName": "error-rate" }] } }
        ]));
        let status = RolloutStatus {
            current_step_index: Some(1),
            phase: Some(RolloutPhase::Paused),
            ..Default::default()
        };
        let lines = canary_steps(&spec, Some(&status));
        let states: Vec<StepState> = lines.iter().map(|l| l.state).collect();
        assert_eq!(
            states,
            [
                StepState::Done,
                StepState::Current,
                StepState::Ahead,
                StepState::Ahead
            ]
        );
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Set canary weight to 25%",
                "Pause until promoted",
                "Pause for 30s",
                "Analysis: error-rate"
            ]
        );
        let aborted = RolloutStatus {
            abort: Some(true),
            ..status
        };
        assert_eq!(
            canary_steps(&spec, Some(&aborted))[1].state,
            StepState::Stopped
        );
    }
}
