//! Checks manifests of Conductor's kinds against the generated CRD schemas,
//! as the API server would with strict field validation: wrong types,
//! missing required fields and unknown fields are all reported, each
//! unknown field as the controller reports it (`crd::unsupported`).

use std::collections::HashMap;

use jsonschema::error::ValidationErrorKind;
use serde_json::{Map, Value};

use super::unsupported::NOT_SUPPORTED;
use crate::diagnostic::nearest;

/// One schema violation in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    /// Dotted path into the object, e.g. `spec.strategy.canary.steps[0].setWeight`.
    pub field: String,
    pub message: String,
}

/// Compiled validators for every Conductor kind, keyed by `apiVersion/kind`.
pub struct SchemaSet {
    validators: HashMap<String, (jsonschema::Validator, Value)>,
}

impl SchemaSet {
    pub fn new() -> Self {
        let mut validators = HashMap::new();
        // The declared schemas, not the published ones: those keep unknown
        // fields for the controller to report, and so would let them pass.
        for crd in super::declared() {
            for version in &crd.spec.versions {
                let Some(schema) = version
                    .schema
                    .as_ref()
                    .and_then(|s| s.open_api_v3_schema.as_ref())
                else {
                    continue;
                };
                let Ok(openapi) = serde_json::to_value(schema) else {
                    continue;
                };
                let strict = to_strict_json_schema(with_object_envelope(openapi));
                // The schemas are our own generated ones; a failure to compile
                // is a bug caught by the crate's tests, so skipping is safe.
                if let Ok(validator) = jsonschema::validator_for(&strict) {
                    let key = format!(
                        "{}/{}/{}",
                        crd.spec.group, version.name, crd.spec.names.kind
                    );
                    validators.insert(key, (validator, strict));
                }
            }
        }
        Self { validators }
    }

    /// Whether `apiVersion`/`kind` is one of Conductor's kinds.
    pub fn knows(&self, api_version: &str, kind: &str) -> bool {
        self.validators
            .contains_key(&format!("{api_version}/{kind}"))
    }

    /// All violations in `object`, or `None` when it is not a Conductor kind.
    pub fn check(&self, object: &Value) -> Option<Vec<SchemaProblem>> {
        let api_version = object.get("apiVersion")?.as_str()?;
        let kind = object.get("kind")?.as_str()?;
        let (validator, schema) = self.validators.get(&format!("{api_version}/{kind}"))?;
        let problems = validator
            .iter_errors(object)
            .flat_map(|error| {
                let pointer = error.instance_path().as_str().to_owned();
                let field = dotted(&pointer);
                match error.kind() {
                    // One problem per field, worded as the controller words
                    // it for the same manifest (`crd::unsupported`).
                    ValidationErrorKind::AdditionalProperties { unexpected } => {
                        let allowed = allowed_properties(schema, &pointer);
                        unexpected
                            .iter()
                            .map(|name| {
                                let hint = nearest(name, allowed.iter().map(String::as_str))
                                    .map(|n| format!("; did you mean `{n}`?"))
                                    .unwrap_or_default();
                                SchemaProblem {
                                    field: if field.is_empty() {
                                        name.clone()
                                    } else {
                                        format!("{field}.{name}")
                                    },
                                    message: format!("{NOT_SUPPORTED}{hint}"),
                                }
                            })
                            .collect()
                    }
                    _ => vec![SchemaProblem {
                        field,
                        message: error.to_string(),
                    }],
                }
            })
            .collect();
        Some(problems)
    }
}

impl Default for SchemaSet {
    fn default() -> Self {
        Self::new()
    }
}

/// CRD schemas leave out the fields every object has; strict checking
/// must know them.
fn with_object_envelope(mut schema: Value) -> Value {
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        properties.insert("apiVersion".into(), serde_json::json!({"type": "string"}));
        properties.insert("kind".into(), serde_json::json!({"type": "string"}));
        properties.insert(
            "metadata".into(),
            serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
    }
    schema
}

/// OpenAPI v3 (Kubernetes flavour) to JSON Schema: `nullable` becomes a
/// `null` type, and objects with declared properties reject unknown fields
/// unless they preserve them.
fn to_strict_json_schema(mut schema: Value) -> Value {
    if let Value::Object(map) = &mut schema {
        strictify(map);
    }
    schema
}

fn strictify(map: &mut Map<String, Value>) {
    if map.get("nullable") == Some(&Value::Bool(true))
        && let Some(Value::String(t)) = map.get("type").cloned()
    {
        map.insert(
            "type".into(),
            Value::Array(vec![Value::String(t), "null".into()]),
        );
    }
    let preserves = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if map.contains_key("properties") && !map.contains_key("additionalProperties") && !preserves {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    for key in ["properties"] {
        if let Some(Value::Object(props)) = map.get_mut(key) {
            for child in props.values_mut() {
                if let Value::Object(child) = child {
                    strictify(child);
                }
            }
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(Value::Object(child)) = map.get_mut(key) {
            strictify(child);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(children)) = map.get_mut(key) {
            for child in children {
                if let Value::Object(child) = child {
                    strictify(child);
                }
            }
        }
    }
}

/// Property names the schema allows at a JSON pointer into the instance.
fn allowed_properties(schema: &Value, pointer: &str) -> Vec<String> {
    let mut node = schema;
    for segment in pointer.split('/').skip(1) {
        let next = if segment.parse::<usize>().is_ok() && node.get("items").is_some() {
            node.get("items")
        } else {
            node.get("properties").and_then(|p| p.get(segment))
        };
        match next {
            Some(n) => node = n,
            None => return Vec::new(),
        }
    }
    node.get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// `/spec/steps/0/setWeight` to `spec.steps[0].setWeight`.
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.parse::<usize>().is_ok() {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_to_dotted() {
        assert_eq!(dotted("/spec/steps/0/setWeight"), "spec.steps[0].setWeight");
        assert_eq!(dotted(""), "");
    }
}
