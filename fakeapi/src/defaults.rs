//! The defaults a real API server fills in on every write of a workload, so
//! an object read back differs from the one sent as it does on a cluster
//! (k8s.io/kubernetes `pkg/apis/core/v1/defaults.go` and
//! `pkg/apis/apps/v1/defaults.go`). Only the fields controllers commonly
//! trip over are covered: a controller that hashes or compares templates
//! it wrote against ones it reads back must survive these.
//!
//! Conductor normalises templates with the same rules
//! (`src/platform/defaults.rs`): there it plays the reader, here the server.
//! Change both together.

use serde_json::{Map, Value, json};

use crate::path::ResourceKey;

/// Fills in the server's defaults on `object`, a whole object of type `key`
/// as it is about to be stored. Types without defaults are left alone.
pub(crate) fn apply(key: &ResourceKey, object: &mut Value) {
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    match (key.api_version.as_str(), key.plural.as_str()) {
        ("v1", "pods") => pod_spec(spec),
        ("apps/v1", "deployments") => {
            deployment_spec(spec);
            template(spec);
        }
        ("apps/v1", "replicasets" | "statefulsets") => {
            insert_absent(spec, "replicas", json!(1));
            template(spec);
        }
        ("apps/v1", "daemonsets") | ("batch/v1", "jobs") => template(spec),
        ("batch/v1", "cronjobs") => {
            if let Some(job) = spec.get_mut("jobTemplate").and_then(Value::as_object_mut)
                && let Some(job_spec) = job.get_mut("spec").and_then(Value::as_object_mut)
            {
                template(job_spec);
            }
        }
        _ => {}
    }
}

fn deployment_spec(spec: &mut Map<String, Value>) {
    insert_absent(spec, "replicas", json!(1));
    insert_absent(spec, "revisionHistoryLimit", json!(10));
    insert_absent(spec, "progressDeadlineSeconds", json!(600));
    let Some(strategy) = object_at(spec, "strategy") else {
        return;
    };
    insert_absent(strategy, "type", json!("RollingUpdate"));
    // Recreate has no rolling parameters to default.
    if strategy.get("type").and_then(Value::as_str) != Some("RollingUpdate") {
        return;
    }
    if let Some(rolling) = object_at(strategy, "rollingUpdate") {
        insert_absent(rolling, "maxSurge", json!("25%"));
        insert_absent(rolling, "maxUnavailable", json!("25%"));
    }
}

/// `spec.template.spec` of a workload.
fn template(spec: &mut Map<String, Value>) {
    if let Some(template) = spec.get_mut("template").and_then(Value::as_object_mut)
        && let Some(pod) = object_at(template, "spec")
    {
        pod_spec(pod);
    }
}

/// Kubernetes' `SetDefaults_PodSpec` and `SetDefaults_Container`, for the
/// fields listed. A Job's `restartPolicy` is required to be set, so
/// defaulting only when absent keeps it.
fn pod_spec(pod: &mut Map<String, Value>) {
    insert_absent(pod, "dnsPolicy", json!("ClusterFirst"));
    insert_absent(pod, "restartPolicy", json!("Always"));
    insert_absent(pod, "terminationGracePeriodSeconds", json!(30));
    insert_absent(pod, "securityContext", json!({}));
    insert_absent(pod, "schedulerName", json!("default-scheduler"));
    for list in ["initContainers", "containers"] {
        let Some(containers) = pod.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers.iter_mut().filter_map(Value::as_object_mut) {
            container_spec(container);
        }
    }
}

fn container_spec(container: &mut Map<String, Value>) {
    insert_absent(
        container,
        "terminationMessagePath",
        json!("/dev/termination-log"),
    );
    insert_absent(container, "terminationMessagePolicy", json!("File"));
    let image = container.get("image").and_then(Value::as_str).unwrap_or("");
    let policy = if pulls_always(image) {
        "Always"
    } else {
        "IfNotPresent"
    };
    insert_absent(container, "imagePullPolicy", json!(policy));
    if let Some(ports) = container.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            insert_absent(port, "protocol", json!("TCP"));
        }
    }
}

/// Whether the image's tag is `latest`, spelled or implied: a reference
/// with neither a tag nor a digest means `:latest`. A port in the registry
/// host (`localhost:5000/app`) is not a tag.
pub(crate) fn pulls_always(image: &str) -> bool {
    let (name, digest) = match image.split_once('@') {
        Some((name, _)) => (name, true),
        None => (image, false),
    };
    // An image that does not parse has no tag: the server assumes it is
    // validated elsewhere and pulls if not present.
    if name.is_empty() {
        return false;
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.rsplit_once(':') {
        Some((_, tag)) => tag == "latest",
        None => !digest,
    }
}

/// The object at `field`, made `{}` when absent or null as the server does.
fn object_at<'a>(
    map: &'a mut Map<String, Value>,
    field: &str,
) -> Option<&'a mut Map<String, Value>> {
    let slot = map.entry(field).or_insert_with(|| json!({}));
    if slot.is_null() {
        *slot = json!({});
    }
    slot.as_object_mut()
}

/// Sets `field` unless it has a value; null counts as absent, as Go's zero
/// value does after decoding.
fn insert_absent(map: &mut Map<String, Value>, field: &str, value: Value) {
    let slot = map.entry(field).or_insert(Value::Null);
    if slot.is_null() || slot.as_str() == Some("") {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(api_version: &str, plural: &str) -> ResourceKey {
        ResourceKey::new(api_version, plural)
    }

    fn workload(api_version: &str, plural: &str, spec: Value) -> Value {
        let mut object = json!({ "spec": spec });
        apply(&key(api_version, plural), &mut object);
        object
    }

    fn pod_template(restart: Option<&str>) -> Value {
        let mut spec = json!({
            "containers": [{
                "name": "app",
                "image": "registry.local:5000/app:1.0",
                "ports": [{ "containerPort": 8080 }],
            }],
            "initContainers": [{ "name": "init", "image": "busybox" }],
        });
        if let Some(restart) = restart {
            spec["restartPolicy"] = json!(restart);
        }
        json!({ "metadata": { "labels": { "app": "a" } }, "spec": spec })
    }

    #[test]
    fn a_replica_set_gets_replicas_and_its_pod_template_defaults() {
        let rs = workload(
            "apps/v1",
            "replicasets",
            json!({ "template": pod_template(None) }),
        );
        let pod = &rs["spec"]["template"]["spec"];
        assert_eq!(rs["spec"]["replicas"], 1);
        assert_eq!(pod["restartPolicy"], "Always");
        assert_eq!(pod["dnsPolicy"], "ClusterFirst");
        assert_eq!(pod["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod["securityContext"], json!({}));
        assert_eq!(pod["schedulerName"], "default-scheduler");
        let app = &pod["containers"][0];
        assert_eq!(app["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(app["terminationMessagePolicy"], "File");
        assert_eq!(app["imagePullPolicy"], "IfNotPresent");
        assert_eq!(app["ports"][0]["protocol"], "TCP");
        assert_eq!(pod["initContainers"][0]["imagePullPolicy"], "Always");
        assert_eq!(pod["initContainers"][0]["terminationMessagePolicy"], "File");
    }

    #[test]
    fn values_already_set_are_kept() {
        let mut template = pod_template(Some("Never"));
        template["spec"]["dnsPolicy"] = json!("Default");
        template["spec"]["containers"][0]["imagePullPolicy"] = json!("Never");
        template["spec"]["containers"][0]["ports"][0]["protocol"] = json!("UDP");
        let rs = workload(
            "apps/v1",
            "replicasets",
            json!({ "replicas": 0, "template": template }),
        );
        let pod = &rs["spec"]["template"]["spec"];
        assert_eq!(rs["spec"]["replicas"], 0);
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["dnsPolicy"], "Default");
        assert_eq!(pod["containers"][0]["imagePullPolicy"], "Never");
        assert_eq!(pod["containers"][0]["ports"][0]["protocol"], "UDP");
    }

    #[test]
    fn a_deployment_gets_its_rolling_update_defaults() {
        let d = workload(
            "apps/v1",
            "deployments",
            json!({ "template": pod_template(None) }),
        );
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        assert_eq!(
            d["spec"]["strategy"],
            json!({
                "type": "RollingUpdate",
                "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": "25%" },
            })
        );
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
    }

    #[test]
    fn a_recreate_deployment_gets_no_rolling_parameters() {
        let d = workload(
            "apps/v1",
            "deployments",
            json!({ "strategy": { "type": "Recreate" }, "template": pod_template(None) }),
        );
        assert_eq!(d["spec"]["strategy"], json!({ "type": "Recreate" }));
    }

    #[test]
    fn jobs_and_pods_keep_their_restart_policy() {
        let job = workload(
            "batch/v1",
            "jobs",
            json!({ "template": pod_template(Some("OnFailure")) }),
        );
        assert_eq!(
            job["spec"]["template"]["spec"]["restartPolicy"],
            "OnFailure"
        );
        assert_eq!(
            job["spec"]["template"]["spec"]["schedulerName"],
            "default-scheduler"
        );
        let pod = workload("v1", "pods", pod_template(Some("Never"))["spec"].clone());
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        assert_eq!(pod["spec"]["dnsPolicy"], "ClusterFirst");
    }

    #[test]
    fn defaulting_twice_changes_nothing() {
        let once = workload(
            "apps/v1",
            "deployments",
            json!({ "template": pod_template(None) }),
        );
        let mut twice = once.clone();
        apply(&key("apps/v1", "deployments"), &mut twice);
        assert_eq!(once, twice);
    }

    #[test]
    fn other_types_are_left_alone() {
        let cm = workload(
            "v1",
            "configmaps",
            json!({ "template": pod_template(None) }),
        );
        assert_eq!(cm["spec"]["template"], pod_template(None));
    }

    #[test]
    fn latest_is_the_tag_spelled_or_implied() {
        assert!(pulls_always("nginx"));
        assert!(pulls_always("nginx:latest"));
        assert!(pulls_always("localhost:5000/app"));
        assert!(!pulls_always("localhost:5000/app:1.2"));
        assert!(!pulls_always("nginx@sha256:abc"));
        assert!(!pulls_always("nginx:1.25"));
        assert!(pulls_always("nginx:latest@sha256:abc"));
        assert!(!pulls_always(""));
    }
}
