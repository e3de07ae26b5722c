//! Server-side apply field ownership. Each apply field manager owns the leaf
//! paths it sent last time; maps merge key by key, while lists and scalars
//! are leaves and are replaced whole (no list-map keys: the fake does not
//! know the schema).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

pub(crate) type FieldPath = Vec<String>;

/// Owned paths per `(field manager, subresource)`.
pub(crate) type Managers = BTreeMap<(String, String), BTreeSet<FieldPath>>;

/// Identity fields describe which object is addressed, not its content, so no
/// manager owns them.
fn is_identity(path: &[String]) -> bool {
    match path {
        [top] => top == "apiVersion" || top == "kind",
        [m, field, ..] if m == "metadata" => matches!(
            field.as_str(),
            "name"
                | "namespace"
                | "resourceVersion"
                | "uid"
                | "creationTimestamp"
                | "generation"
                | "managedFields"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds"
                | "generateName"
        ),
        _ => false,
    }
}

/// Every leaf path in `applied`, except identity fields.
pub(crate) fn leaf_paths(applied: &Value) -> BTreeSet<FieldPath> {
    fn walk(v: &Value, prefix: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    prefix.push(k.clone());
                    walk(child, prefix, out);
                    prefix.pop();
                }
            }
            _ if !prefix.is_empty() && !is_identity(prefix) => {
                out.insert(prefix.clone());
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(applied, &mut Vec::new(), &mut out);
    out
}

pub(crate) fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, seg| v.get(seg.as_str()))
}

pub(crate) fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let parent = parents.iter().try_fold(v, |v, seg| v.get_mut(seg.as_str()));
    if let Some(Value::Object(map)) = parent {
        map.remove(last);
    }
}

/// Maps merge recursively; anything else in `applied` replaces the target,
/// and an explicit `null` removes the field.
pub(crate) fn deep_merge(target: &mut Value, applied: &Value) {
    match (target, applied) {
        (Value::Object(t), Value::Object(a)) => merge_maps(t, a),
        (t, a) => *t = a.clone(),
    }
}

fn merge_maps(target: &mut Map<String, Value>, applied: &Map<String, Value>) {
    for (k, v) in applied {
        if v.is_null() {
            target.remove(k);
        } else if let Some(existing) = target.get_mut(k) {
            deep_merge(existing, v);
        } else {
            target.insert(k.clone(), v.clone());
        }
    }
}

/// Whether `a` and `b` address the same field or one contains the other.
fn overlaps(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Fields owned by other managers that `applied` would set to a different
/// value, as `(manager, path)`.
pub(crate) fn conflicts(
    managers: &Managers,
    me: &(String, String),
    paths: &BTreeSet<FieldPath>,
    current: &Value,
    applied: &Value,
) -> Vec<(String, FieldPath)> {
    let mut found = Vec::new();
    for (owner, owned) in managers {
        if owner == me {
            continue;
        }
        for q in owned {
            let touched = paths.iter().any(|p| overlaps(p, q));
            if touched && get_path(current, q) != get_path(applied, q) {
                found.push((owner.0.clone(), q.clone()));
            }
        }
    }
    found
}

/// Drops every other manager's claim on a field `paths` overlaps (`force`).
pub(crate) fn take_ownership(
    managers: &mut Managers,
    me: &(String, String),
    paths: &BTreeSet<FieldPath>,
) {
    for (owner, owned) in managers.iter_mut() {
        if owner != me {
            owned.retain(|q| !paths.iter().any(|p| overlaps(p, q)));
        }
    }
    managers.retain(|_, owned| !owned.is_empty());
}

/// Removes from `object` the fields `me` applied before but not now, unless
/// another manager still owns them.
pub(crate) fn drop_released(
    object: &mut Value,
    managers: &Managers,
    me: &(String, String),
    paths: &BTreeSet<FieldPath>,
) {
    let Some(previous) = managers.get(me) else {
        return;
    };
    for p in previous.difference(paths) {
        let shared = managers
            .iter()
            .any(|(owner, owned)| owner != me && owned.contains(p));
        if !shared {
            remove_path(object, p);
        }
    }
}

pub(crate) fn render_path(path: &[String]) -> String {
    format!(".{}", path.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(m: &str) -> (String, String) {
        (m.to_string(), String::new())
    }

    #[test]
    fn leaf_paths_skip_identity() {
        let v = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"a": [1], "b": {"c": 2}}});
        let paths: Vec<String> = leaf_paths(&v).iter().map(|p| render_path(p)).collect();
        assert_eq!(paths, vec![".metadata.labels.x", ".spec.a", ".spec.b.c"]);
    }

    #[test]
    fn conflicts_only_on_different_values() {
        let current = json!({"spec": {"replicas": 3, "image": "a"}});
        let mut managers = Managers::new();
        managers.insert(key("other"), leaf_paths(&json!({"spec": {"replicas": 3}})));
        let same = json!({"spec": {"replicas": 3}});
        let differ = json!({"spec": {"replicas": 4}});
        assert!(conflicts(&managers, &key("me"), &leaf_paths(&same), &current, &same).is_empty());
        let c = conflicts(
            &managers,
            &key("me"),
            &leaf_paths(&differ),
            &current,
            &differ,
        );
        assert_eq!(
            c,
            vec![(
                "other".to_string(),
                vec!["spec".to_string(), "replicas".to_string()]
            )]
        );
        take_ownership(&mut managers, &key("me"), &leaf_paths(&differ));
        assert!(managers.is_empty());
    }
}
