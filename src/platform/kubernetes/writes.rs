//! Every write the operator and `conductor rollout` make to the API
//! server, one named function each: a reader looking for "who changes
//! this field, and how?" finds it here and nowhere else.
//!
//! Objects Conductor owns (ReplicaSets, canary Ingresses, TrafficSplits,
//! AnalysisRuns, the statuses) are server-side applied, one field manager per writer, so
//! `kubectl get --show-managed-fields` tells who set what and a field a
//! writer stops sending is released. A writer that sends only part of an
//! object (a scale, a terminate) has a manager of its own: an apply drops
//! whatever its manager sent last time and omits now.
//!
//! Other people's objects (a Rollout's spec and annotations, Services,
//! HTTPRoutes and GRPCRoutes, VirtualServices and DestinationRules, ALB
//! Ingresses, the workloadRef Deployment) get a merge patch of exactly the
//! fields named, claiming nothing else (a list, read-modify-write, is
//! patched conditionally on the resourceVersion it was read at); pods are only deleted; the
//! leader Lease is replaced conditionally, which is what makes it a lock.

use std::collections::BTreeMap;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::events::v1::{Event, EventSeries};
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};

use super::router_objects::{DestinationRule, GrpcRoute, HttpRoute, VirtualService};
use super::{
    HASH_LABEL, KubeError, LEGACY_REPLICA_SET_REVISION_ANNOTATION, REPLICA_SET_REVISION_ANNOTATION,
    SCALE_DOWN_AT_ANNOTATION, Target, is_conflict, is_not_found, managers,
};
use crate::crd::analysis::{AnalysisRun, AnalysisRunStatus};
use crate::crd::experiment::{Experiment, ExperimentStatus};
use crate::crd::rollout::{Rollout, RolloutStatus};

fn api<K>(client: &Client, namespace: &str) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    Api::namespaced(client.clone(), namespace)
}

/// Whether a write happened: `false` when there was nothing to do, or the
/// object was gone (its watch event brings the next reconcile).
pub type Wrote = bool;

/// Ok(false) when `not_written` says the API server's refusal means there
/// was nothing to write (the object is there already, or gone); any other
/// error is the caller's, a refusal naming `target`.
fn wrote_unless<T>(
    result: kube::Result<T>,
    not_written: fn(&kube::Error) -> bool,
    target: Target<'_>,
) -> Result<Wrote, KubeError> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if not_written(&e) => Ok(false),
        Err(e) => Err(KubeError::from_request(e, target)),
    }
}

/// Ok(false) for a 404: the object went away between the cache and the write.
fn unless_gone<T>(result: kube::Result<T>, target: Target<'_>) -> Result<Wrote, KubeError> {
    wrote_unless(result, is_not_found, target)
}

/// Ok(true), or the error naming `target` when it is a refusal.
fn written<T>(result: kube::Result<T>, target: Target<'_>) -> Result<Wrote, KubeError> {
    wrote_unless(result, |_| false, target)
}

/// True for the 422 a partial apply to a deleted ReplicaSet gets: applied
/// to nothing, it would create a ReplicaSet with no selector or template,
/// which the API server refuses.
fn is_invalid(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 422)
}

// Objects Conductor owns: server-side apply.

/// Creates a revision's ReplicaSet: the whole object, sent once by
/// `conductor-replicasets`. Not forced: when a reconcile before this one
/// made it already (the cache has not shown it yet) and `conductor-scale`
/// has moved its replicas since, the apply conflicts, which means it is
/// there.
pub async fn create_replica_set(client: &Client, rs: &ReplicaSet) -> Result<Wrote, KubeError> {
    let namespace = rs.namespace().unwrap_or_default();
    let name = rs.name_any();
    let params = PatchParams::apply(managers::REPLICA_SETS);
    wrote_unless(
        api::<ReplicaSet>(client, &namespace)
            .patch(&name, &params, &Patch::Apply(rs))
            .await,
        is_conflict,
        Target::new("create", "ReplicaSet", &namespace, &name),
    )
}

/// What `conductor-scale` keeps on a ReplicaSet: the replicas the engine
/// decided, the revision number, and when it goes to zero. What is absent
/// is released: an annotation only this manager set goes away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSetScale {
    pub replicas: i32,
    pub revision: Option<u64>,
    pub scale_down_at: Option<String>,
}

pub async fn scale_replica_set(
    client: &Client,
    namespace: &str,
    name: &str,
    scale: &ReplicaSetScale,
) -> Result<Wrote, KubeError> {
    let mut annotations = BTreeMap::new();
    if let Some(revision) = scale.revision {
        annotations.insert(REPLICA_SET_REVISION_ANNOTATION, revision.to_string());
    }
    if let Some(at) = &scale.scale_down_at {
        annotations.insert(SCALE_DOWN_AT_ANNOTATION, at.clone());
    }
    let body = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": { "name": name, "annotations": annotations },
        "spec": { "replicas": scale.replicas },
    });
    let params = PatchParams::apply(managers::SCALE).force();
    wrote_unless(
        api::<ReplicaSet>(client, namespace)
            .patch(name, &params, &Patch::Apply(&body))
            .await,
        is_invalid,
        Target::new("scale", "ReplicaSet", namespace, name),
    )
}

/// Removes the annotations an older controller merge-patched onto a
/// ReplicaSet (its revision key, a scale-down time): fields no apply
/// manager owns, which only a patch naming them can remove.
pub async fn forget_unmanaged_annotations(
    client: &Client,
    namespace: &str,
    name: &str,
    keep_scale_down_at: bool,
) -> Result<Wrote, KubeError> {
    let mut annotations = json!({ LEGACY_REPLICA_SET_REVISION_ANNOTATION: null });
    if !keep_scale_down_at {
        annotations[SCALE_DOWN_AT_ANNOTATION] = Value::Null;
    }
    let patch = json!({ "metadata": { "annotations": annotations } });
    let params = PatchParams::apply(managers::SCALE);
    unless_gone(
        api::<ReplicaSet>(client, namespace)
            .patch(name, &params, &Patch::Merge(&patch))
            .await,
        Target::new("update", "ReplicaSet", namespace, name),
    )
}

/// Deletes a ReplicaSet beyond the revision history limit.
pub async fn delete_replica_set(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Wrote, KubeError> {
    unless_gone(
        api::<ReplicaSet>(client, namespace)
            .delete(name, &DeleteParams::default())
            .await,
        Target::new("delete", "ReplicaSet", namespace, name),
    )
}

/// The canary copy of a stable Ingress, whole, forced: nobody else has a
/// reason to own its fields, and a person's edit is put back.
pub async fn apply_canary_ingress(
    client: &Client,
    namespace: &str,
    name: &str,
    ingress: &Value,
) -> Result<Wrote, KubeError> {
    let params = PatchParams::apply(managers::ROUTER).force();
    written(
        api::<k8s_openapi::api::networking::v1::Ingress>(client, namespace)
            .patch(name, &params, &Patch::Apply(ingress))
            .await,
        Target::new("apply", "Ingress", namespace, name),
    )
}

/// The TrafficSplit a rollout owns, whole, forced, as the canary Ingress:
/// `resource` is the version the controller writes.
pub async fn apply_traffic_split(
    client: &Client,
    resource: &ApiResource,
    namespace: &str,
    name: &str,
    split: &Value,
) -> Result<Wrote, KubeError> {
    let params = PatchParams::apply(managers::ROUTER).force();
    written(
        Api::<DynamicObject>::namespaced_with(client.clone(), namespace, resource)
            .patch(name, &params, &Patch::Apply(split))
            .await,
        Target::new("apply", "TrafficSplit", namespace, name),
    )
}

/// Creates an AnalysisRun, whole, sent once by `conductor-analysisruns`.
pub async fn create_analysis_run(client: &Client, run: &AnalysisRun) -> Result<Wrote, KubeError> {
    create_whole(client, run, managers::ANALYSIS_RUNS).await
}

/// Asks the analysis controller to stop a run the rollout no longer needs.
pub async fn terminate_analysis_run(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Wrote, KubeError> {
    terminate::<AnalysisRun>(client, namespace, name).await
}

/// Creates an Experiment a canary step runs, whole, sent once by
/// `conductor-experiments`.
pub async fn create_experiment(
    client: &Client,
    experiment: &Experiment,
) -> Result<Wrote, KubeError> {
    create_whole(client, experiment, managers::EXPERIMENTS).await
}

/// Ends an Experiment the rollout no longer needs.
pub async fn terminate_experiment(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Wrote, KubeError> {
    terminate::<Experiment>(client, namespace, name).await
}

/// `object` whole, applied once by `manager`; a conflict means a reconcile
/// before this one made it.
async fn create_whole<K>(client: &Client, object: &K, manager: &str) -> Result<Wrote, KubeError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + serde::Serialize
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let namespace = object.namespace().unwrap_or_default();
    let mut body = serde_json::to_value(object).map_err(|e| KubeError::Invalid(e.to_string()))?;
    body["apiVersion"] = json!(K::api_version(&()));
    body["kind"] = json!(K::kind(&()));
    let name = object.name_any();
    let kind = K::kind(&());
    wrote_unless(
        api::<K>(client, &namespace)
            .patch(&name, &PatchParams::apply(manager), &Patch::Apply(&body))
            .await,
        is_conflict,
        Target::new("create", &kind, &namespace, &name),
    )
}

/// `spec.terminate`, owned by `conductor-terminate`. An object deleted
/// meanwhile would come back as a stub the schema refuses (invalid): done.
async fn terminate<K>(client: &Client, namespace: &str, name: &str) -> Result<Wrote, KubeError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let kind = K::kind(&());
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": kind,
        "metadata": { "name": name },
        "spec": { "terminate": true },
    });
    let params = PatchParams::apply(managers::TERMINATE).force();
    wrote_unless(
        api::<K>(client, namespace)
            .patch(name, &params, &Patch::Apply(&body))
            .await,
        is_invalid,
        Target::new("terminate", &kind, namespace, name),
    )
}

/// The whole status of `object` on its status subresource, by `manager`.
/// The resourceVersion makes the apply conditional: a status decided on a
/// stale view of the object is refused (409) and decided again on the
/// fresh one.
async fn apply_status<K>(
    client: &Client,
    object: &K,
    manager: &str,
    status: &impl serde::Serialize,
) -> Result<(), KubeError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let name = object.name_any();
    let namespace = object.namespace().unwrap_or_default();
    let kind = K::kind(&());
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": kind,
        "metadata": { "name": name, "resourceVersion": object.resource_version() },
        "status": status,
    });
    api::<K>(client, &namespace)
        .patch_status(
            &name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|e| {
            let target = Target::new("update the status of", &kind, &namespace, &name);
            KubeError::from_request(e, target)
        })?;
    Ok(())
}

/// The whole Rollout status, by `conductor-status`.
pub async fn apply_rollout_status(
    client: &Client,
    rollout: &Rollout,
    status: &RolloutStatus,
) -> Result<(), KubeError> {
    apply_status(client, rollout, managers::STATUS, status).await
}

/// The whole AnalysisRun status, by `conductor-analysis`.
pub async fn apply_analysis_run_status(
    client: &Client,
    run: &AnalysisRun,
    status: &AnalysisRunStatus,
) -> Result<(), KubeError> {
    apply_status(client, run, managers::ANALYSIS, status).await
}

/// The whole Experiment status, by `conductor-experiment`.
pub async fn apply_experiment_status(
    client: &Client,
    experiment: &Experiment,
    status: &ExperimentStatus,
) -> Result<(), KubeError> {
    apply_status(client, experiment, managers::EXPERIMENT, status).await
}

// Other people's objects: merge patches of the named fields.

/// Points a Service at the pods of one pod-template hash.
pub async fn pin_service_selector(
    client: &Client,
    namespace: &str,
    name: &str,
    hash: &str,
) -> Result<Wrote, KubeError> {
    let patch = json!({ "spec": { "selector": { HASH_LABEL: hash } } });
    unless_gone(
        api::<Service>(client, namespace)
            .patch(
                name,
                &PatchParams::apply(managers::SERVICES),
                &Patch::Merge(&patch),
            )
            .await,
        Target::new("update", "Service", namespace, name),
    )
}

/// A merge patch of `spec` fields of `read`, conditional on the
/// resourceVersion it was read at. A merge patch replaces a list whole,
/// which is what keeps the weights of one route consistent; the lists are
/// the ones read with new weights and routes, so a route someone changed
/// since is refused (409) and read again, never overwritten with old rules.
async fn patch_read_lists<K>(
    client: &Client,
    read: &K,
    spec: serde_json::Map<String, Value>,
) -> Result<Wrote, KubeError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let namespace = read.namespace().unwrap_or_default();
    let name = read.name_any();
    let patch = json!({
        "metadata": { "resourceVersion": read.resource_version() },
        "spec": spec,
    });
    unless_gone(
        api::<K>(client, &namespace)
            .patch(
                &name,
                &PatchParams::apply(managers::ROUTER),
                &Patch::Merge(&patch),
            )
            .await,
        Target::new("update", &K::kind(&()), &namespace, &name),
    )
}

fn spec_of(
    fields: impl IntoIterator<Item = (&'static str, Value)>,
) -> serde_json::Map<String, Value> {
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Sets an HTTPRoute's rules: backend weights, header and mirror rules.
pub async fn set_http_route_rules(
    client: &Client,
    read: &HttpRoute,
    rules: &[Value],
) -> Result<Wrote, KubeError> {
    patch_read_lists(client, read, spec_of([("rules", json!(rules))])).await
}

/// Sets a GRPCRoute's rules, as an HTTPRoute's.
pub async fn set_grpc_route_rules(
    client: &Client,
    read: &GrpcRoute,
    rules: &[Value],
) -> Result<Wrote, KubeError> {
    patch_read_lists(client, read, spec_of([("rules", json!(rules))])).await
}

/// Sets the route lists of a VirtualService that changed (`http`, `tls`,
/// `tcp`): destination weights and managed routes.
pub async fn set_virtual_service_routes(
    client: &Client,
    read: &VirtualService,
    lists: Vec<(&'static str, Value)>,
) -> Result<Wrote, KubeError> {
    patch_read_lists(client, read, spec_of(lists)).await
}

/// Sets a DestinationRule's subsets: the stable and canary subsets' labels
/// pin the revisions' pod-template hashes.
pub async fn pin_destination_rule_subsets(
    client: &Client,
    read: &DestinationRule,
    subsets: &[Value],
) -> Result<Wrote, KubeError> {
    patch_read_lists(client, read, spec_of([("subsets", json!(subsets))])).await
}

/// Sets one annotation of an Ingress the AWS Load Balancer Controller
/// reads (an action's weighted forward config); a merge patch of one key
/// needs no precondition.
pub async fn set_ingress_annotation(
    client: &Client,
    namespace: &str,
    name: &str,
    key: &str,
    value: &str,
) -> Result<Wrote, KubeError> {
    let patch = json!({ "metadata": { "annotations": { key: value } } });
    unless_gone(
        api::<k8s_openapi::api::networking::v1::Ingress>(client, namespace)
            .patch(
                name,
                &PatchParams::apply(managers::ROUTER),
                &Patch::Merge(&patch),
            )
            .await,
        Target::new("update", "Ingress", namespace, name),
    )
}

/// Scales the `workloadRef` Deployment as the engine decided.
pub async fn scale_workload_deployment(
    client: &Client,
    namespace: &str,
    name: &str,
    replicas: i32,
) -> Result<Wrote, KubeError> {
    let patch = json!({ "spec": { "replicas": replicas } });
    unless_gone(
        api::<Deployment>(client, namespace)
            .patch(
                name,
                &PatchParams::apply(managers::WORKLOAD),
                &Patch::Merge(&patch),
            )
            .await,
        Target::new("scale", "Deployment", namespace, name),
    )
}

/// Undo: puts an older revision's pod template back into the Rollout.
pub async fn restore_rollout_template(
    client: &Client,
    rollout: &Rollout,
    template: &k8s_openapi::api::core::v1::PodTemplateSpec,
) -> Result<Wrote, KubeError> {
    let patch = json!({ "spec": { "template": template } });
    let (namespace, name) = (rollout.namespace().unwrap_or_default(), rollout.name_any());
    unless_gone(
        api::<Rollout>(client, &namespace)
            .patch(
                &name,
                &PatchParams::apply(managers::UNDO),
                &Patch::Merge(&patch),
            )
            .await,
        Target::new("update", "Rollout", &namespace, &name),
    )
}

/// `conductor rollout promote|abort|retry|undo`: the request annotation
/// the controller acts on once.
pub async fn request_action(api: &Api<Rollout>, name: &str, value: &str) -> kube::Result<()> {
    let patch = json!({ "metadata": { "annotations": {
        super::requests::REQUEST_ANNOTATION: value
    } } });
    api.patch(
        name,
        &PatchParams::apply(managers::CLI),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// `conductor rollout pause` (`true`), and `promote` of a paused rollout.
pub async fn set_paused(api: &Api<Rollout>, name: &str, paused: bool) -> kube::Result<Rollout> {
    let patch = json!({ "spec": { "paused": paused } });
    api.patch(
        name,
        &PatchParams::apply(managers::CLI),
        &Patch::Merge(&patch),
    )
    .await
}

/// `conductor rollout set image`: `patch` is a JSON patch of the pod
/// template (see `cli::rollout_images`).
pub async fn set_images(
    api: &Api<Rollout>,
    name: &str,
    patch: json_patch::Patch,
) -> kube::Result<Rollout> {
    api.patch(
        name,
        &PatchParams::apply(managers::CLI),
        &Patch::<()>::Json(patch),
    )
    .await
}

/// `conductor rollout restart`: pods created before `at` are replaced.
pub async fn request_restart(api: &Api<Rollout>, name: &str, at: &str) -> kube::Result<()> {
    let patch = json!({ "spec": { "restartAt": at } });
    api.patch(
        name,
        &PatchParams::apply(managers::CLI),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// Restarts a pod by deleting it, for its ReplicaSet to replace.
pub async fn delete_pod(client: &Client, namespace: &str, name: &str) -> Result<Wrote, KubeError> {
    unless_gone(
        api::<Pod>(client, namespace)
            .delete(name, &DeleteParams::default())
            .await,
        Target::new("delete", "Pod", namespace, name),
    )
}

/// A `job` metric's measurement Job, named by the server from its
/// `generateName`; owned by its AnalysisRun.
pub async fn create_metric_job(
    client: &Client,
    namespace: &str,
    job: &k8s_openapi::api::batch::v1::Job,
) -> kube::Result<k8s_openapi::api::batch::v1::Job> {
    let params = PostParams {
        field_manager: Some(managers::ANALYSIS.to_owned()),
        ..PostParams::default()
    };
    api::<k8s_openapi::api::batch::v1::Job>(client, namespace)
        .create(&params, job)
        .await
}

/// A measurement Job whose verdict was read, with its pods.
pub async fn delete_metric_job(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Wrote, KubeError> {
    unless_gone(
        api::<k8s_openapi::api::batch::v1::Job>(client, namespace)
            .delete(name, &DeleteParams::background())
            .await,
        Target::new("delete", "Job", namespace, name),
    )
}

// Events and the leader Lease.

pub async fn create_event(api: &Api<Event>, event: &Event) -> kube::Result<Event> {
    api.create(&PostParams::default(), event).await
}

/// Counts a repeat of an Event published before, instead of a new one.
pub async fn count_event_repeat(
    api: &Api<Event>,
    name: &str,
    series: &EventSeries,
) -> kube::Result<()> {
    let patch = json!({ "series": series });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

fn lease_params() -> PostParams {
    PostParams {
        field_manager: Some(managers::LEADER.to_owned()),
        ..PostParams::default()
    }
}

/// Ok(false) when another candidate created it first.
pub async fn create_lease(api: &Api<Lease>, lease: &Lease) -> Result<bool, KubeError> {
    let name = lease.name_any();
    let target = Target::new("create", "Lease", "", &name);
    wrote_unless(
        api.create(&lease_params(), lease).await,
        is_conflict,
        target,
    )
}

/// A replace conditional on the resourceVersion `lease` was read at:
/// Ok(false) when someone changed it since.
pub async fn replace_lease(api: &Api<Lease>, name: &str, lease: &Lease) -> Result<bool, KubeError> {
    let target = Target::new("update", "Lease", "", name);
    wrote_unless(
        api.replace(name, &lease_params(), lease).await,
        is_conflict,
        target,
    )
}
