//! The soak's Rollouts: a small canary (two replicas, two weights, two
//! one-second pauses) so every image update walks four steps, is promoted
//! twice by the clock and completes within seconds when nothing fails.

use serde_json::{Value, json};

pub const NAMESPACE: &str = "soak";
pub const ROLLOUTS: (&str, &str) = ("conductor.dev/v1alpha1", "rollouts");
pub const REPLICA_SETS: (&str, &str) = ("apps/v1", "replicasets");

/// ReplicaSets kept at zero besides the stable and the canary ones: few,
/// so what the controller keeps does not grow with the number of updates.
pub const HISTORY_LIMIT: usize = 1;

/// Which steps are `setWeight` ones: each one passed publishes a SetWeight Event.
pub const SET_WEIGHT_STEPS: [bool; 4] = [true, false, true, false];

pub fn name(i: usize) -> String {
    format!("r{i}")
}

pub fn template(name: &str, tag: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": name}},
        "spec": {
            "containers": [{
                "name": "app",
                "image": format!("registry.example.com/soak/{name}:{tag}"),
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
            }],
        },
    })
}

pub fn rollout(name: &str, tag: &str) -> Value {
    json!({
        "apiVersion": "conductor.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": HISTORY_LIMIT,
            "selector": {"matchLabels": {"app": name}},
            "template": template(name, tag),
            "strategy": {"canary": {"steps": [
                {"setWeight": 25},
                {"pause": {"duration": "1s"}},
                {"setWeight": 75},
                {"pause": {"duration": "1s"}},
            ]}},
        },
    })
}

/// The image tag of a Rollout's (or ReplicaSet's) template: the revision
/// label the controller shows as `stableRevision` and `canaryRevision`.
pub fn tag(object: &Value) -> Option<&str> {
    object["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()?
        .rsplit_once(':')
        .map(|(_, t)| t)
}

pub fn object_name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}
