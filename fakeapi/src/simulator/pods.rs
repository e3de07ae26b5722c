//! Pods a ReplicaSet controller would keep: one per desired replica, named
//! `<rs>-<5 random>`, owned by the ReplicaSet, Running, and Ready unless
//! the test injected unready replicas.

use std::sync::Arc;

use serde_json::{Value, json};

use super::keys::pod_key;
use crate::meta::meta_str;
use crate::store::Store;
use crate::writes::{DeleteOptions, WritePart};

/// The ReplicaSet named as controller in a Pod's ownerReferences.
pub(super) fn owning_replicaset(pod: &Value) -> Option<String> {
    pod.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("kind").and_then(Value::as_str) == Some("ReplicaSet"))?
        .get("name")?
        .as_str()
        .map(str::to_string)
}

/// Creates or deletes Pods until `desired` exist and marks the oldest
/// `unready` of them not ready; returns `(pods, ready pods)`.
pub(super) fn reconcile(
    store: &mut Store,
    rs: &Value,
    desired: usize,
    unready: usize,
) -> (usize, usize) {
    let Some(uid) = meta_str(rs, "uid") else {
        return (0, 0);
    };
    let key = pod_key();
    let mut pods: Vec<Arc<Value>> = store
        .dependents(uid)
        .into_iter()
        .filter(|(k, _, _)| *k == key)
        .filter_map(|(k, ns, name)| store.get(&k, &ns, &name).ok())
        .filter(|p| meta_str(p, "deletionTimestamp").is_none())
        .collect();
    pods.sort_by(|a, b| {
        let order = |p: &Value| {
            (
                meta_str(p, "creationTimestamp")
                    .unwrap_or_default()
                    .to_string(),
                meta_str(p, "name").unwrap_or_default().to_string(),
            )
        };
        order(a).cmp(&order(b))
    });
    while pods.len() > desired {
        if let Some(extra) = pods.pop() {
            let (ns, name) = (
                meta_str(&extra, "namespace").unwrap_or_default(),
                meta_str(&extra, "name").unwrap_or_default(),
            );
            // Already gone is as good as deleted.
            let _ = store.delete(&key, ns, name, &DeleteOptions::default());
        }
    }
    let ns = meta_str(rs, "namespace").unwrap_or_default().to_string();
    while pods.len() < desired {
        match store.create(&key, &ns, new_pod(rs, uid), true) {
            Ok(pod) => pods.push(pod),
            Err(_) => break,
        }
    }
    let mut ready = 0;
    for (i, pod) in pods.iter().enumerate() {
        let want_ready = i >= unready;
        if want_ready {
            ready += 1;
        }
        let status = pod_status(want_ready);
        if pod.get("status") != Some(&status) {
            let name = meta_str(pod, "name").unwrap_or_default();
            // The Pod was read under the same lock, so it still exists.
            let _ = store.update(
                &key,
                &ns,
                name,
                json!({"status": status}),
                WritePart::Status,
                None,
            );
        }
    }
    (pods.len(), ready)
}

fn new_pod(rs: &Value, uid: &str) -> Value {
    let name = meta_str(rs, "name").unwrap_or_default();
    let labels = rs
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let spec = rs
        .pointer("/spec/template/spec")
        .cloned()
        .unwrap_or_else(|| json!({"containers": []}));
    controlled_pod(
        ("apps/v1", "ReplicaSet", name, uid),
        labels,
        spec,
        pod_status(true),
    )
}

/// A Pod named after and controlled by `(apiVersion, kind, name, uid)`,
/// as its controller creates it.
pub(super) fn controlled_pod(
    (api_version, kind, name, uid): (&str, &str, &str, &str),
    labels: Value,
    spec: Value,
    status: Value,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": format!("{name}-"),
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": api_version,
                "kind": kind,
                "name": name,
                "uid": uid,
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": spec,
        "status": status,
    })
}

fn pod_status(ready: bool) -> Value {
    json!({
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
    })
}
