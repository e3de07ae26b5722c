//! `SelfSubjectAccessReview`: a client asking whether it may do something,
//! answered by the same rules that authorize its requests.

use serde_json::{Value, json};

use crate::access::Attributes;
use crate::authz;
use crate::error::ApiError;
use crate::shared::Shared;
use crate::user::User;

/// The review sent, with its `status` filled in.
pub(crate) fn review(shared: &Shared, user: &User, mut body: Value) -> Result<Value, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("review body must be a JSON object"));
    }
    let (allowed, reason) = match body.pointer("/spec/resourceAttributes") {
        Some(attrs) => authz::review(shared, user, &attributes(attrs)),
        None => {
            let field = |name: &str| {
                body.pointer(&format!("/spec/nonResourceAttributes/{name}"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            authz::review_path(shared, user, &field("verb"), &field("path"))
        }
    };
    body["apiVersion"] = Value::from("authorization.k8s.io/v1");
    body["kind"] = Value::from("SelfSubjectAccessReview");
    if body.get("metadata").is_none_or(|m| !m.is_object()) {
        body["metadata"] = json!({"creationTimestamp": null});
    }
    body["status"] = json!({"allowed": allowed});
    if !reason.is_empty() {
        body["status"]["reason"] = Value::from(reason);
    }
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
