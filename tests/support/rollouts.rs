//! Rollouts and their Services as the operator scenarios write them: a
//! canary Rollout of one container named `app`, its pods labelled
//! `app: <name>`, its traffic through the Services `<name>-stable` and
//! `<name>-canary`; and what the scenarios change and read on them. A test
//! crate that includes this (`#[path = "support/rollouts.rs"] mod
//! rollouts;`) includes `support/cluster.rs` as `cluster` too.

#![allow(dead_code)]

use conductor::crd::rollout::Rollout;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::cluster::{Cluster, phase};

/// Real images, so the same tests pass on a real cluster; the tag is the revision label.
pub const V1: &str = "registry.k8s.io/pause:3.9";
pub const V2: &str = "registry.k8s.io/pause:3.10";
pub const V3: &str = "registry.k8s.io/pause:3.8";

/// A canary Rollout `name` of `replicas` pods running `image`, routed
/// through the Services [`services`] makes, going through `steps`. Callers
/// add what their scenario needs to the returned object (see
/// [`with_canary`] for the strategy).
pub fn rollout(name: &str, image: &str, replicas: i32, steps: Value) -> Value {
    json!({
        "apiVersion": "conductor.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": { "name": name },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "app", "image": image }] }
            },
            "strategy": { "canary": {
                "stableService": format!("{name}-stable"),
                "canaryService": format!("{name}-canary"),
                "steps": steps
            } }
        }
    })
}

/// `rollout` with each field of `canary` set in its canary strategy; a
/// field set to null is removed (a Rollout without a `stableService`, say).
pub fn with_canary(mut rollout: Value, canary: Value) -> Value {
    let strategy = &mut rollout["spec"]["strategy"]["canary"];
    for (key, value) in canary.as_object().into_iter().flatten() {
        if value.is_null() {
            strategy.as_object_mut().map(|s| s.remove(key));
        } else {
            strategy[key] = value.clone();
        }
    }
    rollout
}

/// The stable and canary Services of the Rollout `name`.
pub async fn services(cluster: &Cluster, name: &str) {
    role_services(cluster, name, &["stable", "canary"]).await;
}

/// A Service `<name>-<role>` for each role, selecting every pod of the
/// Rollout `name` (a router's root Service is a role too).
pub async fn role_services(cluster: &Cluster, name: &str, roles: &[&str]) {
    for role in roles {
        cluster
            .apply::<Service>(json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": { "name": format!("{name}-{role}") },
                "spec": { "selector": { "app": name }, "ports": [{ "port": 80 }] }
            }))
            .await;
    }
}

/// Releases `image`: a merge patch of the pod template, as `kubectl patch` does.
pub async fn set_image(cluster: &Cluster, name: &str, image: &str) {
    let patch = json!({ "spec": { "template": { "spec": { "containers": [{ "name": "app", "image": image }] } } } });
    cluster
        .api::<Rollout>()
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch the image");
}

/// Done at `revision` by the engine's own answer (for the current
/// generation), with every pod available.
pub fn healthy_at(revision: &'static str) -> impl Fn(&Rollout) -> bool {
    move |r: &Rollout| {
        engine_healthy_at(revision)(r)
            && r.status.as_ref().and_then(|s| s.available_replicas) == r.spec.replicas
    }
}

/// Done at `revision` by the engine's own answer (for the current
/// generation) alone, whether or not every pod is available yet.
pub fn engine_healthy_at(revision: &'static str) -> impl Fn(&Rollout) -> bool {
    move |r: &Rollout| {
        conductor::engine::outcome(r.metadata.generation, &r.spec, r.status.as_ref())
            .is_healthy_at(revision)
    }
}

/// Healthy with `revision` stable, by the status the controller wrote.
pub fn stable_at(revision: &'static str) -> impl Fn(&Rollout) -> bool {
    move |r: &Rollout| {
        phase(r) == "Healthy"
            && r.status.as_ref().and_then(|s| s.stable_revision.as_deref()) == Some(revision)
    }
}

/// The ReplicaSets of the Rollout `name`, by the label the controller sets.
pub async fn replica_sets(cluster: &Cluster, name: &str) -> Vec<ReplicaSet> {
    let selector = format!("conductor.dev/rollout={name}");
    cluster
        .api::<ReplicaSet>()
        .list(&ListParams::default().labels(&selector))
        .await
        .expect("list replica sets")
        .items
}

pub fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

pub fn canary_weight(r: &Rollout) -> Option<i32> {
    r.status
        .as_ref()
        .and_then(|s| s.canary.as_ref())
        .and_then(|c| c.weights.as_ref())
        .map(|w| w.canary)
}

/// The status message, empty when there is none.
pub fn message(r: &Rollout) -> String {
    r.status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default()
}
