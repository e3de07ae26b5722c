//! Authorization: everything is allowed unless an [`AccessRule`] given to
//! [`crate::FakeApi::deny`] matches the request's attributes, which are
//! derived as the real server's RBAC sees them. Denials answer the real
//! server's Forbidden Status.

use http::Method;

use crate::error::{ApiError, StatusDetails};
use crate::path::RequestPath;
use crate::query::Query;

/// A rule taking access away, the way a missing RBAC grant would.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRule {
    /// Whom it applies to: the [`crate::FakeApi::client_as`] identity or
    /// HTTP User-Agent; everyone when `None`.
    pub identity: Option<String>,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`; every verb when empty.
    pub verbs: Vec<String>,
    /// API group: `""` for core, e.g. `apps`, `conductor.dev`.
    pub group: String,
    /// Resource plural, or `plural/subresource`; every resource of the group
    /// when `None`.
    pub resource: Option<String>,
    /// Only requests in this namespace; any namespace (and cluster-scoped
    /// requests) when `None`.
    pub namespace: Option<String>,
}

impl AccessRule {
    /// Whether this rule denies `attrs` to `identity`.
    pub(crate) fn denies(&self, identity: &str, attrs: &Attributes) -> bool {
        self.identity.as_deref().is_none_or(|i| i == identity)
            && (self.verbs.is_empty() || self.verbs.contains(&attrs.verb))
            && self.group == attrs.group
            && self
                .resource
                .as_deref()
                .is_none_or(|r| r == attrs.resource_path())
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| attrs.namespace.as_deref() == Some(ns))
    }
}

/// What a request does, in RBAC's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl Attributes {
    /// The attributes of a resource request; `None` for methods RBAC has no
    /// verb for.
    pub fn of(method: &Method, path: &RequestPath, query: &Query) -> Option<Self> {
        let named = path.name.is_some();
        let verb = match *method {
            Method::GET if query.flag("watch") => "watch",
            Method::GET if named => "get",
            Method::GET => "list",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE if named => "delete",
            Method::DELETE => "deletecollection",
            _ => return None,
        };
        let group = path
            .key
            .api_version
            .split_once('/')
            .map(|(g, _)| g.to_string())
            .unwrap_or_default();
        Some(Self {
            verb: verb.to_string(),
            group,
            resource: path.key.plural.clone(),
            subresource: path.subresource.clone(),
            namespace: path.namespace.clone(),
            name: path.name.clone(),
        })
    }

    /// `plural` or `plural/subresource`, as RBAC rules name it.
    pub fn resource_path(&self) -> String {
        match &self.subresource {
            Some(sub) => format!("{}/{sub}", self.resource),
            None => self.resource.clone(),
        }
    }
}

/// Whether any of `rules` denies `attrs` to `identity`.
pub(crate) fn denied(rules: &[AccessRule], identity: &str, attrs: &Attributes) -> bool {
    rules.iter().any(|r| r.denies(identity, attrs))
}

/// The 403 a real server answers.
pub(crate) fn forbidden(identity: &str, attrs: &Attributes) -> ApiError {
    let qualified = if attrs.group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.group)
    };
    let subject = match &attrs.name {
        Some(name) => format!("{qualified} \"{name}\""),
        None => qualified,
    };
    let scope = match &attrs.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    let message = format!(
        "{subject} is forbidden: User \"{identity}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
        attrs.verb,
        attrs.resource_path(),
        attrs.group,
    );
    ApiError::new(403, "Forbidden", message).with_details(StatusDetails {
        name: attrs.name.clone(),
        group: Some(attrs.group.clone()),
        kind: Some(attrs.resource.clone()),
        causes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: Method, path: &str, query: Option<&str>) -> Attributes {
        let path = RequestPath::parse(path).unwrap();
        Attributes::of(&method, &path, &Query::parse(query)).unwrap()
    }

    #[test]
    fn verbs_follow_method_and_path() {
        let obj = "/apis/conductor.dev/v1alpha1/namespaces/shop/rollouts/x";
        let coll = "/apis/conductor.dev/v1alpha1/namespaces/shop/rollouts";
        assert_eq!(attrs(Method::GET, obj, None).verb, "get");
        assert_eq!(attrs(Method::GET, coll, None).verb, "list");
        assert_eq!(attrs(Method::GET, coll, Some("watch=1")).verb, "watch");
        assert_eq!(attrs(Method::POST, coll, None).verb, "create");
        assert_eq!(attrs(Method::PUT, obj, None).verb, "update");
        assert_eq!(attrs(Method::PATCH, obj, None).verb, "patch");
        assert_eq!(attrs(Method::DELETE, obj, None).verb, "delete");
        assert_eq!(attrs(Method::DELETE, coll, None).verb, "deletecollection");
        let err = forbidden("ci", &attrs(Method::PATCH, obj, None));
        assert_eq!(
            err.message,
            "rollouts.conductor.dev \"x\" is forbidden: User \"ci\" cannot patch resource \"rollouts\" in API group \"conductor.dev\" in the namespace \"shop\""
        );
        let err = forbidden("ci", &attrs(Method::GET, "/api/v1/namespaces", None));
        assert_eq!(
            err.message,
            "namespaces is forbidden: User \"ci\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
        );
    }
}
