//! What a real API server refuses before it validates anything: a value
//! its typed object cannot hold. It decodes a built-in kind's JSON into
//! the Go type first, and a resource quantity that does not parse
//! (`cpu: notaquantity`, Argo Rollouts' "malformed rollout" e2e manifest)
//! fails that decoding: 400 BadRequest, "cannot be handled as a ...",
//! with no field path, whatever the verb (create, update, apply).

use serde_json::Value;

use crate::error::ApiError;
use crate::path::ResourceKey;

/// The message the API machinery gives for a quantity that does not parse.
const QUANTITY_FORMAT: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// The built-in kinds that hold pod specs, whose containers' resources
/// are quantities.
fn holds_pods(key: &ResourceKey) -> bool {
    matches!(
        (key.api_version.as_str(), key.plural.as_str()),
        (
            "v1",
            "pods" | "podtemplates" | "replicationcontrollers" | "resourcequotas" | "limitranges"
        ) | (
            "apps/v1",
            "replicasets" | "deployments" | "statefulsets" | "daemonsets"
        ) | ("batch/v1", "jobs" | "cronjobs")
    )
}

/// The 400 a real server answers for `object` of type `key`, if any.
pub(crate) fn check(key: &ResourceKey, object: &Value) -> Result<(), ApiError> {
    if !holds_pods(key) || !has_bad_quantity(object, None) {
        return Ok(());
    }
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let version = key
        .api_version
        .rsplit_once('/')
        .map_or(key.api_version.as_str(), |(_, v)| v);
    Err(ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: {QUANTITY_FORMAT}"
    )))
}

/// Whether a quantity under `requests`, `limits` or `hard` (resources,
/// quotas) or a limit range's bounds does not parse.
fn has_bad_quantity(value: &Value, parent: Option<&str>) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(key, child)| {
            let quantities = matches!(
                key.as_str(),
                "requests" | "limits" | "hard" | "max" | "min" | "default" | "defaultRequest"
            ) && matches!(parent, Some("resources" | "spec" | "limits"))
                && child.is_object();
            if quantities {
                child
                    .as_object()
                    .into_iter()
                    .flatten()
                    .any(|(_, q)| !is_quantity(q))
            } else {
                has_bad_quantity(child, Some(key))
            }
        }),
        Value::Array(items) => items.iter().any(|item| has_bad_quantity(item, parent)),
        _ => false,
    }
}

/// A Kubernetes resource quantity: a JSON number, or a decimal number
/// with a binary (`Ki`...`Ei`) or decimal (`n`...`E`) suffix or an
/// exponent (`1e3`).
fn is_quantity(value: &Value) -> bool {
    match value {
        Value::Number(_) => true,
        Value::String(text) => parses(text),
        _ => false,
    }
}

fn parses(text: &str) -> bool {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let digits_end = unsigned
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(digits_end);
    let mut parts = number.split('.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    if parts.next().is_some() || (whole.is_empty() && fraction.is_none_or(str::is_empty)) {
        return false;
    }
    const SUFFIXES: [&str; 16] = [
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E",
    ];
    if SUFFIXES.contains(&suffix) {
        return true;
    }
    let Some(exponent) = suffix.strip_prefix(['e', 'E']) else {
        return false;
    };
    let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    !exponent.is_empty() && exponent.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn quantities_parse_as_the_api_machinery_parses_them() {
        for good in [
            "1", "0.5", ".5", "100m", "128Mi", "1Gi", "1e3", "2E-2", "+1k", "-1",
        ] {
            assert!(parses(good), "{good}");
        }
        for bad in [
            "notaquantity",
            "invalid",
            "",
            "1..2",
            "12Q",
            "Mi",
            "1e",
            "1.2.3",
            ".",
        ] {
            assert!(!parses(bad), "{bad}");
        }
    }

    #[test]
    fn a_replica_set_with_an_unparseable_quantity_is_a_bad_request() {
        let key = ResourceKey::new("apps/v1", "replicasets");
        let malformed = json!({"kind": "ReplicaSet", "spec": {"template": {"spec": {"containers": [
            {"name": "app", "resources": {"requests": {"cpu": "notaquantity", "memory": "64Mi"}}}
        ]}}}});
        let error = check(&key, &malformed).unwrap_err();
        assert_eq!(error.code, 400);
        assert_eq!(error.reason, "BadRequest");
        assert!(
            error
                .message
                .starts_with("ReplicaSet in version \"v1\" cannot be handled as a ReplicaSet: quantities must match"),
            "{error:?}"
        );
        let fine = json!({"kind": "ReplicaSet", "spec": {"template": {"spec": {"containers": [
            {"name": "app", "resources": {"limits": {"cpu": 1, "memory": "64Mi"}}}
        ]}}}});
        assert_eq!(check(&key, &fine), Ok(()));
        // Custom resources keep whatever their schema lets through.
        let rollouts = ResourceKey::new("conductor.dev/v1alpha1", "rollouts");
        assert_eq!(check(&rollouts, &malformed), Ok(()));
    }
}
