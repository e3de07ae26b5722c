//! The `Rollout` resource: a Deployment-shaped workload plus a progressive
//! delivery strategy. Field names follow Argo Rollouts wherever the meaning is
//! the same, so a migrating user can keep their manifests.

// Each `printcolumn(...)` repeats the same keys; clippy reads them as duplicates.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::analysis::AnalysisTemplateRef;
use super::analysis::{AnalysisArg, DryRun, MeasurementRetention};
use super::condition::Condition;
pub use super::experiment::RolloutExperiment;
use super::problem::SpecProblem;
pub use super::traffic::{
    GatewayApiTrafficRouting, NginxTrafficRouting, SetHeaderRoute, SetMirrorRoute, TrafficRouting,
};
use super::unsupported::{Unsupported, records_unsupported};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "conductor.dev",
    version = "v1alpha1",
    kind = "Rollout",
    namespaced,
    status = "RolloutStatus",
    shortname = "ro",
    category = "conductor",
    derive = "PartialEq",
    derive = "Default",
    doc = "A workload rolled out progressively (canary or blue-green) with automated analysis and rollback.",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".spec.replicas",
        description = "Number of desired pods"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Healthy, Progressing, Paused or Degraded"
    ),
    printcolumn(
        name = "Step",
        type_ = "string",
        json_path = ".status.currentStepIndex",
        description = "Index of the current canary step"
    ),
    printcolumn(
        name = "Weight",
        type_ = "integer",
        json_path = ".status.canary.weights.canary",
        description = "Traffic percentage sent to the canary"
    ),
    printcolumn(
        name = "Stable",
        type_ = "string",
        json_path = ".status.stableRevision",
        description = "Revision serving stable traffic"
    ),
    printcolumn(
        name = "Canary",
        type_ = "string",
        json_path = ".status.canaryRevision",
        description = "Revision being rolled out"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
// The derived (de)serializers stay as inherent functions (`remote =
// "Self"`) for `records_unsupported!` to wrap; the schema keeps its name.
#[serde(rename_all = "camelCase", remote = "Self")]
#[schemars(rename = "RolloutSpec")]
pub struct RolloutSpec {
    /// Desired number of pods; defaults to 1. Driven by an HPA through the scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Selects the pods this rollout owns; must match the template's labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The pod template. Either this or `workloadRef` is required.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::quantities::pod_template"
    )]
    pub template: Option<PodTemplateSpec>,
    /// Take the pod template from an existing Deployment instead of `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_ref: Option<WorkloadRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// Stops the rollout from making progress until unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// Seconds a rollout may make no progress before it is reported as stalled; default 600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
    /// Abort the rollout (and roll back) when the progress deadline passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_abort: Option<bool>,
    /// Restart every pod created before this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_window: Option<RollbackWindow>,
    pub strategy: RolloutStrategy,
    /// Fields of the manifest this type did not read; each makes the
    /// rollout invalid (see `crd::unsupported`). Never written back.
    #[serde(skip)]
    pub unsupported: Unsupported,
}

records_unsupported!(RolloutSpec, RolloutSpec::read_template_names);

/// `templateName: x` as `templates: [{templateName: x}]`, in front.
fn fold_template_name(name: &mut Option<String>, templates: &mut Vec<AnalysisTemplateRef>) {
    if let Some(template_name) = name.take() {
        templates.insert(
            0,
            AnalysisTemplateRef {
                template_name,
                cluster_scope: None,
            },
        );
    }
}

impl RolloutSpec {
    /// Argo's older `analysis.templateName`, wherever an analysis is named,
    /// read as the first entry of `templates`.
    fn read_template_names(&mut self) {
        if let Some(canary) = &mut self.strategy.canary {
            for step in &mut canary.steps {
                if let Some(analysis) = &mut step.analysis {
                    fold_template_name(&mut analysis.template_name, &mut analysis.templates);
                }
            }
            if let Some(background) = &mut canary.analysis {
                fold_template_name(&mut background.template_name, &mut background.templates);
            }
        }
        if let Some(blue_green) = &mut self.strategy.blue_green {
            for analysis in [
                &mut blue_green.pre_promotion_analysis,
                &mut blue_green.post_promotion_analysis,
            ]
            .into_iter()
            .flatten()
            {
                fold_template_name(&mut analysis.template_name, &mut analysis.templates);
            }
        }
    }

    /// Every list of analysis templates the spec names, with its field
    /// (`spec.strategy.canary.steps[1].analysis`), in spec order.
    pub fn analysis_templates(&self) -> Vec<(String, &[AnalysisTemplateRef])> {
        let mut found = Vec::new();
        if let Some(canary) = &self.strategy.canary {
            for (i, step) in canary.steps.iter().enumerate() {
                if let Some(analysis) = &step.analysis {
                    found.push((
                        format!("spec.strategy.canary.steps[{i}].analysis"),
                        analysis.templates.as_slice(),
                    ));
                }
            }
            if let Some(background) = &canary.analysis {
                found.push((
                    "spec.strategy.canary.analysis".to_owned(),
                    background.templates.as_slice(),
                ));
            }
        }
        if let Some(blue_green) = &self.strategy.blue_green {
            for (field, analysis) in [
                ("prePromotionAnalysis", &blue_green.pre_promotion_analysis),
                ("postPromotionAnalysis", &blue_green.post_promotion_analysis),
            ] {
                if let Some(analysis) = analysis {
                    found.push((
                        format!("spec.strategy.blueGreen.{field}"),
                        analysis.templates.as_slice(),
                    ));
                }
            }
        }
        found
    }

    /// The first template the spec names whose own manifest has fields
    /// Conductor does not read, as a problem with the rollout naming the
    /// reference, the template and its field: a run made from it would
    /// measure something other than what was written. `unsupported_of`
    /// looks a template up (`None` when it is not found).
    pub fn template_problem(
        &self,
        unsupported_of: impl Fn(&AnalysisTemplateRef) -> Option<Unsupported>,
    ) -> Option<SpecProblem> {
        self.analysis_templates()
            .into_iter()
            .find_map(|(field, templates)| {
                templates.iter().enumerate().find_map(|(i, reference)| {
                    unsupported_of(reference)?.in_template(
                        format!("{field}.templates[{i}].templateName"),
                        reference.kind(),
                        &reference.template_name,
                    )
                })
            })
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// When to scale the referenced Deployment down: `never`; `onsuccess` (the default), to 0 once the Rollout is Healthy; or `progressively`, by one pod for each pod of the Rollout available, then to 0 once Healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<ScaleDown>,
}

closed_set! {
    /// When a `workloadRef` Deployment is scaled down.
    pub enum ScaleDown {
        Never = "never",
        OnSuccess = "onsuccess",
        Progressively = "progressively",
    }
}

/// Rolling back to one of the last `revisions` revisions skips the canary steps.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackWindow {
    pub revisions: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStrategy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStrategy>,
}

impl RolloutStrategy {
    /// The strategy's `antiAffinity`, canary or blue-green.
    pub fn anti_affinity(&self) -> Option<&AntiAffinity> {
        match (&self.canary, &self.blue_green) {
            (Some(canary), _) => canary.anti_affinity.as_ref(),
            (None, Some(bg)) => bg.anti_affinity.as_ref(),
            (None, None) => None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    /// Service whose selector is pinned to the canary pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_service: Option<String>,
    /// Service whose selector is pinned to the stable pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_service: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<CanaryStep>,
    /// How weights reach users; replica ratio when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_routing: Option<TrafficRouting>,
    /// Extra pods allowed above `replicas` during the update (count or percentage); default 25%.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    /// Pods that may be unavailable during the update (count or percentage); default 25%.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// Analysis running in the background for the whole rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<BackgroundAnalysis>,
    /// Seconds the old stable pods stay up after promotion; default 30 with traffic routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
    /// Seconds the canary pods stay up after an abort; default 30 with traffic routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_scale_down_delay_seconds: Option<i32>,
    /// Old ReplicaSets left up through `scaleDownDelaySeconds` at once, the
    /// newest first; older ones scale down at once. All of them when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_revision_limit: Option<i32>,
    /// With traffic routing, the stable or canary ReplicaSet runs at least
    /// this many pods whenever it runs any (for availability), as in Argo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_pods_per_replica_set: Option<i32>,
    /// Keeps a new revision's pods off the nodes that run the stable
    /// revision's: required or preferred pod anti-affinity by node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<AntiAffinity>,
}

/// Injected into a new revision's ReplicaSet: pod anti-affinity to the
/// stable revision's pods by node, required or preferred. Set exactly one.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AntiAffinity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_during_scheduling_ignored_during_execution: Option<RequiredAntiAffinity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_during_scheduling_ignored_during_execution: Option<PreferredAntiAffinity>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct RequiredAntiAffinity {}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PreferredAntiAffinity {
    /// 1 to 100, as the scheduler weighs preferred terms.
    pub weight: i32,
}

/// One canary step. Exactly one field is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStep {
    /// The canary's share of traffic, 0 to `trafficRouting.maxTrafficWeight` (100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_weight: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<RolloutPause>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<RolloutAnalysis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_canary_scale: Option<SetCanaryScale>,
    /// Sends requests with the given headers to the canary (a managed route).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_header_route: Option<SetHeaderRoute>,
    /// Mirrors a share of the matching requests to the canary (a managed route).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_mirror_route: Option<SetMirrorRoute>,
    /// Runs an Experiment (e.g. the stable and canary templates side by
    /// side, with analyses) and goes on once it succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<RolloutExperiment>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutPause {
    /// How long to pause (`30s`, `5m`, `1h`, or seconds); absent means until promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<IntOrString>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetCanaryScale {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_traffic_weight: Option<bool>,
}

/// Analysis templates to run, with the arguments they need.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysis {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<AnalysisTemplateRef>,
    /// Argo Rollouts' older single-template form; read as the first of
    /// `templates`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisArg>,
    /// Metrics (names or patterns) measured but never failing the run,
    /// beside the templates' own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    /// How many measurements the run keeps per metric, beside the
    /// templates' own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// Labels and annotations for the AnalysisRun made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_run_metadata: Option<AnalysisRunMetadata>,
}

/// Labels and annotations a rollout puts on an AnalysisRun it makes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunMetadata {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackgroundAnalysis {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<AnalysisTemplateRef>,
    /// Argo Rollouts' older single-template form; read as the first of
    /// `templates`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisArg>,
    /// Step index at which background analysis starts; 0 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_step: Option<i32>,
    /// Metrics (names or patterns) measured but never failing the run,
    /// beside the templates' own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    /// How many measurements the run keeps per metric, beside the
    /// templates' own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// Labels and annotations for the AnalysisRun made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_run_metadata: Option<AnalysisRunMetadata>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStrategy {
    /// Service that receives production traffic.
    pub active_service: String,
    /// Service that reaches the new version before promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_replica_count: Option<i32>,
    /// Promote without a person when the preview is ready; default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_scale_down_delay_seconds: Option<i32>,
    /// Old ReplicaSets left up through `scaleDownDelaySeconds` at once, the
    /// newest first; older ones scale down at once. All of them when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_revision_limit: Option<i32>,
    /// Keeps a new revision's pods off the nodes that run the active
    /// revision's: required or preferred pod anti-affinity by node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<AntiAffinity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis: Option<RolloutAnalysis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis: Option<RolloutAnalysis>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// Healthy, Progressing, Paused or Degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RolloutPhase>,
    /// What the rollout is waiting for, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step_index: Option<i32>,
    /// Revision (e.g. the image tag or git sha) serving stable traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_revision: Option<String>,
    /// Revision being rolled out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_revision: Option<String>,
    /// Pod-template hash of the stable ReplicaSet.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "stableRS")]
    pub stable_rs: Option<String>,
    /// Pod-template hash of the current (newest) ReplicaSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_pod_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// Label selector in string form, for the scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pause_conditions: Vec<PauseCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_full: Option<bool>,
    /// Counts attempts (each new revision, each retry); part of analysis
    /// run names so every attempt gets fresh runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<i32>,
    /// The last `conductor.dev/request` annotation acted on; each request is acted on once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request: Option<String>,
    /// The `spec.restartAt` already acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

closed_set! {
    /// Where a rollout stands, as `kubectl get rollouts` shows it.
    pub enum RolloutPhase {
        Healthy = "Healthy",
        Progressing = "Progressing",
        Paused = "Paused",
        Degraded = "Degraded",
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<TrafficWeights>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step_analysis_run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_background_analysis_run: Option<String>,
    /// The Experiment the current step runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_experiment: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficWeights {
    pub canary: i32,
    pub stable: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up_preview_check_point: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis_run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis_run: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PauseCondition {
    /// CanaryPauseStep, BlueGreenPause, InconclusiveAnalysis or ProgressDeadlineExceeded.
    pub reason: PauseReason,
    pub start_time: String,
}

closed_set! {
    /// Why a rollout paused.
    pub enum PauseReason {
        CanaryPauseStep = "CanaryPauseStep",
        BlueGreenPause = "BlueGreenPause",
        InconclusiveAnalysis = "InconclusiveAnalysis",
        ProgressDeadlineExceeded = "ProgressDeadlineExceeded",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_with_unsupported_fields_is_named_where_the_rollout_refers_to_it() {
        let spec: RolloutSpec = serde_json::from_value(serde_json::json!({
            "strategy": {"canary": {
                "steps": [
                    {"setWeight": 20},
                    {"analysis": {"templates": [
                        {"templateName": "error-rate"},
                        {"templateName": "smoke", "clusterScope": true},
                    ]}},
                ],
                "analysis": {"templates": [{"templateName": "smoke", "clusterScope": true}]},
            }},
        }))
        .unwrap();
        assert_eq!(
            spec.analysis_templates()
                .iter()
                .map(|(field, refs)| (field.as_str(), refs.len()))
                .collect::<Vec<_>>(),
            [
                ("spec.strategy.canary.steps[1].analysis", 2),
                ("spec.strategy.canary.analysis", 1)
            ]
        );
        let job: Unsupported =
            serde_json::from_value::<crate::crd::analysis::AnalysisTemplateSpec>(
                serde_json::json!({"metrics": [{"name": "m", "provider": {"newRelic": {}}}]}),
            )
            .unwrap()
            .unsupported;
        let problem = spec
            .template_problem(|r| r.cluster_scope.is_some().then(|| job.clone()))
            .unwrap();
        assert_eq!(
            problem.to_string(),
            "spec.strategy.canary.steps[1].analysis.templates[1].templateName: \
             ClusterAnalysisTemplate `smoke`: spec.metrics[0].provider.newRelic: not supported by Conductor"
        );
        assert_eq!(
            spec.template_problem(|_| Some(Unsupported::default())),
            None
        );
    }

    #[test]
    fn a_field_inside_an_empty_anti_affinity_rule_is_named() {
        let spec: RolloutSpec = serde_json::from_value(serde_json::json!({
            "strategy": {"canary": {"antiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"topologyKey": "zone"}
            }}},
        }))
        .unwrap();
        assert_eq!(
            spec.unsupported.first().map(|p| p.to_string()).as_deref(),
            Some(
                "spec.strategy.canary.antiAffinity.requiredDuringSchedulingIgnoredDuringExecution.topologyKey: not supported by Conductor"
            )
        );
        assert_eq!(spec.template_problem(|_| None), None);
    }
}
