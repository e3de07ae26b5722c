//! Parsing of REST paths into the resource, namespace, name and subresource
//! they address. Resource types are not known in advance: any plural under
//! `/api/v1` or `/apis/{group}/{version}` is accepted.

use std::fmt;

/// A resource type: its `apiVersion` (`v1`, `apps/v1`, ...) and plural name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceKey {
    /// `v1` for the core group, `group/version` otherwise.
    pub api_version: String,
    /// Lowercase plural, e.g. `replicasets`.
    pub plural: String,
}

impl ResourceKey {
    /// The resource `plural` served under `api_version`.
    pub fn new(api_version: impl Into<String>, plural: impl Into<String>) -> Self {
        Self {
            api_version: api_version.into(),
            plural: plural.into(),
        }
    }

    /// Whether the API server splits `.status` into its own subresource.
    /// Kubernetes gives one to nearly every type that has a status, so the
    /// fake assumes it for everything except the well-known status-less kinds.
    pub fn has_status_subresource(&self) -> bool {
        !matches!(
            self.plural.as_str(),
            "configmaps"
                | "secrets"
                | "events"
                | "leases"
                | "serviceaccounts"
                | "namespaces"
                | "endpoints"
        )
    }

    /// `plural.group` as used in API server messages, `plural` for core.
    pub(crate) fn qualified(&self) -> String {
        match self.api_version.split_once('/') {
            Some((group, _)) => format!("{}.{group}", self.plural),
            None => self.plural.clone(),
        }
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.api_version, self.plural)
    }
}

impl From<(&str, &str)> for ResourceKey {
    fn from((api_version, plural): (&str, &str)) -> Self {
        Self::new(api_version, plural)
    }
}

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestPath {
    pub key: ResourceKey,
    /// `None` when the path has no namespace segment (cluster-scoped
    /// resources, or a list across all namespaces).
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl RequestPath {
    pub fn parse(path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (api_version, rest) = match segments.as_slice() {
            ["api", version, rest @ ..] => ((*version).to_string(), rest),
            ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
            _ => return None,
        };
        if rest.iter().any(|s| s.is_empty()) {
            return None;
        }
        let (namespace, rest) = match rest {
            // `namespaces/{name}[/{sub}]` addresses Namespace objects themselves.
            ["namespaces", _] | ["namespaces"] | ["namespaces", _, "status" | "finalize"] => {
                (None, rest)
            }
            ["namespaces", ns, rest @ ..] => (Some((*ns).to_string()), rest),
            _ => (None, rest),
        };
        let (plural, name, subresource) = match rest {
            [plural] => (plural, None, None),
            [plural, name] => (plural, Some(name), None),
            [plural, name, sub] => (plural, Some(name), Some(sub)),
            _ => return None,
        };
        Some(Self {
            key: ResourceKey::new(api_version, *plural),
            namespace,
            name: name.map(|n| (*n).to_string()),
            subresource: subresource.map(|s| (*s).to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaced_and_cluster_paths() {
        let p = RequestPath::parse("/apis/apps/v1/namespaces/ns1/replicasets/web/status").unwrap();
        assert_eq!(p.key, ResourceKey::new("apps/v1", "replicasets"));
        assert_eq!(p.namespace.as_deref(), Some("ns1"));
        assert_eq!(p.name.as_deref(), Some("web"));
        assert_eq!(p.subresource.as_deref(), Some("status"));

        let p = RequestPath::parse("/api/v1/namespaces/ns1").unwrap();
        assert_eq!(p.key.plural, "namespaces");
        assert_eq!(p.name.as_deref(), Some("ns1"));
        assert_eq!(p.namespace, None);

        let p = RequestPath::parse("/apis/conductor.dev/v1alpha1/rollouts").unwrap();
        assert_eq!(p.key.api_version, "conductor.dev/v1alpha1");
        assert_eq!(p.namespace, None);
        assert!(RequestPath::parse("/healthz").is_none());
    }
}
