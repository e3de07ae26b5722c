//! Request attributes as the real server's authorizers see them, the
//! [`AccessRule`]s [`crate::FakeApi::deny`] takes access away with, and the
//! Forbidden Status a denial answers.

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
        let mut name = path.name.clone();
        // The real server authorizes a list or watch of one object, by a
        // `metadata.name` field selector, with that name.
        if name.is_none() && matches!(verb, "list" | "watch") {
            name = query.get("fieldSelector").and_then(selected_name);
        }
        // `/api/v1/namespaces/{name}` is in the namespace it names, so a
        // RoleBinding there may grant reading it.
        let namespace = match (&path.namespace, &name) {
            (None, Some(n)) if group.is_empty() && path.key.plural == "namespaces" => {
                Some(n.clone())
            }
            (ns, _) => ns.clone(),
        };
        Some(Self {
            verb: verb.to_string(),
            group,
            resource: path.key.plural.clone(),
            subresource: path.subresource.clone(),
            namespace,
            name,
        })
    }

    /// The same request as another verb: a server-side apply that creates
    /// is authorized as `create` too.
    pub fn with_verb(&self, verb: &str) -> Self {
        Self {
            verb: verb.to_string(),
            ..self.clone()
        }
    }

    /// `plural` or `plural/subresource`, as RBAC rules name it.
    pub fn resource_path(&self) -> String {
        match &self.subresource {
            Some(sub) => format!("{}/{sub}", self.resource),
            None => self.resource.clone(),
        }
    }
}

/// The name an exact `metadata.name=` (or `==`) term of a field selector asks for.
fn selected_name(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let value = term.trim().strip_prefix("metadata.name")?.trim_start();
        let value = value
            .strip_prefix("==")
            .or_else(|| value.strip_prefix('='))?;
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// Whether any of `rules` denies `attrs` to `identity`.
pub(crate) fn denied(rules: &[AccessRule], identity: &str, attrs: &Attributes) -> bool {
    rules.iter().any(|r| r.denies(identity, attrs))
}

/// The 403 a real server answers; `reason` is what its authorizer said
/// (RBAC: the roles it could not find), appended when there is one.
pub(crate) fn forbidden(identity: &str, attrs: &Attributes, reason: &str) -> ApiError {
    let qualified = qualified(attrs);
    let subject = match &attrs.name {
        Some(name) => format!("{qualified} \"{name}\""),
        None => qualified,
    };
    let scope = match &attrs.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    let mut message = format!(
        "{subject} is forbidden: User \"{identity}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
        attrs.verb,
        attrs.resource_path(),
        attrs.group,
    );
    if !reason.is_empty() {
        message = format!("{message}: {reason}");
    }
    forbidden_status(attrs, message)
}

/// The 403 of a server-side apply that would create an object its sender
/// may patch but not create: the real server checks `create` only once it
/// finds nothing to patch, and words it with the authorizer's reason alone.
pub(crate) fn forbidden_create(attrs: &Attributes, reason: &str) -> ApiError {
    let qualified = qualified(attrs);
    let message = match &attrs.name {
        Some(name) => format!("{qualified} \"{name}\" is forbidden: {reason}"),
        None => format!("{qualified} is forbidden: {reason}"),
    };
    forbidden_status(attrs, message)
}

/// The 403 for a plain URL (discovery, `/version`).
pub(crate) fn forbidden_path(identity: &str, verb: &str, path: &str, reason: &str) -> ApiError {
    let mut message = format!("forbidden: User \"{identity}\" cannot {verb} path \"{path}\"");
    if !reason.is_empty() {
        message = format!("{message}: {reason}");
    }
    ApiError::new(403, "Forbidden", message)
}

fn qualified(attrs: &Attributes) -> String {
    if attrs.group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.group)
    }
}

fn forbidden_status(attrs: &Attributes, message: String) -> ApiError {
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
        let err = forbidden("ci", &attrs(Method::PATCH, obj, None), "");
        assert_eq!(
            err.message,
            "rollouts.conductor.dev \"x\" is forbidden: User \"ci\" cannot patch resource \"rollouts\" in API group \"conductor.dev\" in the namespace \"shop\""
        );
        let err = forbidden("ci", &attrs(Method::GET, "/api/v1/namespaces", None), "");
        assert_eq!(
            err.message,
            "namespaces is forbidden: User \"ci\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
        );
    }

    #[test]
    fn a_namespace_is_in_itself_and_a_named_list_names_its_object() {
        let ns = attrs(Method::GET, "/api/v1/namespaces/shop", None);
        assert_eq!(ns.namespace.as_deref(), Some("shop"));
        assert_eq!(ns.name.as_deref(), Some("shop"));
        let coll = "/api/v1/namespaces/shop/configmaps";
        let one = attrs(
            Method::GET,
            coll,
            Some("watch=1&fieldSelector=metadata.name%3Dweb"),
        );
        assert_eq!(
            (one.verb.as_str(), one.name.as_deref()),
            ("watch", Some("web"))
        );
        let other = attrs(
            Method::GET,
            coll,
            Some("fieldSelector=metadata.name!%3Dweb"),
        );
        assert_eq!(other.name, None);
        let err = forbidden(
            "ci",
            &one,
            "RBAC: role.rbac.authorization.k8s.io \"x\" not found",
        );
        assert!(
            err.message.ends_with(
                "in the namespace \"shop\": RBAC: role.rbac.authorization.k8s.io \"x\" not found"
            ),
            "{}",
            err.message
        );
    }
}
