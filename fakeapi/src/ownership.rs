//! Field ownership as the API server records it in `metadata.managedFields`:
//! per `(manager, operation, subresource)` the leaf paths that manager owns.
//! Apply entries own what they sent (see `apply`); Update entries own what
//! their non-apply writes changed. Maps are walked key by key, while lists
//! and scalars are leaves (the fake knows no list-map keys).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

pub(crate) type FieldPath = Vec<String>;

/// How a manager came to own its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "Apply",
            Self::Update => "Update",
        }
    }
}

/// One managedFields entry's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ManagerKey {
    pub manager: String,
    pub operation: Operation,
    /// `""` for the main resource, `status` or `scale` otherwise.
    pub subresource: String,
}

impl ManagerKey {
    pub fn new(manager: &str, operation: Operation, subresource: &str) -> Self {
        Self {
            manager: manager.to_string(),
            operation,
            subresource: subresource.to_string(),
        }
    }
}

/// What one manager owns, and when and through which version it last wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owned {
    pub paths: BTreeSet<FieldPath>,
    pub api_version: String,
    pub time: String,
}

pub(crate) type Managers = BTreeMap<ManagerKey, Owned>;

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
                | "selfLink"
        ),
        _ => false,
    }
}

/// Every leaf path in `object`, except identity fields.
pub(crate) fn leaf_paths(object: &Value) -> BTreeSet<FieldPath> {
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
    walk(object, &mut Vec::new(), &mut out);
    out
}

pub(crate) fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, seg| v.get(seg.as_str()))
}

/// Records a non-apply write that turned `before` into `after`: `me` owns
/// every leaf it changed or added, nobody keeps a leaf it changed or removed.
pub(crate) fn record_update(
    managers: &mut Managers,
    me: ManagerKey,
    before: &Value,
    after: &Value,
    api_version: &str,
) {
    let old = leaf_paths(before);
    let new = leaf_paths(after);
    let changed: BTreeSet<FieldPath> = new
        .iter()
        .filter(|p| get_path(before, p) != get_path(after, p))
        .cloned()
        .collect();
    let removed: BTreeSet<&FieldPath> = old.difference(&new).collect();
    if changed.is_empty() && removed.is_empty() {
        return;
    }
    for owned in managers.values_mut() {
        owned
            .paths
            .retain(|p| !changed.contains(p) && !removed.contains(p));
    }
    let mine = managers.entry(me).or_insert_with(|| Owned {
        paths: BTreeSet::new(),
        api_version: String::new(),
        time: String::new(),
    });
    mine.paths.extend(changed);
    mine.api_version = api_version.to_string();
    mine.time = crate::meta::now_rfc3339();
    managers.retain(|_, owned| !owned.paths.is_empty());
}

/// The `metadata.managedFields` list a real server would show for `managers`.
pub(crate) fn managed_fields(managers: &Managers) -> Value {
    let entries = managers.iter().map(|(key, owned)| {
        let mut entry = json!({
            "manager": key.manager,
            "operation": key.operation.as_str(),
            "apiVersion": owned.api_version,
            "time": owned.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1(&owned.paths),
        });
        if !key.subresource.is_empty() {
            entry["subresource"] = Value::from(key.subresource.as_str());
        }
        entry
    });
    Value::Array(entries.collect())
}

/// FieldsV1 encoding: nested `f:<key>` maps, each owned leaf an empty map.
fn fields_v1(paths: &BTreeSet<FieldPath>) -> Value {
    let mut root = Map::new();
    for path in paths {
        let mut node = &mut root;
        for seg in path {
            let child = node
                .entry(format!("f:{seg}"))
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            let Value::Object(map) = child else {
                break;
            };
            node = map;
        }
    }
    Value::Object(root)
}

pub(crate) fn render_path(path: &[String]) -> String {
    format!(".{}", path.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_paths_skip_identity() {
        let v = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"a": [1], "b": {"c": 2}}});
        let paths: Vec<String> = leaf_paths(&v).iter().map(|p| render_path(p)).collect();
        assert_eq!(paths, vec![".metadata.labels.x", ".spec.a", ".spec.b.c"]);
    }

    #[test]
    fn updates_take_changed_fields_from_everyone() {
        let before = json!({"spec": {"a": 1, "b": 2, "c": 3}});
        let after = json!({"spec": {"a": 1, "b": 5, "d": 4}});
        let applier = ManagerKey::new("deploy", Operation::Apply, "");
        let mut managers = Managers::new();
        managers.insert(
            applier.clone(),
            Owned {
                paths: leaf_paths(&before),
                api_version: "v1".into(),
                time: String::new(),
            },
        );
        let updater = ManagerKey::new("deploy", Operation::Update, "");
        record_update(&mut managers, updater.clone(), &before, &after, "v1");
        let rendered = |k: &ManagerKey| -> Vec<String> {
            managers[k].paths.iter().map(|p| render_path(p)).collect()
        };
        assert_eq!(rendered(&applier), vec![".spec.a"]);
        assert_eq!(rendered(&updater), vec![".spec.b", ".spec.d"]);
        let fields = managed_fields(&managers);
        assert_eq!(
            fields[1]["fieldsV1"],
            json!({"f:spec": {"f:b": {}, "f:d": {}}})
        );
        assert_eq!(fields[1]["operation"], "Update");
    }
}
