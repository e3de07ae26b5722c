//! The RBAC authorizer, as the real server's (`plugin/pkg/auth/authorizer/rbac`)
//! decides: ClusterRoleBindings first, then the RoleBindings of the
//! request's namespace; a binding applies when one of its subjects names
//! the user, one of its groups, or (ServiceAccount) its
//! `system:serviceaccount:<ns>:<name>`; the first rule of the bound role
//! that matches allows the request. Nothing denies: a request no rule
//! allows is forbidden, with the roles that could not be found as reason.
//! Roles and bindings are ordinary objects of the store, read at request
//! time, so a test changes access by applying them. Not modelled: ClusterRole
//! aggregation (`aggregationRule`), the escalation check on writing roles
//! and bindings, and impersonation.

use serde_json::Value;

use crate::access::Attributes;
use crate::path::ResourceKey;
use crate::selector::Filter;
use crate::store::Store;
use crate::user::{User, service_account_of};

const GROUP: &str = "rbac.authorization.k8s.io";
const ALL: &str = "*";

fn key(plural: &str) -> ResourceKey {
    ResourceKey::new(format!("{GROUP}/v1"), plural)
}

/// What is authorized: an API resource, or a plain URL (`/version`,
/// discovery).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    Resource(&'a Attributes),
    NonResource { verb: &'a str, path: &'a str },
}

impl Target<'_> {
    fn namespace(&self) -> &str {
        match self {
            Target::Resource(attrs) => attrs.namespace.as_deref().unwrap_or_default(),
            Target::NonResource { .. } => "",
        }
    }
}

/// Whether a role is namespaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoleKind {
    Role,
    ClusterRole,
}

impl RoleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleKind::Role => "Role",
            RoleKind::ClusterRole => "ClusterRole",
        }
    }
}

/// A Role (with its namespace) or a ClusterRole.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleId {
    pub kind: RoleKind,
    /// `None` for a ClusterRole.
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for RoleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind.as_str(), self.name),
            None => write!(f, "{} {}", self.kind.as_str(), self.name),
        }
    }
}

/// The rule that allowed a request, and the real server's reason text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Allowed {
    pub role: RoleId,
    pub rule: usize,
    pub reason: String,
}

/// RBAC's decision: allowed by a rule, or not, with the reason the real
/// server appends to its Forbidden message (empty unless a binding named
/// a role that does not exist).
pub(crate) type Decision = Result<Allowed, String>;

pub(crate) fn authorize(store: &Store, user: &User, target: Target<'_>) -> Decision {
    let mut errors: Vec<String> = Vec::new();
    let everything = Filter::default();
    for binding in store.list(&key("clusterrolebindings"), None, &everything) {
        if let Some(allowed) = visit(store, user, target, &binding, "", &mut errors) {
            return Ok(allowed);
        }
    }
    let namespace = target.namespace();
    if !namespace.is_empty() {
        for binding in store.list(&key("rolebindings"), Some(namespace), &everything) {
            if let Some(allowed) = visit(store, user, target, &binding, namespace, &mut errors) {
                return Ok(allowed);
            }
        }
    }
    // As the real server's aggregate error: each message once, in order.
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert(e.clone()));
    Err(match errors.as_slice() {
        [] => String::new(),
        [one] => format!("RBAC: {one}"),
        many => format!("RBAC: [{}]", many.join(", ")),
    })
}

/// The rule of `binding`'s role allowing `target` to `user`, if any.
fn visit(
    store: &Store,
    user: &User,
    target: Target<'_>,
    binding: &Value,
    namespace: &str,
    errors: &mut Vec<String>,
) -> Option<Allowed> {
    let subjects = binding.get("subjects")?.as_array()?;
    let subject = subjects.iter().find(|s| applies(user, s, namespace))?;
    let (role, rules) = match role_rules(store, &binding["roleRef"], namespace) {
        Ok(found) => found,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let rule = rules.iter().position(|r| rule_allows(r, target))?;
    let reason = format!(
        "RBAC: allowed by {}",
        describe(binding, namespace, &role, subject)
    );
    Some(Allowed { role, rule, reason })
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or_default()
}

fn applies(user: &User, subject: &Value, namespace: &str) -> bool {
    let name = text(subject, "name");
    match text(subject, "kind") {
        "User" => user.name == name,
        "Group" => user.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let sa_namespace = match text(subject, "namespace") {
                "" => namespace,
                ns => ns,
            };
            !sa_namespace.is_empty() && service_account_of(&user.name) == Some((sa_namespace, name))
        }
        _ => false,
    }
}

/// The role a binding refers to and its rules; the lister's error text
/// when it is missing.
fn role_rules(
    store: &Store,
    role_ref: &Value,
    namespace: &str,
) -> Result<(RoleId, Vec<Value>), String> {
    let name = text(role_ref, "name");
    let (kind, plural, singular) = match text(role_ref, "kind") {
        "Role" => (RoleKind::Role, "roles", "role"),
        "ClusterRole" => (RoleKind::ClusterRole, "clusterroles", "clusterrole"),
        other => return Err(format!("unsupported role reference kind: {other:?}")),
    };
    let role_namespace = match kind {
        RoleKind::Role => namespace,
        RoleKind::ClusterRole => "",
    };
    let not_found = || format!("{singular}.{GROUP} {name:?} not found");
    // A ClusterRoleBinding cannot name a Role: there is no namespace to find it in.
    if kind == RoleKind::Role && namespace.is_empty() {
        return Err(not_found());
    }
    let role = store
        .entry(&key(plural), role_namespace, name)
        .ok_or_else(not_found)?;
    let rules = role
        .object
        .get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let id = RoleId {
        kind,
        namespace: (kind == RoleKind::Role).then(|| namespace.to_string()),
        name: name.to_string(),
    };
    Ok((id, rules))
}

fn strings<'a>(rule: &'a Value, field: &str) -> impl Iterator<Item = &'a str> {
    rule.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn has(rule: &Value, field: &str, wanted: &str) -> bool {
    strings(rule, field).any(|s| s == ALL || s == wanted)
}

pub(crate) fn rule_allows(rule: &Value, target: Target<'_>) -> bool {
    match target {
        Target::Resource(attrs) => {
            has(rule, "verbs", &attrs.verb)
                && has(rule, "apiGroups", &attrs.group)
                && resource_matches(rule, attrs)
                && name_matches(rule, attrs.name.as_deref().unwrap_or_default())
        }
        Target::NonResource { verb, path } => {
            has(rule, "verbs", verb)
                && strings(rule, "nonResourceURLs").any(|url| {
                    url == ALL
                        || url == path
                        || url
                            .strip_suffix('*')
                            .is_some_and(|prefix| path.starts_with(prefix))
                })
        }
    }
}

/// `plural`, `plural/sub`, `*` and `*/sub` as the real server reads them.
fn resource_matches(rule: &Value, attrs: &Attributes) -> bool {
    let combined = attrs.resource_path();
    strings(rule, "resources").any(|r| {
        r == ALL
            || r == combined
            || attrs
                .subresource
                .as_deref()
                .is_some_and(|sub| r.strip_prefix("*/") == Some(sub))
    })
}

/// No resourceNames allow every name; otherwise the request must name one
/// of them, so a create or an unfiltered list never matches.
fn name_matches(rule: &Value, name: &str) -> bool {
    let mut names = strings(rule, "resourceNames").peekable();
    names.peek().is_none() || names.any(|n| n == name)
}

/// `ClusterRoleBinding "b" of ClusterRole "r" to ServiceAccount "sa/ns"`.
fn describe(binding: &Value, namespace: &str, role: &RoleId, subject: &Value) -> String {
    let name = text(&binding["metadata"], "name");
    let binding = if namespace.is_empty() {
        format!("ClusterRoleBinding {name:?}")
    } else {
        format!("RoleBinding \"{name}/{namespace}\"")
    };
    let kind = text(subject, "kind");
    let subject_name = text(subject, "name");
    let who = match (kind, text(subject, "namespace")) {
        ("ServiceAccount", "") => format!("{subject_name}/{namespace}"),
        ("ServiceAccount", ns) => format!("{subject_name}/{ns}"),
        _ => subject_name.to_string(),
    };
    format!(
        "{binding} of {} {:?} to {kind} {who:?}",
        role.kind.as_str(),
        role.name
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn attrs(verb: &str, group: &str, resource: &str, sub: Option<&str>) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.map(Into::into),
            namespace: Some("shop".into()),
            name: Some("web".into()),
        }
    }

    #[test]
    fn rules_match_as_the_real_server_reads_them() {
        let rule = json!({"apiGroups": ["apps"], "resources": ["replicasets", "deployments/scale"], "verbs": ["get", "patch"]});
        let allows = |a: &Attributes| rule_allows(&rule, Target::Resource(a));
        assert!(allows(&attrs("get", "apps", "replicasets", None)));
        assert!(allows(&attrs(
            "patch",
            "apps",
            "deployments",
            Some("scale")
        )));
        assert!(!allows(&attrs("patch", "apps", "deployments", None)));
        assert!(!allows(&attrs(
            "patch",
            "apps",
            "replicasets",
            Some("status")
        )));
        assert!(!allows(&attrs("delete", "apps", "replicasets", None)));
        assert!(!allows(&attrs("get", "", "replicasets", None)));

        let wild = json!({"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["*"]});
        assert!(rule_allows(
            &wild,
            Target::Resource(&attrs("update", "x.io", "things", Some("status")))
        ));
        assert!(!rule_allows(
            &wild,
            Target::Resource(&attrs("update", "x.io", "things", None))
        ));

        let named = json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["web"], "verbs": ["get", "create"]});
        assert!(rule_allows(
            &named,
            Target::Resource(&attrs("get", "", "secrets", None))
        ));
        let mut create = attrs("create", "", "secrets", None);
        create.name = None;
        assert!(!rule_allows(&named, Target::Resource(&create)));

        let urls = json!({"nonResourceURLs": ["/apis/*", "/version"], "verbs": ["get"]});
        let url = |path| rule_allows(&urls, Target::NonResource { verb: "get", path });
        assert!(url("/apis/apps/v1"));
        assert!(url("/version"));
        assert!(!url("/version/x"));
        assert!(!url("/api"));
    }
}
