//! The test-facing handle: clients, fault injection, audit log and direct
//! store access.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::Value;

use crate::access::AccessRule;
use crate::delay::Delay;
use crate::error::ApiError;
use crate::path::ResourceKey;
use crate::record::{Denial, Grant};
use crate::selector::Filter;
use crate::service::FakeService;
use crate::shared::{AuditEntry, Fault, RequestCounter, Shared, lock};
use crate::store::DEFAULT_HISTORY;
use crate::user::User;

/// An in-process Kubernetes API server. Clones share the same state.
#[derive(Debug, Clone)]
pub struct FakeApi {
    pub(crate) shared: Arc<Shared>,
}

impl Default for FakeApi {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeApi {
    /// An empty API server keeping the last 50,000 events per resource type.
    pub fn new() -> Self {
        Self::with_history_limit(DEFAULT_HISTORY)
    }

    /// An empty API server keeping `limit` events per resource type for
    /// watches; older resourceVersions answer 410 Expired.
    pub fn with_history_limit(limit: usize) -> Self {
        Self {
            shared: Arc::new(Shared::new(limit)),
        }
    }

    /// A client with default namespace `default`, as [`User::admin`]
    /// (`kubernetes-admin`, in `system:masters`): allowed everything, with
    /// RBAC enforced or not. Must be called inside a Tokio runtime (kube
    /// spawns a buffer task).
    pub fn client(&self) -> kube::Client {
        self.client_as(User::admin())
    }

    /// A client authenticated as `user` (a name: the groups a real
    /// authenticator gives it, see [`User::new`]); its requests are audited
    /// under the user's name.
    pub fn client_as(&self, user: impl Into<User>) -> kube::Client {
        kube::Client::new(self.service(user), "default")
    }

    /// The raw `tower::Service`, for callers building their own client stack.
    pub fn service(&self, user: impl Into<User>) -> FakeService {
        let user = user.into();
        let agent = user.name.clone();
        FakeService::new(self.shared.clone(), user, &agent)
    }

    /// The same, for a client that names itself `agent` in its User-Agent.
    pub(crate) fn service_for(&self, user: User, agent: &str) -> FakeService {
        FakeService::new(self.shared.clone(), user, agent)
    }

    /// From now on requests are authorized by RBAC, over the Roles,
    /// ClusterRoles, RoleBindings and ClusterRoleBindings stored, as a real
    /// server does; the bootstrap policy a real cluster starts with is
    /// stored first (`cluster-admin` for `system:masters`, discovery and
    /// access reviews for every authenticated user). Requests no rule
    /// allows answer 403 Forbidden; [`FakeApi::grants`] and
    /// [`FakeApi::denials`] tell what RBAC decided.
    pub fn enforce_rbac(&self) -> Result<(), ApiError> {
        for (plural, object) in crate::bootstrap::policy() {
            let key = ResourceKey::new("rbac.authorization.k8s.io/v1", plural);
            let name = crate::meta::meta_str(&object, "name").unwrap_or_default();
            let mut store = self.shared.lock();
            if store.entry(&key, "", name).is_none() {
                store.create(&key, "", object.clone(), false)?;
            }
        }
        self.shared.authz.enforced.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Every distinct request RBAC allowed so far, with the rule that
    /// allowed it (nothing while RBAC is not enforced).
    pub fn grants(&self) -> Vec<Grant> {
        lock(&self.shared.authz.grants).iter().cloned().collect()
    }

    /// Every request answered 403 Forbidden so far, oldest first: by RBAC
    /// or by a [`FakeApi::deny`] rule.
    pub fn denials(&self) -> Vec<Denial> {
        lock(&self.shared.authz.denials).clone()
    }

    /// Requests over HTTP ([`crate::serve`]) with `Authorization: Bearer
    /// <token>` are `user`'s, like a real server's static token file.
    pub fn add_token(&self, token: &str, user: impl Into<User>) {
        lock(&self.shared.authz.tokens).insert(token.to_string(), user.into());
    }

    /// The user a bearer token stands for.
    pub(crate) fn token_user(&self, token: &str) -> Option<User> {
        lock(&self.shared.authz.tokens).get(token).cloned()
    }

    /// Whether RBAC is enforced.
    pub(crate) fn rbac_enforced(&self) -> bool {
        self.shared.authz.enforced()
    }

    /// Queues a fault; faults are checked in the order they were added.
    pub fn fail_next(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    /// Queues a slow answer; delays are checked in the order they were added.
    pub fn delay_next(&self, delay: Delay) {
        lock(&self.shared.delays).push(delay);
    }

    /// Faults queued and not used up yet, with the `times` each has left.
    pub fn queued_faults(&self) -> Vec<Fault> {
        lock(&self.shared.faults).clone()
    }

    /// Delays queued and not used up yet, with the `times` each has left.
    pub fn queued_delays(&self) -> Vec<Delay> {
        lock(&self.shared.delays).clone()
    }

    /// Forgets all queued faults and delays.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
        lock(&self.shared.delays).clear();
    }

    /// Forbids what `rule` describes: matching requests answer 403 Forbidden
    /// and `SelfSubjectAccessReview`s for them answer `allowed: false`.
    pub fn deny(&self, rule: AccessRule) {
        lock(&self.shared.denied).push(rule);
    }

    /// Forgets every [`FakeApi::deny`] rule: everything is allowed again.
    pub fn allow_all(&self) {
        lock(&self.shared.denied).clear();
    }

    /// Ends every open watch stream; clients have to re-watch.
    pub fn drop_watches(&self) {
        self.shared.drop_watches.send_modify(|n| *n += 1);
    }

    /// Mutating requests so far, oldest first.
    pub fn audit(&self) -> Vec<AuditEntry> {
        lock(&self.shared.audit).clone()
    }

    /// Mutating requests since the last call, oldest first, forgotten
    /// here: a long run reads the log as it goes instead of keeping every
    /// object ever written.
    pub fn take_audit(&self) -> Vec<AuditEntry> {
        std::mem::take(&mut *lock(&self.shared.audit))
    }

    /// Every HTTP request received so far, reads and watches included.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Counts from now on every request (reads and watches too) whose path
    /// and query contain `path_contains`: how often a client asks for one
    /// object, say, without keeping every request.
    pub fn count_requests(&self, path_contains: &str) -> RequestCounter {
        let counter = RequestCounter {
            path_contains: path_contains.into(),
            count: Arc::default(),
        };
        lock(&self.shared.counters).push(counter.clone());
        counter
    }

    /// Creates an object without HTTP, keeping any `.status` it carries. The
    /// namespace comes from `metadata.namespace` (none: cluster-scoped).
    pub fn insert(
        &self,
        resource: impl Into<ResourceKey>,
        object: Value,
    ) -> Result<Arc<Value>, ApiError> {
        let ns = crate::meta::meta_str(&object, "namespace")
            .unwrap_or_default()
            .to_string();
        self.shared
            .lock()
            .create(&resource.into(), &ns, object, true)
    }

    /// The stored object; `namespace` is `""` for cluster-scoped objects.
    pub fn get_object(
        &self,
        resource: impl Into<ResourceKey>,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<Value>> {
        self.shared
            .lock()
            .entry(&resource.into(), namespace, name)
            .map(|e| e.object.clone())
    }

    /// Stored objects of a type in `namespace`, or in all namespaces.
    pub fn list_objects(
        &self,
        resource: impl Into<ResourceKey>,
        namespace: Option<&str>,
    ) -> Vec<Arc<Value>> {
        self.shared
            .lock()
            .list(&resource.into(), namespace, &Filter::default())
    }

    /// Deletes as an HTTP DELETE would: finalizers and cascade apply.
    pub fn delete_object(
        &self,
        resource: impl Into<ResourceKey>,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Value>, ApiError> {
        self.shared
            .lock()
            .delete(&resource.into(), namespace, name, &Default::default())
    }

    /// Objects stored across all types.
    pub fn object_count(&self) -> usize {
        self.shared.lock().count()
    }

    /// The newest resourceVersion handed out.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().rv
    }
}
