//! `SelfSubjectAccessReview`: a client asking whether it may do something,
//! answered by the same rules that authorize its requests.

use serde_json::{Value, json};

use crate::access::{AccessRule, Attributes, denied};
use crate::error::ApiError;

/// The review sent, with its `status` filled in.
pub(crate) fn review(
    rules: &[AccessRule],
    identity: &str,
    mut body: Value,
) -> Result<Value, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("review body must be a JSON object"));
    }
    let allowed = match body.pointer("/spec/resourceAttributes") {
        Some(attrs) => !denied(rules, identity, &attributes(attrs)),
        // Non-resource URLs (`/healthz`, discovery) are open to everyone.
        None => true,
    };
    body["apiVersion"] = Value::from("authorization.k8s.io/v1");
    body["kind"] = Value::from("SelfSubjectAccessReview");
    if body.get("metadata").is_none_or(|m| !m.is_object()) {
        body["metadata"] = json!({"creationTimestamp": null});
    }
    body["status"] = if allowed {
        json!({"allowed": true, "reason": "allowed by the fake API server"})
    } else {
        json!({"allowed": false, "reason": "denied by a FakeApi access rule"})
    };
    Ok(body)
}

fn attributes(attrs: &Value) -> Attributes {
    let field = |name: &str| {
        attrs
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Attributes {
        verb: field("verb").unwrap_or_default(),
        group: field("group").unwrap_or_default(),
        resource: field("resource").unwrap_or_default(),
        subresource: field("subresource"),
        namespace: field("namespace"),
        name: field("name"),
    }
}
