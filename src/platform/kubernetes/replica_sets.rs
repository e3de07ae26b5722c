//! Apply: one ReplicaSet per revision, named `<rollout>-<hash>` so a
//! controller restarted mid-write finds (and never duplicates) it.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use super::observe::WorkloadTemplate;
use super::owned_replica_set::OwnedReplicaSet;
use super::{
    HASH_LABEL, KubeError, LABEL_ANNOTATION, LEGACY_REPLICA_SET_REVISION_ANNOTATION,
    REPLICA_SET_REVISION_ANNOTATION, ROLLOUT_LABEL, SCALE_DOWN_AT_ANNOTATION, is_conflict,
    is_not_found, managers,
};
use crate::crd::rollout::Rollout;
use crate::engine::{Desired, Observed};

const DEFAULT_HISTORY_LIMIT: usize = 10;

pub fn name(rollout: &str, hash: &str) -> String {
    format!("{rollout}-{hash}")
}

/// Makes the ReplicaSets what the decision says; returns how many writes it made.
pub async fn apply(
    client: &Client,
    rollout: &Rollout,
    template: &WorkloadTemplate,
    observed: &Observed,
    desired: &Desired,
    existing: &[Arc<OwnedReplicaSet>],
) -> Result<usize, KubeError> {
    let namespace = rollout.namespace().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), &namespace);
    let hash_of = |rs: &OwnedReplicaSet| rs.hash.clone().unwrap_or_default();
    let mut writes = 0;
    for want in &desired.replica_sets {
        let found = existing.iter().find(|rs| hash_of(rs) == want.hash);
        let scale_down_at = want.scale_down_at.map(|t| t.to_string());
        match found {
            None if want.hash == template.hash => {
                let rs = build(
                    rollout,
                    template,
                    want.replicas,
                    want.revision,
                    scale_down_at,
                )?;
                match api.create(&PostParams::default(), &rs).await {
                    Ok(_) => writes += 1,
                    // Created by an earlier reconcile our cache has not seen yet.
                    Err(e) if is_conflict(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            None => {}
            Some(rs) => {
                let revision = want.revision.to_string();
                let unchanged = rs.replicas == want.replicas
                    && rs.scale_down_at == scale_down_at
                    && rs.revision.as_ref() == Some(&revision);
                if unchanged {
                    continue;
                }
                let patch_annotations = json!({
                    SCALE_DOWN_AT_ANNOTATION: scale_down_at,
                    REPLICA_SET_REVISION_ANNOTATION: revision,
                    // An older controller's key for the number goes, so the
                    // ReplicaSet never shows two numbers.
                    LEGACY_REPLICA_SET_REVISION_ANNOTATION: null,
                });
                let patch = json!({
                    "metadata": { "annotations": patch_annotations },
                    "spec": { "replicas": want.replicas },
                });
                patch_or_gone(&api, &rs.name, &patch).await?;
                writes += 1;
            }
        }
    }
    // ReplicaSets the decision no longer lists go to zero; the oldest of
    // those beyond the history limit go away.
    let listed = |rs: &OwnedReplicaSet| desired.replica_sets.iter().any(|d| d.hash == hash_of(rs));
    let mut idle: Vec<(u64, String)> = Vec::new();
    for rs in existing.iter().filter(|rs| !listed(rs)) {
        if rs.replicas > 0 {
            patch_or_gone(&api, &rs.name, &json!({ "spec": { "replicas": 0 } })).await?;
            writes += 1;
        } else {
            let revision = observed.replica_set(&hash_of(rs)).map_or(0, |s| s.revision);
            idle.push((revision, rs.name.clone()));
        }
    }
    let limit = rollout
        .spec
        .revision_history_limit
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(DEFAULT_HISTORY_LIMIT);
    idle.sort();
    let excess = idle.len().saturating_sub(limit);
    for (_, name) in idle.into_iter().take(excess) {
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => writes += 1,
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(writes)
}

async fn patch_or_gone(
    api: &Api<ReplicaSet>,
    name: &str,
    patch: &serde_json::Value,
) -> Result<(), KubeError> {
    let params = PatchParams::apply(managers::REPLICA_SETS);
    match api.patch(name, &params, &Patch::Merge(patch)).await {
        Ok(_) => Ok(()),
        // Deleted meanwhile; the watch will tell and the next reconcile recreates it.
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn build(
    rollout: &Rollout,
    template: &WorkloadTemplate,
    replicas: i32,
    revision: u64,
    scale_down_at: Option<String>,
) -> Result<ReplicaSet, KubeError> {
    let owner = rollout
        .controller_owner_ref(&())
        .ok_or_else(|| KubeError::Invalid("the rollout has no uid yet".into()))?;
    let rollout_name = rollout.name_any();
    let mut pod_template = template.pod_template.clone();
    let template_meta = pod_template.metadata.get_or_insert_with(Default::default);
    template_meta
        .labels
        .get_or_insert_with(Default::default)
        .insert(HASH_LABEL.into(), template.hash.clone());
    let mut selector = template.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(Default::default)
        .insert(HASH_LABEL.into(), template.hash.clone());
    let mut labels: BTreeMap<String, String> = template_meta.labels.clone().unwrap_or_default();
    labels.insert(ROLLOUT_LABEL.into(), rollout_name.clone());
    let mut annotations = BTreeMap::from([
        (
            REPLICA_SET_REVISION_ANNOTATION.to_owned(),
            revision.to_string(),
        ),
        (LABEL_ANNOTATION.to_owned(), template.label.clone()),
    ]);
    if let Some(at) = scale_down_at {
        annotations.insert(SCALE_DOWN_AT_ANNOTATION.into(), at);
    }
    Ok(ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name(&rollout_name, &template.hash)),
            namespace: rollout.namespace(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: rollout.spec.min_ready_seconds,
            selector,
            template: Some(pod_template),
        }),
        status: None,
    })
}
