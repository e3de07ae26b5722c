//! Applying a release: every object through server-side apply under
//! [`FIELD_MANAGER`], fenced by the deploy generation, yielding to the
//! controller's runtime fields; then pruning what the previous deploy left.

use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::cluster::KubeCluster;
use super::marks::{
    COMMIT_ANNOTATION, DEPLOYED_BY_LABEL, ENVIRONMENT_LABEL, FIELD_MANAGER, GENERATION_ANNOTATION,
    deploy_generation, runtime_managers,
};
use crate::deploy::fields;
use crate::deploy::target::{Applied, Release, TargetError};
use crate::gitops::ledger::ObjectRef;
use crate::render::RenderedObject;

/// Helm's install order, with Conductor's kinds where they belong: what a
/// Rollout references (templates, Services) exists before it.
const INSTALL_ORDER: [&str; 30] = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ClusterAnalysisTemplate",
    "AnalysisTemplate",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicaSet",
    "Deployment",
    "Rollout",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "Ingress",
    "HTTPRoute",
];

/// Rank of a kind in [`INSTALL_ORDER`]; unknown kinds last.
fn rank(kind: &str) -> usize {
    INSTALL_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(INSTALL_ORDER.len())
}

/// Attempts per object: each lost race (someone wrote between our read
/// and our apply) costs one.
const ATTEMPTS: usize = 10;

pub async fn apply(
    cluster: &KubeCluster,
    release: &Release,
    previous: &[ObjectRef],
) -> Result<Applied, TargetError> {
    let mut objects: Vec<&RenderedObject> = release.objects.iter().collect();
    objects.sort_by_key(|o| rank(&o.kind));
    let mut applied = Applied::default();
    for object in objects {
        let reference = apply_object(cluster, release, object, &mut applied).await?;
        if applied.superseded_by.is_some() {
            return Ok(applied);
        }
        applied.objects.push(reference);
    }
    let mut gone: Vec<&ObjectRef> = previous
        .iter()
        .filter(|p| !applied.objects.contains(p))
        .collect();
    gone.sort_by_key(|o| std::cmp::Reverse(rank(&o.kind)));
    for object in gone {
        if prune(cluster, release, object).await? {
            applied.pruned.push(object.clone());
        }
    }
    applied.objects.sort();
    Ok(applied)
}

pub(super) async fn api_for(
    cluster: &KubeCluster,
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
) -> Result<(Api<DynamicObject>, bool), TargetError> {
    let client: Client = cluster.client()?.clone();
    let (resource, namespaced) = cluster.resource(api_version, kind).await?;
    let api = match (namespaced, namespace) {
        (true, Some(ns)) => Api::namespaced_with(client, ns, &resource),
        (true, None) => Api::default_namespaced_with(client, &resource),
        (false, _) => Api::all_with(client, &resource),
    };
    Ok((api, namespaced))
}

async fn apply_object(
    cluster: &KubeCluster,
    release: &Release,
    object: &RenderedObject,
    applied: &mut Applied,
) -> Result<ObjectRef, TargetError> {
    let declared_namespace = object
        .manifest
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let namespace = declared_namespace.unwrap_or_else(|| release.cluster.namespace.clone());
    let (api, namespaced) =
        api_for(cluster, &object.api_version, &object.kind, Some(&namespace)).await?;
    let reference = ObjectRef {
        api_version: object.api_version.clone(),
        kind: object.kind.clone(),
        namespace: namespaced.then(|| namespace.clone()),
        name: object.name.clone(),
    };
    let mut body = owned_body(release, object, namespaced.then_some(namespace.as_str()));
    let mut force = false;
    for _ in 0..ATTEMPTS {
        let live = api
            .get_opt(&object.name)
            .await
            .map_err(|e| cluster.error(format!("reading {reference}: {e}")))?;
        if let Some(live) = &live
            && let Some(theirs) = deploy_generation(live).filter(|g| *g > release.generation)
        {
            applied.superseded_by = Some(theirs);
            return Ok(reference);
        }
        // The read and the write are one step: if anyone writes in
        // between, the apply is refused and the fence is checked again.
        let resource_version = live
            .as_ref()
            .and_then(|l| l.metadata.resource_version.clone());
        if let Some(meta) = body["metadata"].as_object_mut() {
            match resource_version {
                Some(rv) => meta.insert("resourceVersion".into(), Value::from(rv)),
                None => meta.remove("resourceVersion"),
            };
        }
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = force;
        match api.patch(&object.name, &params, &Patch::Apply(&body)).await {
            Ok(_) => return Ok(reference),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let causes = status
                    .details
                    .as_ref()
                    .map(|d| d.causes.clone())
                    .unwrap_or_default();
                let conflicts: Vec<_> = causes
                    .iter()
                    .filter(|c| c.reason == "FieldManagerConflict")
                    .collect();
                // A conflict without field causes is the resourceVersion
                // precondition: read again.
                for cause in conflicts {
                    let manager = conflicting_manager(&cause.message);
                    if manager.is_some_and(|m| runtime_managers().any(|r| r == m)) {
                        if fields::remove(&mut body, &cause.field) {
                            applied.yielded.push(format!(
                                "{} {}: {} ({})",
                                object.kind,
                                object.name,
                                cause.field,
                                manager.unwrap_or_default()
                            ));
                        }
                    } else {
                        // Git is the source of truth for everything else.
                        force = true;
                    }
                }
            }
            Err(e) => return Err(cluster.error(format!("applying {reference}: {e}"))),
        }
    }
    Err(cluster.error(format!(
        "applying {reference}: still conflicting after {ATTEMPTS} attempts"
    )))
}

/// `conflict with "conductor-router" using gateway.networking.k8s.io/v1` → `conductor-router`.
fn conflicting_manager(message: &str) -> Option<&str> {
    let start = message.find('"')? + 1;
    let end = start + message[start..].find('"')?;
    Some(&message[start..end])
}

/// The rendered object with what marks it as this service's, this
/// deploy's: labels for prune, annotations for the fence.
pub(super) fn owned_body(
    release: &Release,
    object: &RenderedObject,
    namespace: Option<&str>,
) -> Value {
    let mut body = object.manifest.clone();
    if !body["metadata"].is_object() {
        body["metadata"] = json!({});
    }
    let meta = &mut body["metadata"];
    match namespace {
        Some(ns) => meta["namespace"] = Value::from(ns),
        None => {
            if let Some(m) = meta.as_object_mut() {
                m.remove("namespace");
            }
        }
    }
    for (field, key, value) in [
        ("labels", DEPLOYED_BY_LABEL, release.service.as_str()),
        ("labels", ENVIRONMENT_LABEL, release.environment.as_str()),
        ("annotations", COMMIT_ANNOTATION, release.revision.as_str()),
    ] {
        if !meta[field].is_object() {
            meta[field] = json!({});
        }
        meta[field][key] = Value::from(value);
    }
    meta["annotations"][GENERATION_ANNOTATION] = Value::from(release.generation.to_string());
    body
}

/// Deletes an object the previous deploy applied, only if it still
/// carries this service's label: never anything Conductor did not apply.
async fn prune(
    cluster: &KubeCluster,
    release: &Release,
    object: &ObjectRef,
) -> Result<bool, TargetError> {
    let (api, _) = match api_for(
        cluster,
        &object.api_version,
        &object.kind,
        object.namespace.as_deref(),
    )
    .await
    {
        Ok(found) => found,
        // Its kind is no longer served: nothing of it is left to prune.
        Err(_) => return Ok(false),
    };
    let Some(live) = api
        .get_opt(&object.name)
        .await
        .map_err(|e| cluster.error(format!("reading {object} to prune it: {e}")))?
    else {
        return Ok(false);
    };
    let ours = live
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(DEPLOYED_BY_LABEL))
        .is_some_and(|s| *s == release.service);
    if !ours || deploy_generation(&live).is_some_and(|g| g > release.generation) {
        return Ok(false);
    }
    match api.delete(&object.name, &DeleteParams::background()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(e) => Err(cluster.error(format!("pruning {object}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manager_is_read_from_a_conflict_cause() {
        assert_eq!(
            conflicting_manager(
                "conflict with \"conductor-router\" using gateway.networking.k8s.io/v1"
            ),
            Some("conductor-router")
        );
        assert_eq!(conflicting_manager("no quotes"), None);
    }

    #[test]
    fn rollouts_come_after_what_they_reference() {
        assert!(rank("AnalysisTemplate") < rank("Rollout"));
        assert!(rank("Service") < rank("Rollout"));
        assert!(rank("Rollout") < rank("HTTPRoute"));
        assert_eq!(rank("Widget"), INSTALL_ORDER.len());
    }
}
