//! What discovery reports as served: the built-in types plus, read from the
//! store at request time, every version a stored CustomResourceDefinition
//! serves.

use std::cmp::Reverse;

use serde_json::Value;

use crate::builtin::{ALL, BUILTINS};
use crate::path::ResourceKey;
use crate::selector::Filter;
use crate::store::Store;

/// One resource type as discovery describes it.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub verbs: Vec<String>,
    pub short_names: Vec<String>,
    pub status: bool,
    pub scale: bool,
}

#[derive(Debug)]
pub(crate) struct Version {
    pub version: String,
    pub resources: Vec<Resource>,
}

/// An API group; `name` is `""` for the core group.
#[derive(Debug)]
pub(crate) struct Group {
    pub name: String,
    /// Highest priority (the preferred version) first.
    pub versions: Vec<Version>,
}

impl Group {
    pub fn version(&self, version: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.version == version)
    }
}

fn crd_key() -> ResourceKey {
    ResourceKey::new("apiextensions.k8s.io/v1", "customresourcedefinitions")
}

/// Every served group, core first, then built-in groups, then custom ones.
pub(crate) fn groups(store: &Store) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let builtins = BUILTINS.iter().map(|b| {
        let resource = Resource {
            plural: b.plural.into(),
            singular: b.singular.into(),
            kind: b.kind.into(),
            namespaced: b.namespaced,
            verbs: b.verbs.iter().map(|v| (*v).to_string()).collect(),
            short_names: b.short_names.iter().map(|s| (*s).to_string()).collect(),
            status: b.status,
            scale: b.scale,
        };
        (b.group.to_string(), b.version.to_string(), resource)
    });
    let crds = store.list(&crd_key(), None, &Filter::default());
    let custom = crds.iter().flat_map(|crd| custom_resources(crd));
    for (group, version, resource) in builtins.chain(custom) {
        add(&mut groups, group, version, resource);
    }
    for group in &mut groups {
        group
            .versions
            .sort_by_key(|v| Reverse(version_priority(&v.version)));
    }
    groups
}

/// Whether a request for `key` reaches a resource at all: a built-in one,
/// or one a stored CRD serves. What nothing serves gets the API server's
/// plain-text `404 page not found` (no `Status`), as on a cluster
/// without the CRD installed.
pub(crate) fn serves(store: &Store, key: &ResourceKey) -> bool {
    let (group, version) = key
        .api_version
        .rsplit_once('/')
        .unwrap_or(("", key.api_version.as_str()));
    let builtin = BUILTINS
        .iter()
        .any(|b| b.group == group && b.version == version && b.plural == key.plural);
    if builtin {
        return true;
    }
    let name = format!("{}.{group}", key.plural);
    store.entry(&crd_key(), "", &name).is_some_and(|crd| {
        crd.object["spec"]["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| v["name"] == version && v["served"].as_bool().unwrap_or(true))
    })
}

fn add(groups: &mut Vec<Group>, group: String, version: String, resource: Resource) {
    let index = match groups.iter().position(|g| g.name == group) {
        Some(i) => i,
        None => {
            groups.push(Group {
                name: group,
                versions: Vec::new(),
            });
            groups.len() - 1
        }
    };
    let versions = &mut groups[index].versions;
    match versions.iter_mut().find(|v| v.version == version) {
        Some(v) if v.resources.iter().any(|r| r.plural == resource.plural) => {}
        Some(v) => v.resources.push(resource),
        None => versions.push(Version {
            version,
            resources: vec![resource],
        }),
    }
}

/// The `(group, version, resource)` of each version a CRD serves.
fn custom_resources(crd: &Value) -> Vec<(String, String, Resource)> {
    let spec = &crd["spec"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let names = &spec["names"];
    let group = text(&spec["group"]);
    let plural = text(&names["plural"]);
    if group.is_empty() || plural.is_empty() {
        return Vec::new();
    }
    let kind = text(&names["kind"]);
    let singular = match text(&names["singular"]) {
        s if s.is_empty() => kind.to_lowercase(),
        s => s,
    };
    let short_names: Vec<String> = names["shortNames"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(true))
        .map(|v| {
            let resource = Resource {
                plural: plural.clone(),
                singular: singular.clone(),
                kind: kind.clone(),
                namespaced,
                verbs: ALL.iter().map(|v| (*v).to_string()).collect(),
                short_names: short_names.clone(),
                status: v.pointer("/subresources/status").is_some(),
                scale: v.pointer("/subresources/scale").is_some(),
            };
            (group.clone(), text(&v["name"]), resource)
        })
        .collect()
}

/// Kubernetes version priority: GA over beta over alpha, higher numbers
/// first; anything else after them all.
fn version_priority(version: &str) -> (u8, u64, u64) {
    let Some(rest) = version.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let Ok(major) = rest[..digits].parse::<u64>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits..];
    let (level, minor) = if tail.is_empty() {
        (3, "")
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        return (0, 0, 0);
    };
    if level == 3 {
        return (3, major, 0);
    }
    match minor.parse::<u64>() {
        Ok(m) => (level, major, m),
        Err(_) => (0, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_as_kubernetes_does() {
        let mut versions = vec!["v1alpha1", "v2", "v1beta1", "v1", "v1beta2", "foo"];
        versions.sort_by_key(|v| Reverse(version_priority(v)));
        assert_eq!(
            versions,
            vec!["v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
        );
    }
}
