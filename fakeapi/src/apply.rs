//! Server-side apply: merging an applied configuration into the stored
//! object, conflicts with other managers, and releasing fields a manager
//! stopped sending. Each apply manager owns the leaf paths it sent last
//! time; maps merge key by key, while lists and scalars are leaves and are
//! replaced whole (no list-map keys: the fake does not know the schema).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::error::{ApiError, StatusCause};
use crate::ownership::{FieldPath, ManagerKey, Managers, Operation, get_path, render_path};

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

/// A field another manager owns that an apply would set differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conflict {
    pub owner: ManagerKey,
    pub api_version: String,
    pub path: FieldPath,
}

impl Conflict {
    /// The manager as the real server names it in conflict messages.
    fn describe(&self) -> String {
        let mut out = format!("conflict with \"{}\"", self.owner.manager);
        if !self.owner.subresource.is_empty() {
            out.push_str(&format!(" with subresource \"{}\"", self.owner.subresource));
        }
        if self.owner.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }
}

/// Fields owned by other managers that `applied` would set to a different
/// value.
pub(crate) fn conflicts(
    managers: &Managers,
    me: &ManagerKey,
    paths: &BTreeSet<FieldPath>,
    current: &Value,
    applied: &Value,
) -> Vec<Conflict> {
    let mut found = Vec::new();
    for (owner, owned) in managers {
        if owner == me {
            continue;
        }
        for q in &owned.paths {
            let touched = paths.iter().any(|p| overlaps(p, q));
            if touched && get_path(current, q) != get_path(applied, q) {
                found.push(Conflict {
                    owner: owner.clone(),
                    api_version: owned.api_version.clone(),
                    path: q.clone(),
                });
            }
        }
    }
    found
}

/// The 409 a real server answers, one cause per conflicting field.
pub(crate) fn conflict_error(conflicts: &[Conflict]) -> ApiError {
    let causes: Vec<StatusCause> = conflicts
        .iter()
        .map(|c| StatusCause {
            reason: "FieldManagerConflict".into(),
            message: c.describe(),
            field: render_path(&c.path),
        })
        .collect();
    let lines: Vec<String> = causes
        .iter()
        .map(|c| format!("{}: {}", c.message, c.field))
        .collect();
    let message = format!(
        "Apply failed with {} conflict{}: {}",
        lines.len(),
        if lines.len() == 1 { "" } else { "s" },
        lines.join("\n")
    );
    ApiError::new(409, "Conflict", message).with_causes(causes)
}

/// Drops every other manager's claim on a field `paths` overlaps (`force`).
pub(crate) fn take_ownership(
    managers: &mut Managers,
    me: &ManagerKey,
    paths: &BTreeSet<FieldPath>,
) {
    for (owner, owned) in managers.iter_mut() {
        if owner != me {
            owned
                .paths
                .retain(|q| !paths.iter().any(|p| overlaps(p, q)));
        }
    }
    managers.retain(|_, owned| !owned.paths.is_empty());
}

/// Removes from `object` the fields `me` applied before but not now, unless
/// another manager still owns them.
pub(crate) fn drop_released(
    object: &mut Value,
    managers: &Managers,
    me: &ManagerKey,
    paths: &BTreeSet<FieldPath>,
) {
    let Some(previous) = managers.get(me) else {
        return;
    };
    for p in previous.paths.difference(paths) {
        let shared = managers
            .iter()
            .any(|(owner, owned)| owner != me && owned.paths.contains(p));
        if !shared {
            remove_path(object, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::{Owned, leaf_paths};
    use serde_json::json;

    fn key(m: &str) -> ManagerKey {
        ManagerKey::new(m, Operation::Apply, "")
    }

    #[test]
    fn conflicts_only_on_different_values() {
        let current = json!({"spec": {"replicas": 3, "image": "a"}});
        let mut managers = Managers::new();
        managers.insert(
            ManagerKey::new("other", Operation::Update, ""),
            Owned {
                paths: leaf_paths(&json!({"spec": {"replicas": 3}})),
                api_version: "apps/v1".into(),
                time: String::new(),
            },
        );
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
        assert_eq!(c.len(), 1);
        let err = conflict_error(&c);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"other\" using apps/v1: .spec.replicas"
        );
        take_ownership(&mut managers, &key("me"), &leaf_paths(&differ));
        assert!(managers.is_empty());
    }

    #[test]
    fn several_conflicts_are_one_line_and_one_cause_each() {
        let owner = |m: &str, op, sub: &str, path: &[&str]| Conflict {
            owner: ManagerKey::new(m, op, sub),
            api_version: "apps/v1".into(),
            path: path.iter().map(|s| (*s).to_string()).collect(),
        };
        let err = conflict_error(&[
            owner("hpa", Operation::Update, "scale", &["spec", "replicas"]),
            owner("other", Operation::Apply, "", &["spec", "paused"]),
        ]);
        assert_eq!(
            err.message,
            "Apply failed with 2 conflicts: conflict with \"hpa\" with subresource \"scale\" using apps/v1: .spec.replicas\nconflict with \"other\": .spec.paused"
        );
        let status = err.to_status();
        let causes = status["details"]["causes"].as_array().unwrap();
        assert_eq!(causes.len(), 2);
        assert_eq!(causes[1]["field"], ".spec.paused");
        assert!(status["details"].get("name").is_none());
    }
}
