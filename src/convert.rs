//! `conductor convert`: Argo Rollouts manifests as Conductor's. The kinds
//! Conductor shares with Argo Rollouts keep their shape, so converting is
//! a change of `apiVersion`; what matters is saying, field by field, what
//! would not carry over (a field Conductor does not implement, a value its
//! schema refuses, a spec its engine cannot run) instead of letting the
//! API server or the controller find out later. Other documents pass
//! through untouched.

use serde_json::Value;

use crate::crd::rollout::RolloutSpec;
use crate::crd::schema::SchemaSet;
use crate::engine::Settings;

pub const ARGO_API_VERSION: &str = "argoproj.io/v1alpha1";
pub const CONDUCTOR_API_VERSION: &str = "conductor.dev/v1alpha1";

/// The Argo Rollouts kinds Conductor serves under its own group.
const SHARED_KINDS: [&str; 5] = [
    "Rollout",
    "AnalysisTemplate",
    "ClusterAnalysisTemplate",
    "AnalysisRun",
    "Experiment",
];

/// One input document, converted, and what did not carry over.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    pub document: Value,
    /// `Kind name`, for messages.
    pub what: String,
    pub problems: Vec<Problem>,
}

/// A field that does not carry over, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Converts one document. `schemas` is Conductor's strict schema set.
pub fn convert(mut document: Value, schemas: &SchemaSet) -> Converted {
    let kind = text(&document, "/kind");
    let name = text(&document, "/metadata/name");
    let what = format!("{kind} {name}").trim().to_owned();
    let api_version = text(&document, "/apiVersion");
    if api_version != ARGO_API_VERSION {
        return Converted {
            document,
            what,
            problems: Vec::new(),
        };
    }
    if !SHARED_KINDS.contains(&kind.as_str()) {
        return Converted {
            document,
            what,
            problems: vec![Problem {
                field: "kind".into(),
                message: format!("{kind} is not supported by Conductor; left as it was"),
            }],
        };
    }
    document["apiVersion"] = Value::String(CONDUCTOR_API_VERSION.to_owned());
    let mut problems: Vec<Problem> = schemas
        .check(&document)
        .unwrap_or_default()
        .into_iter()
        .map(|p| Problem {
            field: p.field,
            message: p.message,
        })
        .collect();
    // What the schema accepts may still be a rollout the engine cannot
    // run as written (an empty trafficRouting, say).
    if problems.is_empty()
        && kind == "Rollout"
        && let Some(spec) = document.get("spec")
        && let Ok(spec) = serde_json::from_value::<RolloutSpec>(spec.clone())
        && let Err(problem) = Settings::from_spec(&spec, None)
    {
        problems.push(Problem {
            field: problem.path.clone(),
            message: problem.message.clone(),
        });
    }
    Converted {
        document,
        what,
        problems,
    }
}

fn text(document: &Value, pointer: &str) -> String {
    document
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rollout(strategy: Value) -> Value {
        json!({
            "apiVersion": ARGO_API_VERSION, "kind": "Rollout", "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "app", "image": "web:1"}]}},
                "strategy": strategy
            }
        })
    }

    #[test]
    fn a_rollout_conductor_runs_changes_only_its_api_version() {
        let argo = rollout(json!({"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}));
        let converted = convert(argo.clone(), &SchemaSet::new());
        assert_eq!(converted.problems, []);
        let mut expected = argo;
        expected["apiVersion"] = json!(CONDUCTOR_API_VERSION);
        assert_eq!(converted.document, expected);
    }

    #[test]
    fn every_field_that_does_not_carry_over_is_named() {
        let argo = rollout(json!({"canary": {
            "steps": [{"setWeight": 20}],
            "trafficRouting": {"appMesh": {"virtualService": {"name": "web"}}}
        }}));
        let converted = convert(argo, &SchemaSet::new());
        let fields: Vec<&str> = converted
            .problems
            .iter()
            .map(|p| p.field.as_str())
            .collect();
        assert_eq!(fields, ["spec.strategy.canary.trafficRouting.appMesh"]);
        assert!(
            converted.problems[0]
                .message
                .contains("not supported by Conductor"),
            "{:?}",
            converted.problems
        );
    }

    #[test]
    fn other_documents_pass_through_and_unknown_argo_kinds_are_named() {
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}});
        let converted = convert(service.clone(), &SchemaSet::new());
        assert_eq!((converted.document, converted.problems), (service, vec![]));

        let notification = json!({"apiVersion": ARGO_API_VERSION, "kind": "RolloutNotification", "metadata": {"name": "e"}});
        let converted = convert(notification.clone(), &SchemaSet::new());
        assert_eq!(converted.document, notification);
        assert_eq!(converted.problems[0].field, "kind");
    }
}
