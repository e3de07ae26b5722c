//! Where the engine's desired world is made real. `local` runs revisions
//! as processes on this machine behind a weighted proxy (the embedded
//! default for `conductor demo`); `kubernetes` is the operator.

pub mod defaults;
pub mod kubernetes;
pub mod local;

use k8s_openapi::api::core::v1::PodTemplateSpec;

use kubernetes::HASH_LABEL;

/// FNV-1a over the pod template: the revision's identity, as Kubernetes'
/// pod-template hash is. Both platforms name revisions with it, so a
/// template means the same revision wherever it runs.
///
/// The template is hashed as an API server stores it, with its defaults
/// filled in and without the hash label a ReplicaSet's copy carries, so a
/// rollout's template and the template read back from its ReplicaSet (what
/// undo copies) hash the same.
pub fn template_hash(template: Option<&PodTemplateSpec>) -> String {
    let normal = template.cloned().map(|mut template| {
        defaults::pod_template(&mut template);
        if let Some(meta) = template.metadata.as_mut() {
            let labels = meta.labels.take().unwrap_or_default();
            let kept: std::collections::BTreeMap<_, _> = labels
                .into_iter()
                .filter(|(k, _)| k != HASH_LABEL)
                .collect();
            // No labels and the hash label alone are the same template.
            meta.labels = (!kept.is_empty()).then_some(kept);
        }
        template
    });
    let text = serde_json::to_string(&normal).unwrap_or_default();
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:08x}", hash >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use kube::api::ObjectMeta;
    use std::collections::BTreeMap;

    fn template() -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(BTreeMap::from([("app".into(), "web".into())])),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    image: Some("web:3.9".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_template_and_its_replica_sets_defaulted_copy_are_one_revision() {
        let mut stored = template();
        defaults::pod_template(&mut stored);
        if let Some(labels) = stored.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.insert(HASH_LABEL.into(), "0123abcd".into());
        }
        assert_eq!(
            template_hash(Some(&template())),
            template_hash(Some(&stored))
        );
    }

    #[test]
    fn a_changed_image_is_another_revision() {
        let mut other = template();
        if let Some(spec) = other.spec.as_mut() {
            spec.containers[0].image = Some("web:4.0".into());
        }
        assert_ne!(
            template_hash(Some(&template())),
            template_hash(Some(&other))
        );
    }
}
