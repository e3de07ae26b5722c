//! The `/scale` subresource: an `autoscaling/v1 Scale` view of
//! `.spec.replicas`.

use http::Method;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::meta::meta;
use crate::patch::Patch;
use crate::path::RequestPath;
use crate::request::{Incoming, Served, parse_json};
use crate::response;
use crate::shared::Shared;
use crate::writes::WritePart;

pub(crate) fn handle(
    shared: &Shared,
    path: &RequestPath,
    name: &str,
    req: &Incoming<'_>,
) -> Result<Served, ApiError> {
    let key = &path.key;
    let ns = path.namespace.as_deref().unwrap_or_default();
    let managed = req.updater("scale");
    let (object, written) = match *req.method {
        Method::GET => (shared.lock().get(key, ns, name)?, false),
        Method::PUT => {
            let body = parse_json(&req.body)?;
            let object = shared
                .lock()
                .patch(key, ns, name, WritePart::Main, managed, |doc| {
                    write_scale(doc, &body)
                })?;
            (object, true)
        }
        Method::PATCH => {
            let patch = Patch::parse(req.content_type, &req.body)?;
            let object = shared
                .lock()
                .patch(key, ns, name, WritePart::Main, managed, |doc| {
                    let mut scale = scale_of(doc)?;
                    patch.apply_to(&mut scale)?;
                    write_scale(doc, &scale)
                })?;
            (object, true)
        }
        _ => {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                format!(
                    "the server does not allow the method {} on scale",
                    req.method
                ),
            ));
        }
    };
    let response = response::json(200, &scale_of(&object)?);
    Ok((response, written.then_some(object)))
}

fn scale_of(object: &Value) -> Result<Value, ApiError> {
    let replicas = object.pointer("/spec/replicas").ok_or_else(|| {
        ApiError::not_found_path("the object has no spec.replicas to scale".into())
    })?;
    let m = meta(object).cloned().unwrap_or_default();
    let pick = |f: &str| m.get(f).cloned().unwrap_or(Value::Null);
    let selector = object
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    Ok(json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": pick("name"),
            "namespace": pick("namespace"),
            "uid": pick("uid"),
            "resourceVersion": pick("resourceVersion"),
            "creationTimestamp": pick("creationTimestamp"),
        },
        "spec": {"replicas": replicas},
        "status": {
            "replicas": object.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    }))
}

/// Copies `spec.replicas` (and a resourceVersion precondition) from a Scale.
fn write_scale(doc: &mut Value, scale: &Value) -> Result<(), ApiError> {
    let replicas = scale
        .pointer("/spec/replicas")
        .filter(|r| r.is_i64() || r.is_u64())
        .ok_or_else(|| ApiError::invalid("scale spec.replicas must be an integer"))?;
    if let Some(spec) = doc.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("replicas".into(), replicas.clone());
    }
    if let Some(rv) = scale
        .pointer("/metadata/resourceVersion")
        .filter(|v| v.is_string())
    {
        crate::meta::set_meta(doc, "resourceVersion", rv.clone());
    }
    Ok(())
}
