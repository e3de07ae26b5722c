//! Who sends a request, as a real server's authenticators describe it: a
//! user name and the groups it is in. RBAC bindings name either.

/// Every authenticated user is in this group.
pub const AUTHENTICATED: &str = "system:authenticated";
/// Requests without credentials, when anonymous requests are enabled.
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
/// The user of requests without credentials.
pub const ANONYMOUS: &str = "system:anonymous";
/// Members may do anything: the bootstrap `cluster-admin` binding names it.
pub const MASTERS: &str = "system:masters";
/// The name the default [`crate::FakeApi::client`] authenticates as, in
/// [`MASTERS`] like kubeadm's `admin.conf` user.
pub const ADMIN: &str = "kubernetes-admin";

const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// An authenticated identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct User {
    /// `system:serviceaccount:<namespace>:<name>` for a ServiceAccount.
    pub name: String,
    pub groups: Vec<String>,
    /// The pod a ServiceAccount token is bound to (the real server's
    /// `authentication.kubernetes.io/pod-name` extra): tells the replicas
    /// of one ServiceAccount apart in the audit log.
    pub pod: Option<String>,
}

impl User {
    /// The user `name` with the groups a real authenticator gives it:
    /// a ServiceAccount name is in `system:serviceaccounts` and
    /// `system:serviceaccounts:<namespace>`, everyone in
    /// `system:authenticated`.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let mut groups = Vec::new();
        if let Some((namespace, _)) = service_account_of(&name) {
            groups.push("system:serviceaccounts".to_string());
            groups.push(format!("system:serviceaccounts:{namespace}"));
        }
        groups.push(AUTHENTICATED.to_string());
        Self {
            name,
            groups,
            pod: None,
        }
    }

    /// The ServiceAccount `name` of `namespace`.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self::new(format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"))
    }

    /// Requests without credentials: `system:anonymous`, in
    /// `system:unauthenticated` only.
    pub fn anonymous() -> Self {
        Self {
            name: ANONYMOUS.to_string(),
            groups: vec![UNAUTHENTICATED.to_string()],
            pod: None,
        }
    }

    /// The default client's user: allowed everything once RBAC is enforced.
    pub fn admin() -> Self {
        Self::new(ADMIN).in_group(MASTERS)
    }

    /// Also a member of `group`.
    pub fn in_group(mut self, group: &str) -> Self {
        if !self.groups.iter().any(|g| g == group) {
            self.groups.push(group.to_string());
        }
        self
    }

    /// Bound to the pod `pod`, as a projected ServiceAccount token is.
    pub fn on_pod(mut self, pod: &str) -> Self {
        self.pod = Some(pod.to_string());
        self
    }
}

impl From<&str> for User {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<String> for User {
    fn from(name: String) -> Self {
        Self::new(name)
    }
}

impl From<&User> for User {
    fn from(user: &User) -> Self {
        user.clone()
    }
}

/// `(namespace, name)` of a ServiceAccount user name.
pub(crate) fn service_account_of(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix(SERVICE_ACCOUNT_PREFIX)?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_accounts_get_their_groups() {
        let sa = User::service_account("ops", "conductor");
        assert_eq!(sa.name, "system:serviceaccount:ops:conductor");
        assert_eq!(
            sa.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ops",
                "system:authenticated"
            ]
        );
        assert_eq!(User::new("ci").groups, ["system:authenticated"]);
        assert_eq!(service_account_of("system:serviceaccount:a:b:c"), None);
        assert!(User::admin().groups.iter().any(|g| g == MASTERS));
    }
}
