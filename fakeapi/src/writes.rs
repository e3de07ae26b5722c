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

use crate::apply;
use crate::defaults;
use crate::error::ApiError;
use crate::meta::{self, meta_str};
use crate::ownership::{self, FieldPath, ManagerKey, Managers, Operation, Owned};
use crate::path::ResourceKey;
use crate::prune;
use crate::store::{EventKind, Store};
use crate::validation;

/// Which part of the object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WritePart {
    /// Everything but `.status` (when the type has a status subresource).
    Main,
    /// Only `.status`.
    Status,
}

impl WritePart {
    pub fn subresource(self) -> &'static str {
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

/// What a write does to field ownership (`metadata.managedFields`).
#[derive(Debug)]
pub(crate) enum Managed {
    /// Writes made without a request (inserts, simulated controllers):
    /// ownership stays as it is.
    Keep,
    /// A non-apply request: this manager takes every field it changes.
    Update(ManagerKey),
    /// A server-side apply: the ownership it computed, `me` being the applier.
    Apply { managers: Managers, me: ManagerKey },
}

/// Server-side apply parameters.
pub(crate) struct ApplyRequest<'a> {
    pub manager: &'a str,
    pub force: bool,
    pub part: WritePart,
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
        object: Value,
        keep_status: bool,
    ) -> Result<Arc<Value>, ApiError> {
        self.create_as(key, ns, object, keep_status, Managed::Keep)
    }

    /// [`Store::create`] recording the creator's field ownership.
    pub fn create_as(
        &mut self,
        key: &ResourceKey,
        ns: &str,
        mut object: Value,
        keep_status: bool,
        managed: Managed,
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
        let schema = prune::crd_schema(self, key);
        prune::custom_resource(
            schema.as_ref().and_then(prune::CrdSchema::root),
            &mut object,
            None,
        );
        defaults::apply(key, &mut object);
        validation::check(
            key,
            schema.as_ref().and_then(prune::CrdSchema::root),
            &object,
            None,
        )?;
        if !keep_status
            && key.has_status_subresource()
            && let Some(map) = object.as_object_mut()
        {
            map.remove("status");
        }
        let empty = Managers::new();
        let managers = match managed {
            Managed::Keep => None,
            Managed::Update(me) => {
                let mut managers = Managers::new();
                let before = Value::Object(Map::new());
                ownership::record_update(&mut managers, me, &before, &object, &key.api_version);
                Some(managers)
            }
            Managed::Apply { mut managers, me } => {
                stamp(&mut managers, &empty, &me, true);
                Some(managers)
            }
        };
        Ok(self.put_managed(key, object, EventKind::Added, managers))
    }

    /// Stores `object` with `managers` (when given) as its field ownership.
    fn put_managed(
        &mut self,
        key: &ResourceKey,
        mut object: Value,
        kind: EventKind,
        managers: Option<Managers>,
    ) -> Arc<Value> {
        let Some(managers) = managers else {
            return self.put(key, object, kind);
        };
        if let Some(m) = meta::meta_mut(&mut object) {
            if managers.is_empty() {
                m.remove("managedFields");
            } else {
                m.insert("managedFields".into(), ownership::managed_fields(&managers));
            }
        }
        let ns = meta_str(&object, "namespace")
            .unwrap_or_default()
            .to_string();
        let name = meta_str(&object, "name").unwrap_or_default().to_string();
        let stored = self.put(key, object, kind);
        if let Some(entry) = self.entry_mut(key, &ns, &name) {
            entry.managers = managers;
        }
        stored
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

    /// Replaces the part of the object `part` names with `new`.
    /// `precondition` is a resourceVersion the stored object must still have.
    pub fn update(
        &mut self,
        key: &ResourceKey,
        ns: &str,
        name: &str,
        new: Value,
        part: WritePart,
        precondition: Option<&str>,
    ) -> Result<Arc<Value>, ApiError> {
        let how = UpdateOptions {
            part,
            precondition,
            managed: Managed::Keep,
        };
        self.update_as(key, ns, name, new, how)
    }

    /// [`Store::update`] recording field ownership as `how.managed` says.
    pub fn update_as(
        &mut self,
        key: &ResourceKey,
        ns: &str,
        name: &str,
        new: Value,
        how: UpdateOptions<'_>,
    ) -> Result<Arc<Value>, ApiError> {
        let UpdateOptions {
            part,
            precondition,
            managed,
        } = how;
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
        let mut next = match part {
            WritePart::Status => {
                let mut next = (*current).clone();
                set_or_remove(&mut next, "status", new_map.get("status"));
                next
            }
            WritePart::Main => {
                let mut next = Value::Object(new_map);
                keep_system_fields(&mut next, &current);
                defaults::apply(key, &mut next);
                if has_status {
                    set_or_remove(&mut next, "status", current.get("status"));
                }
                next
            }
        };
        let pruned = match part {
            WritePart::Status => Some("status"),
            WritePart::Main => None,
        };
        let schema = prune::crd_schema(self, key);
        prune::custom_resource(
            schema.as_ref().and_then(prune::CrdSchema::root),
            &mut next,
            pruned,
        );
        validation::check(
            key,
            schema.as_ref().and_then(prune::CrdSchema::root),
            &next,
            pruned,
        )?;
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
        let changed = next != *current;
        let old = self
            .entry(key, ns, name)
            .map(|e| e.managers.clone())
            .unwrap_or_default();
        let managers = match managed {
            Managed::Keep => None,
            Managed::Update(_) if !changed => None,
            Managed::Update(me) => {
                let mut managers = old;
                ownership::record_update(&mut managers, me, &current, &next, &key.api_version);
                Some(managers)
            }
            Managed::Apply { mut managers, me } => {
                stamp(&mut managers, &old, &me, changed);
                (managers != old).then_some(managers)
            }
        };
        if !changed && managers.is_none() {
            return Ok(current);
        }
        if meta_str(&next, "deletionTimestamp").is_some() && !meta::has_finalizers(&next) {
            return self.remove_cascading(key, ns, name, Some(next), true);
        }
        Ok(self.put_managed(key, next, EventKind::Modified, managers))
    }

    /// Applies `patch_fn` to a copy of the stored object and writes the
    /// result; a resourceVersion the patch leaves different from the stored
    /// one is a stale precondition.
    pub fn patch(
        &mut self,
        key: &ResourceKey,
        ns: &str,
        name: &str,
        part: WritePart,
        managed: Managed,
        patch_fn: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        let current = self.get(key, ns, name)?;
        let mut doc = (*current).clone();
        patch_fn(&mut doc)?;
        let rv = meta_str(&doc, "resourceVersion").map(str::to_string);
        let how = UpdateOptions {
            part,
            precondition: rv.as_deref(),
            managed,
        };
        self.update_as(key, ns, name, doc, how)
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
        let me = ManagerKey::new(req.manager, Operation::Apply, req.part.subresource());
        let paths = owned_paths(&body, req.part, key.has_status_subresource());
        let precondition = meta_str(&body, "resourceVersion").map(str::to_string);
        let mine = Owned {
            paths: paths.clone(),
            api_version: key.api_version.clone(),
            time: String::new(),
        };
        let Some(entry) = self.entry(key, ns, name) else {
            if req.part == WritePart::Status {
                return Err(ApiError::not_found(&key.qualified(), name));
            }
            let mut object = body;
            meta::set_meta(&mut object, "name", Value::String(name.to_string()));
            let managers = Managers::from([(me.clone(), mine)]);
            let created =
                self.create_as(key, ns, object, false, Managed::Apply { managers, me })?;
            return Ok((created, true));
        };
        let current = entry.object.clone();
        let mut managers = entry.managers.clone();
        let conflicts = apply::conflicts(&managers, &me, &paths, &current, &body);
        if !conflicts.is_empty() && !req.force {
            return Err(apply::conflict_error(&conflicts));
        }
        apply::take_ownership(&mut managers, &me, &paths);
        let mut next = (*current).clone();
        apply::drop_released(&mut next, &managers, &me, &paths);
        apply::deep_merge(&mut next, &body);
        managers.insert(me.clone(), mine);
        let how = UpdateOptions {
            part: req.part,
            precondition: precondition.as_deref(),
            managed: Managed::Apply { managers, me },
        };
        let object = self.update_as(key, ns, name, next, how)?;
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

/// How an update is made.
pub(crate) struct UpdateOptions<'a> {
    pub part: WritePart,
    /// A resourceVersion the stored object must still have.
    pub precondition: Option<&'a str>,
    pub managed: Managed,
}

/// Gives each entry its time: entries whose fields did not change keep
/// theirs, so an apply that changes nothing writes nothing, as on a real
/// server; the others, and the writer when the object changed, get now.
fn stamp(managers: &mut Managers, old: &Managers, me: &ManagerKey, changed: bool) {
    let now = meta::now_rfc3339();
    for (key, owned) in managers.iter_mut() {
        match old.get(key) {
            Some(prev) if prev.paths == owned.paths && !(changed && key == me) => {
                owned.time.clone_from(&prev.time);
            }
            _ => owned.time.clone_from(&now),
        }
    }
}

/// The paths an apply to `part` claims: status paths belong to status
/// applies when the type has a status subresource, everything else to main.
fn owned_paths(body: &Value, part: WritePart, has_status: bool) -> BTreeSet<FieldPath> {
    let mut paths = ownership::leaf_paths(body);
    let is_status = |p: &FieldPath| p.first().is_some_and(|s| s == "status");
    match part {
        WritePart::Status => paths.retain(is_status),
        WritePart::Main if has_status => paths.retain(|p| !is_status(p)),
        WritePart::Main => {}
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
    // A managedFields sent back (GET, modify, PUT) is not a request to
    // rewrite ownership here: the stored record stays authoritative.
    match current_meta.get("managedFields") {
        Some(v) => m.insert("managedFields".into(), v.clone()),
        None => m.remove("managedFields"),
    };
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
