//! A Rollout as the controller's cache keeps it. A typed `Rollout` is
//! ~10 KB in memory (a pod `Container` alone is 2 KB of mostly empty
//! options); its JSON is ~2 KB. The cache keeps the metadata parsed, for
//! the store and the scheduler, and the rest as compact JSON decoded when a
//! reconcile needs it, which also means an object that does not decode is
//! reported by its reconcile instead of failing the whole watch.

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::crd::rollout::Rollout;

/// Written by `kubectl apply` and never read here: a second copy of the object.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[derive(Debug, Clone)]
pub struct CachedRollout {
    metadata: ObjectMeta,
    /// `status.phase`, for the rollouts-by-phase gauge without decoding.
    phase: Option<String>,
    /// `spec.workloadRef.name`, to find the Rollouts a Deployment change
    /// concerns without decoding every one.
    workload_ref: Option<Box<str>>,
    /// The object, its metadata left empty.
    body: Box<str>,
}

impl CachedRollout {
    /// The typed rollout, with the cached metadata.
    pub fn decode(&self) -> Result<Rollout, serde_json::Error> {
        let mut rollout: Rollout = serde_json::from_str(&self.body)?;
        rollout.metadata = self.metadata.clone();
        Ok(rollout)
    }

    pub fn phase(&self) -> Option<&str> {
        self.phase.as_deref()
    }

    pub fn workload_ref(&self) -> Option<&str> {
        self.workload_ref.as_deref()
    }
}

impl<'de> Deserialize<'de> for CachedRollout {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut object = Value::deserialize(deserializer)?;
        // The typed Rollout requires a metadata field: an empty one stands
        // in for it in the body, and `decode` puts the parsed one back.
        let metadata = object
            .as_object_mut()
            .and_then(|o| o.insert("metadata".to_owned(), Value::Object(Default::default())))
            .ok_or_else(|| D::Error::missing_field("metadata"))?;
        let mut metadata: ObjectMeta =
            serde_json::from_value(metadata).map_err(D::Error::custom)?;
        metadata.managed_fields = None;
        if let Some(annotations) = metadata.annotations.as_mut() {
            annotations.remove(LAST_APPLIED);
        }
        let phase = object
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let workload_ref = object
            .pointer("/spec/workloadRef/name")
            .and_then(Value::as_str)
            .map(Into::into);
        Ok(Self {
            metadata,
            phase,
            workload_ref,
            body: object.to_string().into_boxed_str(),
        })
    }
}

impl Resource for CachedRollout {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        Rollout::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        Rollout::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        Rollout::version(dt)
    }

    fn api_version(dt: &()) -> Cow<'_, str> {
        Rollout::api_version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        Rollout::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_to_the_rollout_it_was_read_from_minus_what_nobody_reads() {
        let object = json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": {
                "name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "7",
                "annotations": {LAST_APPLIED: "{}", "conductor.dev/request": "promote/1"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
            },
            "spec": {
                "replicas": 3,
                "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "app", "image": "web:v2"}]}},
            },
            "status": {"phase": "Progressing"},
        });
        let cached: CachedRollout = serde_json::from_value(object.clone()).unwrap();
        assert_eq!(cached.phase(), Some("Progressing"));
        assert_eq!(cached.meta().resource_version.as_deref(), Some("7"));
        let decoded = cached.decode().unwrap();
        let mut expected: Rollout = serde_json::from_value(object).unwrap();
        expected.metadata.managed_fields = None;
        expected
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .remove(LAST_APPLIED);
        assert_eq!(
            serde_json::to_value(&decoded).unwrap(),
            serde_json::to_value(&expected).unwrap()
        );
    }

    #[test]
    fn a_body_of_the_wrong_shape_is_kept_and_fails_only_when_decoded() {
        let cached: CachedRollout = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"replicas": "three"},
        }))
        .unwrap();
        let error = cached.decode().unwrap_err().to_string();
        assert!(error.contains("invalid type"), "{error}");
        assert!(serde_json::from_value::<CachedRollout>(json!({"spec": {}})).is_err());
    }
}
