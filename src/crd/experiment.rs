//! `Experiment`: ReplicaSets run side by side for a while (a baseline and a
//! canary, say) with analyses alongside; a canary step can start one and
//! waits for its verdict. Field names follow Argo Rollouts.

// Each `printcolumn(...)` repeats the same keys; clippy reads them as duplicates.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::analysis::{AnalysisArg, AnalysisPhase, AnalysisTemplateRef};
use super::unsupported::{Unsupported, records_unsupported};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "conductor.dev",
    version = "v1alpha1",
    kind = "Experiment",
    namespaced,
    status = "ExperimentStatus",
    shortname = "exp",
    category = "conductor",
    derive = "PartialEq",
    doc = "ReplicaSets run side by side for a while, with analyses alongside.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.message",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
// See `RolloutSpec` for `remote = "Self"`.
#[serde(rename_all = "camelCase", remote = "Self")]
#[schemars(rename = "ExperimentSpec")]
pub struct ExperimentSpec {
    /// One ReplicaSet each.
    pub templates: Vec<ExperimentTemplate>,
    /// How long to run once every ReplicaSet is available (`30s`, `5m`,
    /// `1h`); absent means until the analyses required for completion end,
    /// or until terminated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// How long the ReplicaSets may take to become available; the
    /// experiment fails past it. 600 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analyses: Vec<ExperimentAnalysis>,
    /// Ends the experiment now: its ReplicaSets scale to zero and its
    /// running analyses stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminate: Option<bool>,
    /// Fields of the manifest this type did not read; each fails the
    /// experiment (see `crd::unsupported`). Never written back.
    #[serde(skip)]
    pub unsupported: Unsupported,
}

records_unsupported!(ExperimentSpec);

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentTemplate {
    pub name: String,
    /// 1 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    pub selector: LabelSelector,
    pub template: PodTemplateSpec,
}

/// An analysis run alongside the experiment's ReplicaSets, once they are
/// available. `{{templates.<name>.podTemplateHash}}` in an argument's
/// value names a template's pods.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentAnalysis {
    pub name: String,
    pub template_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisArg>,
    /// The experiment is not over until this analysis is, whatever its
    /// duration says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_for_completion: Option<bool>,
}

impl ExperimentAnalysis {
    pub fn template(&self) -> AnalysisTemplateRef {
        AnalysisTemplateRef {
            template_name: self.template_name.clone(),
            cluster_scope: self.cluster_scope,
        }
    }

    pub fn required(&self) -> bool {
        self.required_for_completion == Some(true)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentStatus {
    /// Pending until every ReplicaSet is available, Running, then
    /// Successful, Failed, Error or Inconclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<AnalysisPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When every ReplicaSet became available: the duration runs from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub template_statuses: Vec<TemplateStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analysis_runs: Vec<ExperimentAnalysisRunStatus>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateStatus {
    pub name: String,
    /// The pod-template hash of its ReplicaSet's pods, for analyses to
    /// select them by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template_hash: Option<String>,
    #[serde(default)]
    pub replicas: i32,
    #[serde(default)]
    pub available_replicas: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentAnalysisRunStatus {
    /// The analysis' name in `spec.analyses`.
    pub name: String,
    /// The AnalysisRun's name.
    pub analysis_run: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<AnalysisPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A canary step's experiment: templates taken from the stable or the
/// canary ReplicaSet, run beside them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutExperiment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    pub templates: Vec<RolloutExperimentTemplate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analyses: Vec<ExperimentAnalysis>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutExperimentTemplate {
    pub name: String,
    /// `stable` or `canary`: whose pod template to run.
    pub spec_ref: SpecRef,
    /// 1 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

closed_set! {
    /// Which of the rollout's ReplicaSets an experiment template copies.
    #[derive(Default)]
    pub enum SpecRef {
        Stable = "stable",
        #[default]
        Canary = "canary",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_conductor_does_not_run_are_recorded_by_path() {
        let spec: ExperimentSpec = serde_json::from_value(serde_json::json!({
            "duration": "5m",
            "templates": [{
                "name": "baseline",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}},
                "service": {"name": "baseline"},
                "weight": 5,
            }],
            "scaleDownDelaySeconds": 30,
        }))
        .unwrap();
        assert_eq!(
            spec.unsupported.paths(),
            [
                "spec.scaleDownDelaySeconds",
                "spec.templates[0].service",
                "spec.templates[0].weight"
            ]
        );
    }
}
