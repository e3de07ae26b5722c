//! Checks a real API server makes on every write, for what a controller
//! could get wrong: a ReplicaSet's or Deployment's selector, template and
//! a selector its labels satisfy (k8s.io/kubernetes
//! `pkg/apis/apps/validation`), and the `required` fields of a custom
//! resource's schema. Without them a partial server-side apply to an
//! object deleted meanwhile would create here a half-object a cluster
//! refuses (422).

use serde_json::Value;

use crate::error::{ApiError, StatusCause};
use crate::path::ResourceKey;

/// Refuses `object`, of type `key` (with `schema` if it is a custom
/// resource), as the real server would; other kinds pass unchecked.
/// `only` limits a custom resource's check to one top-level field: a
/// status write changes nothing else, and the rest was checked when it was
/// written.
pub(crate) fn check(
    key: &ResourceKey,
    schema: Option<&Value>,
    object: &Value,
    only: Option<&str>,
) -> Result<(), ApiError> {
    if only.is_none() {
        crate::decode::check(key, object)?;
    }
    let causes = match (key.api_version.as_str(), key.plural.as_str(), schema) {
        (_, _, Some(schema)) => {
            let mut causes = Vec::new();
            match only {
                Some(field) => {
                    if let (Some(value), Some(field_schema)) = (
                        object.get(field),
                        schema.pointer(&format!("/properties/{field}")),
                    ) {
                        required_causes(value, field_schema, field, &mut causes);
                    }
                }
                None => required_causes(object, schema, "", &mut causes),
            }
            causes
        }
        ("apps/v1", "replicasets" | "deployments", None) => workload_causes(object),
        _ => return Ok(()),
    };
    if causes.is_empty() {
        return Ok(());
    }
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let group = key.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let listed: Vec<String> = causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect();
    let what = if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    };
    let message = match listed.as_slice() {
        [one] => format!("{what} \"{name}\" is invalid: {one}"),
        many => format!("{what} \"{name}\" is invalid: [{}]", many.join(", ")),
    };
    Err(ApiError::invalid(message).with_causes(causes))
}

/// Every field a schema node lists as `required` and the value lacks,
/// under `path`, depth first.
fn required_causes(value: &Value, schema: &Value, path: &str, causes: &mut Vec<StatusCause>) {
    let at = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    match value {
        Value::Object(map) => {
            let required = schema.get("required").and_then(Value::as_array);
            for name in required.into_iter().flatten().filter_map(Value::as_str) {
                if map.get(name).is_none_or(Value::is_null) {
                    causes.push(self::required(&at(name)));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (name, field) in map {
                if let Some(field_schema) = properties.and_then(|p| p.get(name)) {
                    required_causes(field, field_schema, &at(name), causes);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    required_causes(item, item_schema, &format!("{path}[{i}]"), causes);
                }
            }
        }
        _ => {}
    }
}

fn workload_causes(object: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let selector = object
        .pointer("/spec/selector")
        .filter(|s| s.as_object().is_some_and(|s| !s.is_empty()));
    if selector.is_none() {
        causes.push(required("spec.selector"));
    }
    let Some(template) = object.pointer("/spec/template") else {
        causes.push(required("spec.template"));
        return causes;
    };
    let labels = template.pointer("/metadata/labels");
    let wanted = selector
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object);
    let satisfied = wanted.is_none_or(|wanted| {
        wanted
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    });
    if selector.is_some() && !satisfied {
        causes.push(StatusCause {
            reason: "FieldValueInvalid".into(),
            message: "Invalid value: `selector` does not match template `labels`".into(),
            field: "spec.template.metadata.labels".into(),
        });
    }
    causes
}

fn required(field: &str) -> StatusCause {
    StatusCause {
        reason: "FieldValueRequired".into(),
        message: "Required value".into(),
        field: field.into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn replica_sets() -> ResourceKey {
        ResourceKey::new("apps/v1", "replicasets")
    }

    #[test]
    fn a_replica_set_needs_a_selector_and_a_template_its_labels_satisfy() {
        let whole = json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}}
        }});
        assert_eq!(check(&replica_sets(), None, &whole, None), Ok(()));

        let partial =
            json!({"kind": "ReplicaSet", "metadata": {"name": "web"}, "spec": {"replicas": 0}});
        let error = check(&replica_sets(), None, &partial, None).unwrap_err();
        assert_eq!(error.code, 422);
        assert_eq!(
            error.message,
            "ReplicaSet.apps \"web\" is invalid: [spec.selector: Required value, spec.template: Required value]"
        );

        let mismatched = json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "api"}}}
        }});
        let error = check(&replica_sets(), None, &mismatched, None).unwrap_err();
        assert!(
            error.message.contains("spec.template.metadata.labels"),
            "{error:?}"
        );
    }

    #[test]
    fn other_kinds_pass() {
        let key = ResourceKey::new("v1", "configmaps");
        assert_eq!(check(&key, None, &json!({}), None), Ok(()));
    }

    #[test]
    fn a_custom_resource_needs_what_its_schema_requires() {
        let key = ResourceKey::new("conductor.dev/v1alpha1", "analysisruns");
        let schema = json!({"type": "object", "required": ["spec"], "properties": {
            "spec": {"type": "object", "required": ["metrics"], "properties": {
                "metrics": {"type": "array", "items": {
                    "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}
                }},
                "terminate": {"type": "boolean"}
            }}
        }});
        let stub = json!({"kind": "AnalysisRun", "metadata": {"name": "run"}, "spec": {"terminate": true}});
        let error = check(&key, Some(&schema), &stub, None).unwrap_err();
        assert_eq!(
            error.message,
            "AnalysisRun.conductor.dev \"run\" is invalid: spec.metrics: Required value"
        );
        let nameless =
            json!({"kind": "AnalysisRun", "metadata": {"name": "run"}, "spec": {"metrics": [{}]}});
        let error = check(&key, Some(&schema), &nameless, None).unwrap_err();
        assert!(
            error
                .message
                .contains("spec.metrics[0].name: Required value"),
            "{error:?}"
        );
        let whole = json!({"kind": "AnalysisRun", "metadata": {"name": "run"}, "spec": {"metrics": [{"name": "errors"}]}});
        assert_eq!(check(&key, Some(&schema), &whole, None), Ok(()));
    }
}
