//! Structural pruning, as a real API server does it to custom resources:
//! a field the CRD's schema does not declare is dropped on every write
//! (create, update, patch, apply, status), unless the schema node says
//! `x-kubernetes-preserve-unknown-fields: true`. An object schema that
//! declares nothing keeps nothing, which is how a manifest written for
//! another controller can lose whole sections without a word: the suite
//! must see that as a cluster would.
//!
//! Pruning follows the schema's own `properties`, `additionalProperties`
//! and `items` (a structural schema declares them outside `allOf`/`anyOf`/
//! `oneOf`); `apiVersion`, `kind` and `metadata` are kept at the root and
//! in `x-kubernetes-embedded-resource` nodes.

use std::sync::Arc;

use serde_json::Value;

use crate::path::ResourceKey;
use crate::selector::Filter;
use crate::store::Store;

const OBJECT_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// The structural schema of the CRD version that serves a custom resource,
/// held through its CRD (a schema is tens of KB: no copy per write).
pub(crate) struct CrdSchema {
    crd: Arc<Value>,
    version: usize,
}

impl CrdSchema {
    pub(crate) fn root(&self) -> Option<&Value> {
        self.crd.pointer(&format!(
            "/spec/versions/{}/schema/openAPIV3Schema",
            self.version
        ))
    }
}

/// `None` for built-in kinds and CRDs without a schema.
pub(crate) fn crd_schema(store: &Store, key: &ResourceKey) -> Option<CrdSchema> {
    // A CRD's group always has a dot; most writes (pods, ReplicaSets) are
    // of built-in kinds and need no look at the CRDs.
    let (group, version) = key
        .api_version
        .split_once('/')
        .filter(|(g, _)| g.contains('.'))?;
    let crds = store.list(
        &ResourceKey::new("apiextensions.k8s.io/v1", "customresourcedefinitions"),
        None,
        &Filter::default(),
    );
    let crd = crds.into_iter().find(|crd| {
        crd.pointer("/spec/group").and_then(Value::as_str) == Some(group)
            && crd.pointer("/spec/names/plural").and_then(Value::as_str) == Some(&key.plural)
    })?;
    let index = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)?
        .iter()
        .position(|v| v["name"].as_str() == Some(version))?;
    let schema = CrdSchema {
        crd,
        version: index,
    };
    schema.root().is_some().then_some(schema)
}

/// Prunes `object` by `schema` (see [`crd_schema`]); no schema, no
/// pruning. `only` limits it to one top-level field: a status write
/// changes nothing else, and the rest was pruned when it was written.
pub(crate) fn custom_resource(schema: Option<&Value>, object: &mut Value, only: Option<&str>) {
    match (schema, only) {
        (Some(schema), None) => prune(object, schema),
        (Some(schema), Some(field)) => {
            if let (Some(value), Some(field_schema)) = (
                object.get_mut(field),
                schema.pointer(&format!("/properties/{field}")),
            ) {
                node(value, field_schema, false);
            } else {
                prune(object, schema);
            }
        }
        (None, _) => {}
    }
}

/// Drops from a whole object every field `schema` does not declare.
pub(crate) fn prune(object: &mut Value, schema: &Value) {
    node(object, schema, true);
}

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool) == Some(true)
}

fn node(value: &mut Value, schema: &Value, root: bool) {
    match value {
        Value::Object(map) => {
            let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
            let keeps_object_fields = root || flag(schema, "x-kubernetes-embedded-resource");
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            if let Some(additional) = additional {
                for field in map.values_mut() {
                    node(field, additional, false);
                }
                return;
            }
            map.retain(|name, _| {
                preserve
                    || properties.is_some_and(|p| p.contains_key(name))
                    || (keeps_object_fields && OBJECT_FIELDS.contains(&name.as_str()))
            });
            if let Some(properties) = properties {
                for (name, field) in map.iter_mut() {
                    // A schema may declare `metadata: {type: object}` (the
                    // Gateway API CRDs do): a real server still keeps the
                    // object's own fields whole, pruning only what it
                    // declares below them.
                    if keeps_object_fields && OBJECT_FIELDS.contains(&name.as_str()) {
                        continue;
                    }
                    if let Some(schema) = properties.get(name) {
                        node(field, schema, false);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(schema) = schema.get("items") {
                for item in items {
                    node(item, schema, false);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_object_fields_stay_whole_whatever_the_schema_declares_for_them() {
        let schema = json!({
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {"type": "object", "properties": {"rules": {"type": "array"}}}
            }
        });
        let mut object = json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web", "labels": {"a": "b"}},
            "spec": {"rules": [], "dropped": 1}
        });
        prune(&mut object, &schema);
        assert_eq!(
            object,
            json!({
                "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "metadata": {"name": "web", "labels": {"a": "b"}},
                "spec": {"rules": []}
            })
        );
    }

    #[test]
    fn undeclared_fields_go_unless_a_node_preserves_them() {
        let schema = json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "replicas": {"type": "integer"},
                        "trafficRouting": {"type": "object", "properties": {"nginx": {"type": "object"}}},
                        "steps": {"type": "array", "items": {"type": "object", "properties": {"setWeight": {"type": "integer"}}}},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "empty": {"type": "object"}
                    }
                }
            }
        });
        let mut object = json!({
            "apiVersion": "conductor.dev/v1alpha1", "kind": "Rollout", "metadata": {"name": "a"},
            "spec": {
                "replicas": 2,
                "trafficRouting": {"istio": {"virtualService": {"name": "vs"}}},
                "steps": [{"setWeight": 10, "setHeaderRoute": {"name": "h"}}],
                "labels": {"a": "b"},
                "free": {"anything": {"goes": 1}},
                "empty": {"dropped": true},
                "unknown": 1
            },
            "extra": true
        });
        prune(&mut object, &schema);
        assert_eq!(
            object,
            json!({
                "apiVersion": "conductor.dev/v1alpha1", "kind": "Rollout", "metadata": {"name": "a"},
                "spec": {
                    "replicas": 2,
                    "trafficRouting": {},
                    "steps": [{"setWeight": 10}],
                    "labels": {"a": "b"},
                    "free": {"anything": {"goes": 1}},
                    "empty": {}
                }
            })
        );
    }
}
