//! REST dispatch: maps a method and parsed path onto store operations.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response};
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use crate::access::Attributes;
use crate::error::ApiError;
use crate::meta::meta_str;
use crate::paging::{Page, Snapshot};
use crate::path::{RequestPath, ResourceKey};
use crate::request::{Incoming, Served, parse_json};
use crate::response::{self, ResponseBody};
use crate::selector::Filter;
use crate::shared::{Shared, lock};
use crate::store::WatchStart;
use crate::watch::{self, WatchScope};
use crate::writes::{ApplyRequest, DeleteOptions, UpdateOptions, WritePart};
use crate::{authz, catalog, discovery, patch, review, scale};

/// A response carrying a written object.
pub(crate) fn written(code: u16, object: Arc<Value>) -> Served {
    (response::json(code, &object), Some(object))
}

pub(crate) fn handle(shared: &Shared, req: &Incoming<'_>) -> Served {
    route(shared, req).unwrap_or_else(|e| (response::error(&e), None))
}

fn route(shared: &Shared, req: &Incoming<'_>) -> Result<Served, ApiError> {
    let Some(path) = RequestPath::parse(req.path) else {
        let verb = req.method.as_str().to_ascii_lowercase();
        authz::authorize_path(shared, req.user, &verb, req.path)?;
        return Ok((discovery::handle(shared, req.method, req.path)?, None));
    };
    // As on a cluster: authorized by what the path names, served or not.
    if let Some(attrs) = Attributes::of(req.method, &path, &req.query) {
        authz::authorize(shared, req.user, &attrs)?;
    }
    if !catalog::serves(&shared.lock(), &path.key) {
        return Ok((response::page_not_found(), None));
    }
    if path.key == review_key() && path.name.is_none() && *req.method == Method::POST {
        let answer = review::review(shared, req.user, parse_json(&req.body)?)?;
        return Ok((response::json(201, &answer), None));
    }
    match (path.name.as_deref(), path.subresource.as_deref()) {
        (None, _) => collection(shared, &path, req),
        (Some(name), None) => object(shared, &path, name, WritePart::Main, req),
        (Some(name), Some("status")) => object(shared, &path, name, WritePart::Status, req),
        (Some(name), Some("scale")) => scale::handle(shared, &path, name, req),
        (Some(_), Some(sub)) => Err(ApiError::not_found_path(format!(
            "subresource {sub:?} is not supported by the fake API server"
        ))),
    }
}

fn review_key() -> ResourceKey {
    ResourceKey::new("authorization.k8s.io/v1", "selfsubjectaccessreviews")
}

fn collection(shared: &Shared, path: &RequestPath, req: &Incoming<'_>) -> Result<Served, ApiError> {
    let filter = Filter::parse(
        req.query.get("labelSelector"),
        req.query.get("fieldSelector"),
    )?;
    let key = &path.key;
    match *req.method {
        Method::GET if req.query.flag("watch") => Ok((watch(shared, path, filter, req)?, None)),
        Method::GET => Ok((list(shared, path, filter, req)?, None)),
        Method::POST => {
            let body = parse_json(&req.body)?;
            let ns = path.namespace.as_deref().unwrap_or_default();
            let created = shared
                .lock()
                .create_as(key, ns, body, false, req.updater(""))?;
            Ok(written(201, created))
        }
        Method::DELETE => {
            let opts = delete_options(&req.body)?;
            let mut store = shared.lock();
            let targets = store.list(key, path.namespace.as_deref(), &filter);
            let mut deleted = Vec::with_capacity(targets.len());
            for object in targets {
                let ns = meta_str(&object, "namespace").unwrap_or_default();
                let name = meta_str(&object, "name").unwrap_or_default();
                // An earlier deletion may have cascaded to this one already.
                if let Ok(d) = store.delete(key, ns, name, &opts) {
                    deleted.push(d);
                }
            }
            let page = Page {
                rv: store.rv,
                items: deleted,
                continue_token: None,
                remaining: 0,
            };
            let kind = store.kind_of(key);
            drop(store);
            Ok((list_response(key, kind, &page, false), None))
        }
        _ => Err(method_not_allowed(req.method)),
    }
}

fn object(
    shared: &Shared,
    path: &RequestPath,
    name: &str,
    part: WritePart,
    req: &Incoming<'_>,
) -> Result<Served, ApiError> {
    let key = &path.key;
    let ns = path.namespace.as_deref().unwrap_or_default();
    match *req.method {
        Method::GET => {
            let object = shared.lock().get(key, ns, name)?;
            Ok((response::json(200, &object), None))
        }
        Method::PUT => {
            let body = parse_json(&req.body)?;
            let rv = meta_str(&body, "resourceVersion").map(str::to_string);
            let how = UpdateOptions {
                part,
                precondition: rv.as_deref(),
                managed: req.updater(part.subresource()),
            };
            let updated = shared.lock().update_as(key, ns, name, body, how)?;
            Ok(written(200, updated))
        }
        Method::PATCH if req.content_type == "application/apply-patch+yaml" => {
            let manager = req
                .query
                .get("fieldManager")
                .filter(|m| !m.is_empty())
                .ok_or_else(|| {
                    ApiError::bad_request("fieldManager is required for apply requests")
                })?;
            let body = parse_json(&req.body).map_err(|e| {
                ApiError::bad_request(format!(
                    "apply body must be JSON (YAML is not supported by the fake): {}",
                    e.message
                ))
            })?;
            let apply = ApplyRequest {
                manager,
                force: req.query.flag("force"),
                part,
            };
            let mut store = shared.lock();
            if part == WritePart::Main
                && store.entry(key, ns, name).is_none()
                && let Some(attrs) = Attributes::of(req.method, path, &req.query)
            {
                authz::authorize_create(shared, &store, req.user, &attrs)?;
            }
            let (object, created) = store.apply(key, ns, name, body, &apply)?;
            Ok(written(if created { 201 } else { 200 }, object))
        }
        Method::PATCH => {
            let patch = patch::Patch::parse(req.content_type, &req.body)?;
            let managed = req.updater(part.subresource());
            let patched = shared
                .lock()
                .patch(key, ns, name, part, managed, |doc| patch.apply_to(doc))?;
            Ok(written(200, patched))
        }
        Method::DELETE if part == WritePart::Main => {
            let opts = delete_options(&req.body)?;
            let deleted = shared.lock().delete(key, ns, name, &opts)?;
            Ok(written(200, deleted))
        }
        _ => Err(method_not_allowed(req.method)),
    }
}

fn watch(
    shared: &Shared,
    path: &RequestPath,
    filter: Filter,
    req: &Incoming<'_>,
) -> Result<Response<ResponseBody>, ApiError> {
    let from = match req.query.get("resourceVersion") {
        None | Some("" | "0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let timeout = match req.query.get("timeoutSeconds") {
        None | Some("") => None,
        Some(t) => Some(Duration::from_secs(t.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid timeoutSeconds {t:?}"))
        })?)),
    };
    let dropped = shared.drop_watches.subscribe();
    let start = shared.lock().watch(&path.key, from);
    let body = match start {
        WatchStart::Expired(from) => watch::expired(from),
        WatchStart::Stream(backlog, rx) => {
            let scope = WatchScope {
                namespace: path.namespace.clone(),
                filter,
                timeout,
            };
            watch::stream(backlog, rx, dropped, scope)
        }
    };
    Ok(response::build(200, body))
}

/// A list, whole or one page of it when the client gives a `limit`.
fn list(
    shared: &Shared,
    path: &RequestPath,
    filter: Filter,
    req: &Incoming<'_>,
) -> Result<Response<ResponseBody>, ApiError> {
    let key = &path.key;
    let limit = match req.query.get("limit") {
        None | Some("" | "0") => None,
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        ),
    };
    let resumed = match req.query.get("continue") {
        None | Some("") => None,
        Some(token) => Some(lock(&shared.snapshots).resume(token)?),
    };
    let store = shared.lock();
    let kind = store.kind_of(key);
    let (id, snapshot, offset) = match resumed {
        Some((id, snapshot, offset)) => (Some(id), snapshot, offset),
        None => {
            let items = store.list(key, path.namespace.as_deref(), &filter);
            let snapshot = Snapshot {
                rv: store.rv,
                items: items.into(),
            };
            (None, snapshot, 0)
        }
    };
    drop(store);
    let page = lock(&shared.snapshots).page(snapshot, id, offset, limit.unwrap_or(usize::MAX));
    // Like the real server, the remaining count is only known without a selector.
    Ok(list_response(key, kind, &page, filter.is_empty()))
}

/// Serialises a list without copying the stored objects into a new tree.
fn list_response(
    key: &ResourceKey,
    kind: Option<String>,
    page: &Page,
    count_remaining: bool,
) -> Response<ResponseBody> {
    let kind = kind.map_or_else(|| "List".to_string(), |k| format!("{k}List"));
    let mut metadata = serde_json::json!({"resourceVersion": page.rv.to_string()});
    if let Some(token) = &page.continue_token {
        metadata["continue"] = Value::from(token.as_str());
        if count_remaining {
            metadata["remainingItemCount"] = Value::from(page.remaining);
        }
    }
    let head = serde_json::json!({
        "apiVersion": key.api_version,
        "kind": kind,
        "metadata": metadata,
    });
    let mut out = serde_json::to_vec(&head).unwrap_or_default();
    out.pop();
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Serialising a `Value` into memory cannot fail.
        let _ = serde_json::to_writer(&mut out, &**item);
    }
    out.extend_from_slice(b"]}");
    response::build(200, Full::new(Bytes::from(out)).boxed_unsync())
}

fn delete_options(body: &[u8]) -> Result<DeleteOptions, ApiError> {
    if body.is_empty() {
        return Ok(DeleteOptions::default());
    }
    let v = parse_json(body)?;
    let pre = |field: &str| {
        v.pointer(&format!("/preconditions/{field}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(DeleteOptions {
        uid: pre("uid"),
        resource_version: pre("resourceVersion"),
        orphan: v.get("propagationPolicy").and_then(Value::as_str) == Some("Orphan")
            || v.get("orphanDependents").and_then(Value::as_bool) == Some(true),
    })
}

fn method_not_allowed(method: &Method) -> ApiError {
    ApiError::new(
        405,
        "MethodNotAllowed",
        format!("the server does not allow the method {method} on this resource"),
    )
}
