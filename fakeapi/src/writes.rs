//! API-server write semantics on top of the store: create, update (whole
//! object or status subresource), patch, server-side apply and delete with
//! finalizers and owner-reference cascade.
//!
//! A write that changes nothing returns the stored object without bumping
//! the resourceVersion or emitting an event, as the real API server does;
//! this is also what keeps status writers from triggering themselves.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::apply::{self, FieldPath};
use crate::error::ApiError;
use crate::meta::{self, meta_str};
use crate::path::ResourceKey;
use crate::store::{EventKind, Store};

/// Which part of the object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Everything but `.status` (when the type has a status subresource).
    Main,
    /// Only `.status`.
    Status,
}

impl Target {
    fn subresource(self) -> &'static str {
        match self {
            Self::Main => "",
            Self::Status => "status",
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct DeleteOptions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    /// `propagationPolicy: Orphan` leaves dependents in place.
    pub orphan: bool,
}

/// Server-side apply parameters.
pub(crate) struct ApplyRequest<'a> {
    pub manager: &'a str,
    pub force: bool,
    pub target: Target,
}

/// Fields the API server owns: writers cannot change them after creation.
const SYSTEM_FIELDS: [&str; 7] = [
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "name",
    "namespace",
];

impl Store {
    /// Stores a new object. `keep_status` keeps a `.status` the body carries
    /// (direct inserts, simulated controllers); HTTP creates drop it for
    /// types with a status subresource, like the real server.
    pub fn create(
        &mut self,
        key: &ResourceKey,
        ns: &str,
        mut object: Value,
        keep_status: bool,
    ) -> Result<Arc<Value>, ApiError> {
        if !object.is_object() {
            return Err(ApiError::bad_request("object body must be a JSON object"));
        }
        if let Some(body_ns) = meta_str(&object, "namespace")
            && !body_ns.is_empty()
            && !ns.is_empty()
            && body_ns != ns
        {
            return Err(ApiError::bad_request(format!(
                "the namespace of the provided object ({body_ns}) does not match the namespace sent on the request ({ns})"
            )));
        }
        let name = match meta_str(&object, "name").filter(|n| !n.is_empty()) {
            Some(name) => name.to_string(),
            None => self.generate_name(key, ns, &object)?,
        };
        if self.entry(key, ns, &name).is_some() {
            return Err(ApiError::already_exists(&key.qualified(), &name));
        }
        let uid = self.rng.uid();
        let m = meta::meta_mut(&mut object)
            .ok_or_else(|| ApiError::bad_request("object body must be a JSON object"))?;
        m.insert("name".into(), Value::String(name));
        if ns.is_empty() {
            m.remove("namespace");
        } else {
            m.insert("namespace".into(), Value::String(ns.to_string()));
        }
        m.insert("uid".into(), Value::String(uid));
        m.insert(
            "creationTimestamp".into(),
            Value::String(meta::now_rfc3339()),
        );
        m.insert("generation".into(), Value::from(1));
        for field in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
        ] {
            m.remove(field);
        }
        if !keep_status
            && key.has_status_subresource()
            && let Some(map) = object.as_object_mut()
        {
            map.remove("status");
        }
        Ok(self.put(key, object, EventKind::Added))
    }

    fn generate_name(
        &mut self,
        key: &ResourceKey,
        ns: &str,
        object: &Value,
    ) -> Result<String, ApiError> {
        let prefix = meta_str(object, "generateName")
            .filter(|p| !p.is_empty())
            .ok_or_else(|| ApiError::invalid("name or generateName is required"))?
            .to_string();
        for _ in 0..16 {
            let name = format!("{prefix}{}", self.rng.suffix());
            if self.entry(key, ns, &name).is_none() {
                return Ok(name);
            }
        }
        Err(ApiError::already_exists(&key.qualified(), &prefix))
    }

    /// Replaces the part of the object `target` covers with `new`.
    /// `precondition` is a resourceVersion the stored object must still have.
    pub fn update(
        &mut self,
        key: &ResourceKey,
        ns: &str,
        name: &str,
        new: Value,
        target: Target,
        precondition: Option<&str>,
    ) -> Result<Arc<Value>, ApiError> {
        let current = self.get(key, ns, name)?;
        let current_rv = meta_str(&current, "resourceVersion").unwrap_or_default();
        if let Some(rv) = precondition
            && rv != current_rv
        {
            return Err(ApiError::conflict(&key.qualified(), name));
        }
        let Value::Object(new_map) = new else {
            return Err(ApiError::bad_request("object body must be a JSON object"));
        };
        if let Some(body_name) = new_map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let has_status = key.has_status_subresource();
        let mut next = match target {
            Target::Status => {
                let mut next = (*current).clone();
                set_or_remove(&mut next, "status", new_map.get("status"));
                next
            }
            Target::Main => {
                let mut next = Value::Object(new_map);
                keep_system_fields(&mut next, &current);
                if has_status {
                    set_or_remove(&mut next, "status", current.get("status"));
                }
                next
            }
        };
        meta::set_meta(
            &mut next,
            "resourceVersion",
            Value::String(current_rv.to_string()),
        );
        if spec_changed(&current, &next, has_status) {
            let generation = meta::meta(&current)
                .and_then(|m| m.get("generation"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta::set_meta(&mut next, "generation", Value::from(generation + 1));
        }
        if next == *current {
            return Ok(current);
        }
        if meta_str(&next, "deletionTimestamp").is_some() && !meta::has_finalizers(&next) {
            return self.remove_cascading(key, ns, name, Some(next), true);
        }
        Ok(self.put(key, next, EventKind::Modified))
    }

    /// Applies `patch_fn` to a copy of the stored object and writes the
    /// result; a resourceVersion the patch leaves different from the stored
    /// one is a stale precondition.
    pub fn patch(
        &mut self,
        key: &ResourceKey,
        ns: &str,
        name: &str,
        target: Target,
        patch_fn: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        let current = self.get(key, ns, name)?;
        let mut doc = (*current).clone();
        patch_fn(&mut doc)?;
        let rv = meta_str(&doc, "resourceVersion").map(str::to_string);
        self.update(key, ns, name, doc, target, rv.as_deref())
    }

    /// Server-side apply; returns the object and whether it was created.
    pub fn apply(
        &mut self,
        key: &ResourceKey,
        ns: &str,
        name: &str,
        body: Value,
        req: &ApplyRequest<'_>,
    ) -> Result<(Arc<Value>, bool), ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request("apply body must be a JSON object"));
        }
        let me = (
            req.manager.to_string(),
            req.target.subresource().to_string(),
        );
        let paths = owned_paths(&body, req.target, key.has_status_subresource());
        let precondition = meta_str(&body, "resourceVersion").map(str::to_string);
        let Some(entry) = self.entry(key, ns, name) else {
            if req.target == Target::Status {
                return Err(ApiError::not_found(&key.qualified(), name));
            }
            let mut object = body;
            meta::set_meta(&mut object, "name", Value::String(name.to_string()));
            let created = self.create(key, ns, object, false)?;
            if let Some(entry) = self.entry_mut(key, ns, name) {
                entry.managers.insert(me, paths);
            }
            return Ok((created, true));
        };
        let current = entry.object.clone();
        let mut managers = entry.managers.clone();
        let conflicts = apply::conflicts(&managers, &me, &paths, &current, &body);
        if !conflicts.is_empty() && !req.force {
            let list: Vec<String> = conflicts
                .iter()
                .map(|(m, p)| format!("conflict with \"{m}\": {}", apply::render_path(p)))
                .collect();
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Apply failed with {} conflict{}: {}",
                    list.len(),
                    if list.len() == 1 { "" } else { "s" },
                    list.join(", ")
                ),
            ));
        }
        apply::take_ownership(&mut managers, &me, &paths);
        let mut next = (*current).clone();
        apply::drop_released(&mut next, &managers, &me, &paths);
        apply::deep_merge(&mut next, &body);
        managers.insert(me, paths);
        let object = self.update(key, ns, name, next, req.target, precondition.as_deref())?;
        if let Some(entry) = self.entry_mut(key, ns, name) {
            entry.managers = managers;
        }
        Ok((object, false))
    }

    /// Deletes an object: marks it with a deletionTimestamp while finalizers
    /// remain, removes it (and cascades to dependents) otherwise.
    pub fn delete(
        &mut self,
        key: &ResourceKey,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Arc<Value>, ApiError> {
        let current = self.get(key, ns, name)?;
        for (field, want) in [
            ("uid", &opts.uid),
            ("resourceVersion", &opts.resource_version),
        ] {
            let have = meta_str(&current, field).unwrap_or_default();
            if let Some(want) = want
                && want != have
            {
                let label = if field == "uid" {
                    "UID"
                } else {
                    "ResourceVersion"
                };
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!(
                        "Precondition failed: {label} in precondition: {want}, {label} in object meta: {have}"
                    ),
                ));
            }
        }
        if meta::has_finalizers(&current) {
            if meta_str(&current, "deletionTimestamp").is_some() {
                return Ok(current);
            }
            let mut next = (*current).clone();
            meta::set_meta(
                &mut next,
                "deletionTimestamp",
                Value::String(meta::now_rfc3339()),
            );
            meta::set_meta(&mut next, "deletionGracePeriodSeconds", Value::from(0));
            return Ok(self.put(key, next, EventKind::Modified));
        }
        self.remove_cascading(key, ns, name, None, !opts.orphan)
    }

    /// Removes an object and, when `cascade`, deletes everything it owns
    /// (background propagation: dependents with finalizers only get marked).
    fn remove_cascading(
        &mut self,
        key: &ResourceKey,
        ns: &str,
        name: &str,
        last: Option<Value>,
        cascade: bool,
    ) -> Result<Arc<Value>, ApiError> {
        let removed = self
            .remove(key, ns, name, last)
            .ok_or_else(|| ApiError::not_found(&key.qualified(), name))?;
        if cascade && let Some(uid) = meta_str(&removed, "uid") {
            for (dkey, dns, dname) in self.dependents(uid) {
                // A dependent may already be gone through an earlier cascade.
                let _ = self.delete(&dkey, &dns, &dname, &DeleteOptions::default());
            }
        }
        Ok(removed)
    }
}

/// The paths an apply to `target` claims: status paths belong to status
/// applies when the type has a status subresource, everything else to main.
fn owned_paths(body: &Value, target: Target, has_status: bool) -> BTreeSet<FieldPath> {
    let mut paths = apply::leaf_paths(body);
    let is_status = |p: &FieldPath| p.first().is_some_and(|s| s == "status");
    match target {
        Target::Status => paths.retain(is_status),
        Target::Main if has_status => paths.retain(|p| !is_status(p)),
        Target::Main => {}
    }
    paths
}

fn set_or_remove(object: &mut Value, field: &str, value: Option<&Value>) {
    if let Some(map) = object.as_object_mut() {
        match value {
            Some(v) => {
                map.insert(field.to_string(), v.clone());
            }
            None => {
                map.remove(field);
            }
        }
    }
}

fn keep_system_fields(next: &mut Value, current: &Value) {
    let current_meta = meta::meta(current).cloned().unwrap_or_default();
    let Some(m) = meta::meta_mut(next) else {
        return;
    };
    for field in SYSTEM_FIELDS {
        match current_meta.get(field) {
            Some(v) => m.insert(field.to_string(), v.clone()),
            None => m.remove(field),
        };
    }
    m.remove("managedFields");
}

/// Whether anything generation-worthy changed: all top-level fields except
/// `metadata`, and except `status` when it is a subresource.
fn spec_changed(current: &Value, next: &Value, has_status: bool) -> bool {
    let empty = Map::new();
    let a = current.as_object().unwrap_or(&empty);
    let b = next.as_object().unwrap_or(&empty);
    let counts = |k: &String| k != "metadata" && !(has_status && k == "status");
    a.keys()
        .chain(b.keys())
        .filter(|k| counts(k))
        .any(|k| a.get(k) != b.get(k))
}
