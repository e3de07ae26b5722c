//! `conductor rollout set image NAME CONTAINER=IMAGE...`: a new revision
//! from the command line, as `kubectl argo rollouts set image` makes one.
//! Custom resources take no strategic merge patch, so the change is a JSON
//! patch that tests each container's name at its index before replacing
//! its image: a template reordered in between is refused, never patched
//! in the wrong place.

use k8s_openapi::api::core::v1::Container;
use serde_json::{Value, json};

use crate::crd::rollout::Rollout;

/// One `CONTAINER=IMAGE` argument; `*` names every container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageArg {
    pub container: String,
    pub image: String,
}

/// What `set image` changes: the JSON patch, and per container the image
/// it had and gets, for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageChange {
    pub patch: Value,
    pub changed: Vec<(String, String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("`{0}` is not CONTAINER=IMAGE")]
    NotAnAssignment(String),
    #[error("rollout {rollout} has no container {container} (spec.template.spec has: {known})")]
    UnknownContainer {
        rollout: String,
        container: String,
        known: String,
    },
    #[error(
        "rollout {rollout} takes its pod template from Deployment {deployment} (spec.workloadRef): set the image there"
    )]
    WorkloadRef { rollout: String, deployment: String },
    #[error("rollout {0} has no pod template (spec.template)")]
    NoTemplate(String),
}

pub fn parse(arg: &str) -> Result<ImageArg, ImageError> {
    match arg.split_once('=') {
        Some((container, image)) if !container.is_empty() && !image.is_empty() => Ok(ImageArg {
            container: container.to_owned(),
            image: image.to_owned(),
        }),
        _ => Err(ImageError::NotAnAssignment(arg.to_owned())),
    }
}

/// The patch setting `images` in `rollout`'s pod template (containers and
/// init containers); an image already set is left out. Every argument
/// must name a container.
pub fn change(rollout: &Rollout, images: &[ImageArg]) -> Result<ImageChange, ImageError> {
    let name = rollout.metadata.name.clone().unwrap_or_default();
    if let Some(reference) = &rollout.spec.workload_ref {
        return Err(ImageError::WorkloadRef {
            rollout: name,
            deployment: reference.name.clone(),
        });
    }
    let pod = rollout
        .spec
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .ok_or_else(|| ImageError::NoTemplate(name.clone()))?;
    let lists: [(&str, &[Container]); 2] = [
        ("containers", &pod.containers),
        (
            "initContainers",
            pod.init_containers.as_deref().unwrap_or_default(),
        ),
    ];
    let mut patch = Vec::new();
    let mut changed = Vec::new();
    for arg in images {
        let mut found = false;
        for (list, containers) in &lists {
            for (index, container) in containers.iter().enumerate() {
                if arg.container != "*" && arg.container != container.name {
                    continue;
                }
                found = true;
                let before = container.image.clone().unwrap_or_default();
                if before == arg.image {
                    continue;
                }
                let at = format!("/spec/template/spec/{list}/{index}");
                patch.push(
                    json!({ "op": "test", "path": format!("{at}/name"), "value": container.name }),
                );
                patch.push(
                    json!({ "op": "add", "path": format!("{at}/image"), "value": arg.image }),
                );
                changed.push((container.name.clone(), before, arg.image.clone()));
            }
        }
        if !found {
            let known: Vec<&str> = lists
                .iter()
                .flat_map(|(_, containers)| containers.iter().map(|c| c.name.as_str()))
                .collect();
            return Err(ImageError::UnknownContainer {
                rollout: name,
                container: arg.container.clone(),
                known: known.join(", "),
            });
        }
    }
    Ok(ImageChange {
        patch: Value::Array(patch),
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(spec: Value) -> Rollout {
        serde_json::from_value(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": { "name": "desk" },
            "spec": spec
        }))
        .expect("a rollout")
    }

    fn two_containers() -> Rollout {
        rollout(json!({
            "selector": { "matchLabels": { "app": "desk" } },
            "template": { "spec": {
                "initContainers": [{ "name": "migrate", "image": "desk:1" }],
                "containers": [
                    { "name": "app", "image": "desk:1" },
                    { "name": "proxy", "image": "envoy:1" }
                ]
            } },
            "strategy": { "canary": {} }
        }))
    }

    fn args(list: &[&str]) -> Vec<ImageArg> {
        list.iter()
            .map(|a| parse(a).expect("an assignment"))
            .collect()
    }

    #[test]
    fn arguments_are_container_equals_image() {
        assert_eq!(
            parse("app=registry.example/desk:2@sha256:ab=cd"),
            Ok(ImageArg {
                container: "app".into(),
                image: "registry.example/desk:2@sha256:ab=cd".into()
            })
        );
        for bad in ["app", "=desk:2", "app="] {
            assert_eq!(parse(bad), Err(ImageError::NotAnAssignment(bad.into())));
        }
    }

    #[test]
    fn each_named_container_is_tested_then_set() {
        let change = change(&two_containers(), &args(&["proxy=envoy:2"])).expect("a change");
        assert_eq!(
            change.patch,
            json!([
                { "op": "test", "path": "/spec/template/spec/containers/1/name", "value": "proxy" },
                { "op": "add", "path": "/spec/template/spec/containers/1/image", "value": "envoy:2" }
            ])
        );
        assert_eq!(
            change.changed,
            [(
                "proxy".to_owned(),
                "envoy:1".to_owned(),
                "envoy:2".to_owned()
            )]
        );
    }

    #[test]
    fn a_star_sets_every_container_and_init_container() {
        let change = change(&two_containers(), &args(&["*=desk:2"])).expect("a change");
        let names: Vec<&str> = change.changed.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ["app", "proxy", "migrate"]);
        // The one already at the image is left out.
        let again = super::change(&two_containers(), &args(&["app=desk:1"])).expect("a change");
        assert_eq!(again.patch, json!([]));
    }

    #[test]
    fn what_cannot_be_set_is_named() {
        assert_eq!(
            change(&two_containers(), &args(&["sidecar=x:1"])),
            Err(ImageError::UnknownContainer {
                rollout: "desk".into(),
                container: "sidecar".into(),
                known: "app, proxy, migrate".into()
            })
        );
        let referencing = rollout(json!({
            "workloadRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "desk-template" },
            "strategy": { "canary": {} }
        }));
        assert_eq!(
            change(&referencing, &args(&["app=desk:2"]))
                .map_err(|e| e.to_string()),
            Err("rollout desk takes its pod template from Deployment desk-template (spec.workloadRef): set the image there".into())
        );
    }
}
