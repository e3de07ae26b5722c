//! Apply: the Experiments a rollout's steps ask for, built from its stable
//! and canary templates, and experiments it no longer needs told to stop.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::ObjectMeta;
use kube::{Api, Client, Resource, ResourceExt};

use super::observe::WorkloadTemplate;
use super::owned_replica_set::OwnedReplicaSet;
use super::{HASH_LABEL, KubeError, ROLLOUT_LABEL, writes};
use crate::crd::experiment::{Experiment, ExperimentSpec, ExperimentTemplate, SpecRef};
use crate::crd::rollout::Rollout;
use crate::engine::{Desired, DesiredExperiment, Observed};

/// Creates missing experiments and terminates unneeded ones; returns the
/// number of writes.
pub async fn apply(
    client: &Client,
    rollout: &Rollout,
    template: &WorkloadTemplate,
    observed: &Observed,
    desired: &Desired,
    (owned_sets, existing): (&[Arc<OwnedReplicaSet>], &[Arc<Experiment>]),
) -> Result<usize, KubeError> {
    let namespace = rollout.namespace().unwrap_or_default();
    let mut writes = 0;
    for wanted in &desired.experiments {
        if observed.experiments.iter().any(|e| e.name == wanted.name) {
            continue;
        }
        let Some(spec) = spec(client, &namespace, template, owned_sets, wanted).await? else {
            // A ReplicaSet it copies is not there yet: its watch event
            // brings the next reconcile.
            continue;
        };
        let owner = rollout
            .controller_owner_ref(&())
            .ok_or_else(|| KubeError::Invalid("the rollout has no uid yet".into()))?;
        let experiment = Experiment {
            metadata: ObjectMeta {
                name: Some(wanted.name.clone()),
                namespace: Some(namespace.clone()),
                labels: Some(
                    [
                        (ROLLOUT_LABEL.to_owned(), rollout.name_any()),
                        (HASH_LABEL.to_owned(), wanted.canary_hash.clone()),
                    ]
                    .into(),
                ),
                owner_references: Some(vec![owner]),
                ..Default::default()
            },
            spec,
            status: None,
        };
        writes += usize::from(writes::create_experiment(client, &experiment).await?);
    }
    for experiment in existing {
        let name = experiment.name_any();
        let needed = desired.experiments.iter().any(|e| e.name == name);
        let running = observed
            .experiments
            .iter()
            .any(|e| e.name == name && !e.phase.is_final());
        if needed || !running || experiment.spec.terminate == Some(true) {
            continue;
        }
        writes += usize::from(writes::terminate_experiment(client, &namespace, &name).await?);
    }
    Ok(writes)
}

/// The experiment a step asks for, each template copied from the
/// ReplicaSet its `specRef` names; `None` while one of those is missing.
async fn spec(
    client: &Client,
    namespace: &str,
    template: &WorkloadTemplate,
    owned_sets: &[Arc<OwnedReplicaSet>],
    wanted: &DesiredExperiment,
) -> Result<Option<ExperimentSpec>, KubeError> {
    let mut templates = Vec::new();
    for step_template in &wanted.experiment.templates {
        let hash = match step_template.spec_ref {
            SpecRef::Stable => &wanted.stable_hash,
            SpecRef::Canary => &wanted.canary_hash,
        };
        let Some(pod_template) =
            pod_template(client, namespace, template, owned_sets, hash).await?
        else {
            return Ok(None);
        };
        templates.push(ExperimentTemplate {
            name: step_template.name.clone(),
            replicas: step_template.replicas,
            min_ready_seconds: None,
            selector: template.selector.clone(),
            template: pod_template,
        });
    }
    Ok(Some(ExperimentSpec {
        templates,
        duration: wanted.experiment.duration.clone(),
        progress_deadline_seconds: None,
        analyses: wanted.experiment.analyses.clone(),
        terminate: None,
        unsupported: Default::default(),
    }))
}

/// The pod template of the revision `hash`, without the hash label (the
/// experiment's ReplicaSets get hashes of their own).
async fn pod_template(
    client: &Client,
    namespace: &str,
    template: &WorkloadTemplate,
    owned_sets: &[Arc<OwnedReplicaSet>],
    hash: &str,
) -> Result<Option<PodTemplateSpec>, KubeError> {
    let mut found = match (&template.pod_template, hash == template.hash) {
        (Some(own), true) => Some(own.clone()),
        _ => {
            let Some(owned) = owned_sets
                .iter()
                .find(|rs| rs.hash.as_deref() == Some(hash))
            else {
                return Ok(None);
            };
            // The index keeps no templates: one read per experiment made.
            let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
            replica_sets
                .get_opt(&owned.name)
                .await?
                .and_then(|rs| rs.spec)
                .and_then(|spec| spec.template)
        }
    };
    if let Some(labels) = found
        .as_mut()
        .and_then(|t| t.metadata.as_mut())
        .and_then(|m| m.labels.as_mut())
    {
        labels.remove(HASH_LABEL);
    }
    Ok(found)
}
