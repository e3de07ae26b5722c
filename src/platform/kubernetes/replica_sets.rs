//! Apply: one ReplicaSet per revision, named `<rollout>-<hash>` so a
//! controller restarted mid-write finds (and never duplicates) it.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::ObjectMeta;
use kube::{Client, Resource, ResourceExt};

use super::anti_affinity;
use super::lookups::Lookups;
use super::observe::WorkloadTemplate;
use super::owned_replica_set::OwnedReplicaSet;
use super::writes::{self, ReplicaSetScale};
use super::{
    HASH_LABEL, KubeError, LABEL_ANNOTATION, REPLICA_SET_REVISION_ANNOTATION, ROLLOUT_LABEL,
};
use crate::crd::rollout::Rollout;
use crate::engine::{Desired, Observed};

const DEFAULT_HISTORY_LIMIT: usize = 10;

pub fn name(rollout: &str, hash: &str) -> String {
    format!("{rollout}-{hash}")
}

/// Makes the ReplicaSets what the decision says; returns how many writes it made.
pub async fn apply(
    lookups: &Lookups,
    client: &Client,
    rollout: &Rollout,
    template: &WorkloadTemplate,
    observed: &Observed,
    desired: &Desired,
    existing: &[Arc<OwnedReplicaSet>],
) -> Result<usize, KubeError> {
    let namespace = rollout.namespace().unwrap_or_default();
    let hash_of = |rs: &OwnedReplicaSet| rs.hash.clone().unwrap_or_default();
    let mut writes = 0;
    for want in &desired.replica_sets {
        let scale = ReplicaSetScale {
            replicas: want.replicas,
            revision: Some(want.revision),
            scale_down_at: want.scale_down_at.map(|t| t.to_string()),
        };
        match existing.iter().find(|rs| hash_of(rs) == want.hash) {
            None if want.hash == template.hash => {
                let Some(mut pod_template) = pod_template(lookups, rollout, template).await? else {
                    continue;
                };
                // A new revision beside a stable one that runs pods.
                let stable = desired.stable_hash.as_deref().filter(|stable| {
                    *stable != template.hash
                        && existing
                            .iter()
                            .any(|rs| hash_of(rs) == *stable && rs.replicas > 0)
                });
                if let (Some(rule), Some(stable)) = (rollout.spec.strategy.anti_affinity(), stable)
                {
                    anti_affinity::inject(&mut pod_template, rule, stable);
                }
                let rs = build(
                    rollout,
                    template,
                    pod_template,
                    want.replicas,
                    want.revision,
                )?;
                writes += usize::from(writes::create_replica_set(client, &rs).await?);
            }
            None => {}
            Some(rs) => writes += rescale(client, &namespace, rs, &scale).await?,
        }
    }
    // ReplicaSets the decision no longer lists go to zero.
    let listed = |rs: &OwnedReplicaSet| desired.replica_sets.iter().any(|d| d.hash == hash_of(rs));
    for rs in existing.iter().filter(|rs| !listed(rs) && rs.replicas > 0) {
        let revision = observed.replica_set(&hash_of(rs)).map(|s| s.revision);
        let scale = ReplicaSetScale {
            replicas: 0,
            revision: revision.filter(|r| *r > 0),
            scale_down_at: rs.scale_down_at.clone(),
        };
        writes += rescale(client, &namespace, rs, &scale).await?;
    }
    // Idle: at zero and to stay there (the decision retires every older
    // ReplicaSet at zero, so being listed does not make one needed),
    // neither the template's nor one a Service selects, nor one the stored
    // status still names: the status that retires it may not land (the
    // soak lost a stable that way, its promotion's status write refused).
    // The oldest of those beyond the history limit go away.
    let recorded = rollout.status.as_ref();
    let needed = |rs: &OwnedReplicaSet| {
        let hash = hash_of(rs);
        hash == template.hash
            || recorded.and_then(|s| s.stable_rs.as_ref()) == Some(&hash)
            || recorded.and_then(|s| s.current_pod_hash.as_ref()) == Some(&hash)
            || desired.stable_hash.as_ref() == Some(&hash)
            || desired.canary_hash.as_ref() == Some(&hash)
            || desired
                .replica_sets
                .iter()
                .any(|d| d.hash == hash && d.replicas > 0)
    };
    let mut idle: Vec<(u64, String)> = existing
        .iter()
        .filter(|rs| rs.replicas == 0 && !needed(rs))
        .map(|rs| {
            let revision = observed.replica_set(&hash_of(rs)).map(|s| s.revision);
            (revision.unwrap_or(0), rs.name.clone())
        })
        .collect();
    let limit = rollout
        .spec
        .revision_history_limit
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(DEFAULT_HISTORY_LIMIT);
    idle.sort();
    let excess = idle.len().saturating_sub(limit);
    for (_, name) in idle.into_iter().take(excess) {
        writes += usize::from(writes::delete_replica_set(client, &namespace, &name).await?);
    }
    Ok(writes)
}

/// The template to make the revision's ReplicaSet from: the rollout's own,
/// or the `workloadRef` Deployment's as it is now. `None` when the
/// Deployment moved on since it was looked at: the next reconcile, which
/// its watch event brings, sees the new one.
async fn pod_template(
    lookups: &Lookups,
    rollout: &Rollout,
    template: &WorkloadTemplate,
) -> Result<Option<PodTemplateSpec>, KubeError> {
    if let Some(pod_template) = &template.pod_template {
        return Ok(Some(pod_template.clone()));
    }
    let Some(workload) = &template.workload else {
        return Ok(None);
    };
    let namespace = rollout.namespace().unwrap_or_default();
    let fetched = lookups
        .deployment_template(&namespace, &workload.name)
        .await?;
    Ok(fetched.filter(|t| crate::platform::template_hash(Some(t)) == template.hash))
}

/// Brings an existing ReplicaSet to `scale`, when it is not there yet.
async fn rescale(
    client: &Client,
    namespace: &str,
    rs: &OwnedReplicaSet,
    scale: &ReplicaSetScale,
) -> Result<usize, KubeError> {
    let revision = scale.revision.map(|r| r.to_string());
    let unchanged = rs.replicas == scale.replicas
        && rs.scale_down_at == scale.scale_down_at
        && (revision.is_none() || rs.revision == revision)
        && !rs.legacy_revision;
    if unchanged {
        return Ok(0);
    }
    let mut writes =
        usize::from(writes::scale_replica_set(client, namespace, &rs.name, scale).await?);
    // An apply can only remove what its own manager set; an older
    // controller merge-patched these.
    let dropped_scale_down = rs.scale_down_at.is_some() && scale.scale_down_at.is_none();
    if rs.legacy_revision || dropped_scale_down {
        let keep = scale.scale_down_at.is_some();
        writes += usize::from(
            writes::forget_unmanaged_annotations(client, namespace, &rs.name, keep).await?,
        );
    }
    Ok(writes)
}

/// The whole ReplicaSet of the template's revision, as first created. Its
/// scale-down time, if ever, is `conductor-scale`'s to set.
fn build(
    rollout: &Rollout,
    template: &WorkloadTemplate,
    mut pod_template: PodTemplateSpec,
    replicas: i32,
    revision: u64,
) -> Result<ReplicaSet, KubeError> {
    let owner = rollout
        .controller_owner_ref(&())
        .ok_or_else(|| KubeError::Invalid("the rollout has no uid yet".into()))?;
    let rollout_name = rollout.name_any();
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
    let annotations = BTreeMap::from([
        (
            REPLICA_SET_REVISION_ANNOTATION.to_owned(),
            revision.to_string(),
        ),
        (LABEL_ANNOTATION.to_owned(), template.label.clone()),
    ]);
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
