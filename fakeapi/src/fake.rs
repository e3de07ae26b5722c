//! The test-facing handle: clients, fault injection, audit log and direct
//! store access.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use http::Method;
use serde_json::Value;
use tokio::sync::watch;

use crate::access::AccessRule;
use crate::error::ApiError;
use crate::paging::Snapshots;
use crate::path::ResourceKey;
use crate::selector::Filter;
use crate::service::FakeService;
use crate::store::{DEFAULT_HISTORY, Store};

/// Makes the next matching requests fail instead of being served.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Only requests with this method; any method when `None`.
    pub method: Option<Method>,
    /// Only requests whose path and query contain this; empty matches all.
    pub path_contains: String,
    /// HTTP code of the `Status` answered, e.g. 409, 429, 500, 503.
    pub status: u16,
    /// How many requests fail before the fault is used up.
    pub times: usize,
}

impl Fault {
    pub(crate) fn matches(&self, method: &Method, path_and_query: &str) -> bool {
        self.times > 0
            && self.method.as_ref().is_none_or(|m| m == method)
            && path_and_query.contains(&self.path_contains)
    }
}

/// One mutating request (POST, PUT, PATCH, DELETE) as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The name given to [`FakeApi::client_as`]; `anonymous` for [`FakeApi::client`].
    pub identity: String,
    pub method: Method,
    /// Path without the query string.
    pub path: String,
    /// HTTP code the request was answered with (injected faults included).
    pub status: u16,
    pub time: jiff::Timestamp,
    /// The `fieldManager` query parameter, when the request had one.
    pub field_manager: Option<String>,
    /// The object as stored after a successful write (for a delete, the
    /// deleted or deletion-marked object); `None` when the request failed.
    pub object: Option<Arc<Value>>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    store: Mutex<Store>,
    pub faults: Mutex<Vec<Fault>>,
    pub audit: Mutex<Vec<AuditEntry>>,
    pub denied: Mutex<Vec<AccessRule>>,
    pub requests: AtomicU64,
    pub drop_watches: watch::Sender<u64>,
    pub snapshots: Mutex<Snapshots>,
}

impl Shared {
    /// The store lock. Critical sections never panic halfway through a write,
    /// so a poisoned lock still guards a consistent store.
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

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
            shared: Arc::new(Shared {
                store: Mutex::new(Store::new(limit)),
                faults: Mutex::new(Vec::new()),
                audit: Mutex::new(Vec::new()),
                denied: Mutex::new(Vec::new()),
                requests: AtomicU64::new(0),
                drop_watches: watch::channel(0).0,
                snapshots: Mutex::new(Snapshots::default()),
            }),
        }
    }

    /// A client with default namespace `default`, audited as `anonymous`.
    /// Must be called inside a Tokio runtime (kube spawns a buffer task).
    pub fn client(&self) -> kube::Client {
        self.client_as("anonymous")
    }

    /// A client whose mutating requests are audited under `identity`.
    pub fn client_as(&self, identity: &str) -> kube::Client {
        kube::Client::new(self.service(identity), "default")
    }

    /// The raw `tower::Service`, for callers building their own client stack.
    pub fn service(&self, identity: &str) -> FakeService {
        FakeService::new(self.shared.clone(), identity)
    }

    /// Queues a fault; faults are checked in the order they were added.
    pub fn fail_next(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    /// Forgets all queued faults.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
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

    /// Every HTTP request received so far, reads and watches included.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
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
