//! The pod-spec defaults a Kubernetes API server fills in on every write of
//! a workload (k8s.io/kubernetes `pkg/apis/core/v1/defaults.go`), applied
//! to a template before it is hashed. Without them a template and the same
//! template read back from a ReplicaSet are two revisions: undo copies the
//! server's defaulted form into the rollout, and a fresh ReplicaSet rolls
//! out from scratch instead of the old one coming back.
//!
//! The fake API server applies the same rules (`fakeapi/src/defaults.rs`):
//! it plays the server, this normalises what the controller reads. Change
//! both together. Only the fields a server defaults on every pod template
//! are covered; a field missing here makes a template and its defaulted
//! form differ, which the fake's suite shows.

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};

/// `template` as an API server would store it.
pub fn pod_template(template: &mut PodTemplateSpec) {
    if let Some(spec) = template.spec.as_mut() {
        pod_spec(spec);
    }
}

fn pod_spec(spec: &mut PodSpec) {
    set_absent(&mut spec.dns_policy, "ClusterFirst");
    set_absent(&mut spec.restart_policy, "Always");
    set_absent(&mut spec.scheduler_name, "default-scheduler");
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.security_context.get_or_insert_with(Default::default);
    let init = spec.init_containers.iter_mut().flatten();
    for container in spec.containers.iter_mut().chain(init) {
        container_spec(container);
    }
}

fn container_spec(container: &mut Container) {
    set_absent(
        &mut container.termination_message_path,
        "/dev/termination-log",
    );
    set_absent(&mut container.termination_message_policy, "File");
    let policy = if pulls_always(container.image.as_deref().unwrap_or("")) {
        "Always"
    } else {
        "IfNotPresent"
    };
    set_absent(&mut container.image_pull_policy, policy);
    for port in container.ports.iter_mut().flatten() {
        set_absent(&mut port.protocol, "TCP");
    }
}

/// Whether the image's tag is `latest`, spelled or implied: a reference
/// with neither a tag nor a digest means `:latest`. A port in the registry
/// host (`localhost:5000/app`) is not a tag.
fn pulls_always(image: &str) -> bool {
    let (name, digest) = match image.split_once('@') {
        Some((name, _)) => (name, true),
        None => (image, false),
    };
    // An image that does not parse has no tag: the server leaves it to
    // validation and pulls if not present.
    if name.is_empty() {
        return false;
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.rsplit_once(':') {
        Some((_, tag)) => tag == "latest",
        None => !digest,
    }
}

/// An empty string is unset, as Go's zero value is after decoding.
fn set_absent(field: &mut Option<String>, value: &str) {
    if field.as_deref().is_none_or(str::is_empty) {
        *field = Some(value.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ContainerPort;

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: None,
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    image: Some(image.into()),
                    ports: Some(vec![ContainerPort {
                        container_port: 8080,
                        ..Default::default()
                    }]),
                    ..Default::default()
                }],
                init_containers: Some(vec![Container {
                    name: "init".into(),
                    image: Some("busybox".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_template_gets_what_the_server_would_fill_in() {
        let mut t = template("registry:5000/app:1.0");
        pod_template(&mut t);
        let spec = t.spec.unwrap_or_default();
        assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
        assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
        assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
        assert_eq!(spec.termination_grace_period_seconds, Some(30));
        assert_eq!(spec.security_context, Some(Default::default()));
        let app = &spec.containers[0];
        assert_eq!(app.image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(
            app.termination_message_path.as_deref(),
            Some("/dev/termination-log")
        );
        assert_eq!(app.termination_message_policy.as_deref(), Some("File"));
        let port = app.ports.as_ref().map(|p| p[0].protocol.clone());
        assert_eq!(port, Some(Some("TCP".into())));
        let init = spec.init_containers.unwrap_or_default();
        assert_eq!(init[0].image_pull_policy.as_deref(), Some("Always"));
    }

    #[test]
    fn values_set_are_kept_and_defaulting_twice_changes_nothing() {
        let mut t = template("app:latest");
        if let Some(spec) = t.spec.as_mut() {
            spec.restart_policy = Some("OnFailure".into());
            spec.containers[0].image_pull_policy = Some("Never".into());
        }
        pod_template(&mut t);
        let once = t.clone();
        pod_template(&mut t);
        assert_eq!(once, t);
        let spec = t.spec.unwrap_or_default();
        assert_eq!(spec.restart_policy.as_deref(), Some("OnFailure"));
        assert_eq!(
            spec.containers[0].image_pull_policy.as_deref(),
            Some("Never")
        );
    }

    #[test]
    fn latest_is_the_tag_spelled_or_implied() {
        assert!(pulls_always("nginx"));
        assert!(pulls_always("nginx:latest"));
        assert!(pulls_always("localhost:5000/app"));
        assert!(pulls_always("nginx:latest@sha256:abc"));
        assert!(!pulls_always("localhost:5000/app:1.2"));
        assert!(!pulls_always("nginx@sha256:abc"));
        assert!(!pulls_always(""));
    }
}
