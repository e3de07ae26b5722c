//! Status the ReplicaSet and Deployment controllers would report.

use serde_json::{Map, Value, json};

use super::keys::{deployment_key, replicaset_key};
use super::pods;
use crate::meta::meta_str;
use crate::store::Store;
use crate::writes::WritePart;

/// Brings a ReplicaSet's status (and, with `with_pods`, its Pods) in line
/// with `spec.replicas`, `unready` of them reported not ready.
pub(super) fn replicaset(store: &mut Store, ns: &str, name: &str, unready: usize, with_pods: bool) {
    let Ok(rs) = store.get(&replicaset_key(), ns, name) else {
        return;
    };
    if meta_str(&rs, "deletionTimestamp").is_some() {
        return;
    }
    let desired = desired_replicas(&rs);
    let unready = unready.min(desired);
    let (replicas, ready) = if with_pods {
        pods::reconcile(store, &rs, desired, unready)
    } else {
        (desired, desired - unready)
    };
    let mut status = current_status(&rs);
    set_count(&mut status, "replicas", replicas, true);
    set_count(&mut status, "fullyLabeledReplicas", replicas, false);
    set_count(&mut status, "readyReplicas", ready, false);
    set_count(&mut status, "availableReplicas", ready, false);
    status.insert("observedGeneration".into(), generation(&rs));
    write_status(store, &replicaset_key(), ns, name, status);
}

/// Reports a Deployment's replicas as all updated, `unready` of them unavailable.
pub(super) fn deployment(store: &mut Store, ns: &str, name: &str, unready: usize) {
    let Ok(deploy) = store.get(&deployment_key(), ns, name) else {
        return;
    };
    if meta_str(&deploy, "deletionTimestamp").is_some() {
        return;
    }
    let desired = desired_replicas(&deploy);
    let unready = unready.min(desired);
    let mut status = current_status(&deploy);
    set_count(&mut status, "replicas", desired, false);
    set_count(&mut status, "updatedReplicas", desired, false);
    set_count(&mut status, "readyReplicas", desired - unready, false);
    set_count(&mut status, "availableReplicas", desired - unready, false);
    set_count(&mut status, "unavailableReplicas", unready, false);
    status.insert("observedGeneration".into(), generation(&deploy));
    write_status(store, &deployment_key(), ns, name, status);
}

fn desired_replicas(object: &Value) -> usize {
    object
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .map_or(1, |r| usize::try_from(r).unwrap_or(usize::MAX))
}

fn generation(object: &Value) -> Value {
    object
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1))
}

fn current_status(object: &Value) -> Map<String, Value> {
    object
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The real controllers omit zero counts (`omitempty`) except where noted.
fn set_count(status: &mut Map<String, Value>, field: &str, n: usize, keep_zero: bool) {
    if n == 0 && !keep_zero {
        status.remove(field);
    } else {
        status.insert(field.into(), json!(n));
    }
}

fn write_status(
    store: &mut Store,
    key: &crate::path::ResourceKey,
    ns: &str,
    name: &str,
    status: Map<String, Value>,
) {
    // The object exists (just read under the same lock) and no precondition
    // is given, so this cannot fail; unchanged status is a no-op write.
    let _ = store.update(
        key,
        ns,
        name,
        json!({"status": status}),
        WritePart::Status,
        None,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_counts_are_omitted() {
        let mut status = Map::new();
        set_count(&mut status, "readyReplicas", 0, false);
        set_count(&mut status, "replicas", 0, true);
        assert_eq!(Value::Object(status), json!({"replicas": 0}));
    }
}
