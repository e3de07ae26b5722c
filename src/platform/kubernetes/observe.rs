//! Read: what the controller sees of a rollout's world, in the engine's terms.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use super::lookups::{Lookups, revision_label};
use super::owned_replica_set::OwnedReplicaSet;
use super::{HASH_LABEL, KubeError, Target};
use crate::crd::analysis::AnalysisRun;
use crate::crd::experiment::Experiment;
use crate::crd::problem::SpecProblem;
use crate::crd::rollout::{AnalysisTemplateRef, Rollout};
use crate::engine::{
    AnalysisRunState, ExperimentState, MissingReference, Observed, PodState, ReplicaSetState,
    Request,
};

/// The workload template the rollout asks for now (from `spec.template` or
/// the `workloadRef` Deployment), and its identity.
#[derive(Debug, Clone)]
pub struct WorkloadTemplate {
    /// The template itself, for `spec.template`; a `workloadRef`
    /// Deployment's is read only when a ReplicaSet is made from it.
    pub pod_template: Option<PodTemplateSpec>,
    pub selector: LabelSelector,
    pub hash: String,
    pub label: String,
    /// The Deployment named by `workloadRef`, if any.
    pub workload: Option<Workload>,
}

#[derive(Debug, Clone)]
pub struct Workload {
    pub name: String,
    /// Its `spec.replicas` as read: the engine decides from it how far to
    /// scale it down.
    pub replicas: i32,
}

/// Resolves the template from `spec.template` or the `workloadRef`
/// Deployment. `KubeError::Spec` is a problem with the spec, for the user;
/// `KubeError::Missing` a Deployment to wait for.
pub async fn workload_template(
    lookups: &Lookups,
    rollout: &Rollout,
) -> Result<WorkloadTemplate, KubeError> {
    let spec = &rollout.spec;
    let selector = spec.selector.clone();
    let reference = match (&spec.template, &spec.workload_ref) {
        (None, Some(reference)) => reference,
        // The engine reports both and neither, with the field.
        (template, _) => {
            let template = template.clone().unwrap_or_default();
            let hash = crate::platform::template_hash(Some(&template));
            return Ok(WorkloadTemplate {
                label: revision_label(&template).unwrap_or_else(|| hash.clone()),
                hash,
                pod_template: Some(template),
                selector: selector.unwrap_or_default(),
                workload: None,
            });
        }
    };
    if reference.kind != "Deployment" || !reference.api_version.starts_with("apps/") {
        return Err(SpecProblem::new(
            "spec.workloadRef",
            format!(
                "only apps/v1 Deployment is supported, not {} {}",
                reference.api_version, reference.kind
            ),
        )
        .into());
    }
    let namespace = rollout.namespace().unwrap_or_default();
    let Some(deployment) = lookups.deployment(&namespace, &reference.name).await? else {
        return Err(KubeError::Missing(Box::new(MissingReference {
            field: "spec.workloadRef.name".into(),
            kind: "Deployment".into(),
            namespace: Some(namespace),
            name: reference.name.clone(),
        })));
    };
    if !deployment.has_spec {
        return Err(SpecProblem::new(
            "spec.workloadRef",
            format!("Deployment {} has no spec", reference.name),
        )
        .into());
    }
    Ok(WorkloadTemplate {
        pod_template: None,
        selector: selector.unwrap_or_else(|| deployment.selector.clone()),
        hash: deployment.template_hash.clone(),
        label: deployment.label.clone(),
        workload: Some(Workload {
            name: reference.name.clone(),
            replicas: deployment.replicas,
        }),
    })
}

pub fn replica_set_state(rs: &OwnedReplicaSet) -> Option<ReplicaSetState> {
    let hash = rs.hash.clone()?;
    Some(ReplicaSetState {
        label: rs.label.clone().unwrap_or_else(|| hash.clone()),
        hash,
        template: rs.template.clone(),
        revision: rs
            .revision
            .as_ref()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0),
        created_at: rs.created_at,
        replicas: rs.replicas,
        ready: rs.ready,
        available: rs.available,
        scale_down_at: rs.scale_down_at.as_ref().and_then(|t| t.parse().ok()),
    })
}

/// The pods of the rollout's ReplicaSets, looked at only while
/// `spec.restartAt` is set: restarting them is all the engine reads pods
/// for, and every other reconcile is spared a pod list.
pub async fn pods(
    client: &Client,
    rollout: &Rollout,
    sets: &[Arc<OwnedReplicaSet>],
) -> Result<Vec<PodState>, KubeError> {
    let hashes: Vec<&str> = sets.iter().filter_map(|rs| rs.hash.as_deref()).collect();
    if rollout.spec.restart_at.is_none() || hashes.is_empty() {
        return Ok(Vec::new());
    }
    let namespace = rollout.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let selector = format!("{HASH_LABEL} in ({})", hashes.join(","));
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| KubeError::from_request(e, Target::new("list", "Pod", &namespace, "")))?;
    Ok(list
        .items
        .iter()
        .map(|pod| PodState {
            name: pod.name_any(),
            hash: pod.labels().get(HASH_LABEL).cloned().unwrap_or_default(),
            created_at: pod.metadata.creation_timestamp.as_ref().map(|t| t.0),
            terminating: pod.metadata.deletion_timestamp.is_some(),
        })
        .collect())
}

fn analysis_run_state(run: &AnalysisRun) -> AnalysisRunState {
    let status = run.status.as_ref();
    AnalysisRunState {
        name: run.name_any(),
        phase: status.and_then(|s| s.phase).unwrap_or_default(),
        message: status.and_then(|s| s.message.clone()),
    }
}

pub struct Inputs<'a> {
    pub rollout: &'a Rollout,
    pub template: Option<&'a WorkloadTemplate>,
    pub replica_sets: &'a [Arc<OwnedReplicaSet>],
    pub pods: Vec<PodState>,
    pub analysis_runs: &'a [Arc<AnalysisRun>],
    pub experiments: &'a [Arc<Experiment>],
    pub known_templates: Option<Vec<AnalysisTemplateRef>>,
    pub request: Option<Request>,
}

pub fn observed(inputs: Inputs<'_>) -> Observed {
    let mut replica_sets: Vec<ReplicaSetState> = inputs
        .replica_sets
        .iter()
        .filter_map(|rs| replica_set_state(rs))
        .collect();
    let (template_hash, template_label) = inputs
        .template
        .map(|t| (t.hash.clone(), t.label.clone()))
        .unwrap_or_default();
    replica_sets.sort_by_key(|rs| rs.revision);
    Observed {
        name: inputs.rollout.name_any(),
        generation: inputs.rollout.metadata.generation.unwrap_or(0),
        template_hash,
        template_label,
        replica_sets,
        pods: inputs.pods,
        analysis_runs: inputs
            .analysis_runs
            .iter()
            .map(|r| analysis_run_state(r))
            .collect(),
        experiments: inputs
            .experiments
            .iter()
            .map(|e| ExperimentState {
                name: e.name_any(),
                phase: e.status.as_ref().and_then(|s| s.phase).unwrap_or_default(),
                message: e.status.as_ref().and_then(|s| s.message.clone()),
            })
            .collect(),
        traffic_weight: None,
        known_templates: inputs.known_templates,
        requests: inputs.request.into_iter().collect(),
        problem: None,
        workload_replicas: inputs
            .template
            .and_then(|t| t.workload.as_ref())
            .map(|w| w.replicas),
        blocker: None,
    }
}
