//! The state a [`crate::FakeApi`] and every request it serves share: the
//! store, queued faults, the audit log, access denials and RBAC's record.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use http::Method;
use serde_json::Value;
use tokio::sync::watch;

use crate::access::AccessRule;
use crate::delay::Delay;
use crate::paging::Snapshots;
use crate::record::Authz;
use crate::store::Store;

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
    /// The user's name: the one given to [`crate::FakeApi::client_as`],
    /// `kubernetes-admin` for [`crate::FakeApi::client`].
    pub identity: String,
    /// The pod the user's token is bound to ([`crate::User::on_pod`]).
    pub pod: Option<String>,
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

/// Counts the requests whose path and query contain a string, from when
/// it was made: see [`crate::FakeApi::count_requests`].
#[derive(Debug, Clone)]
pub struct RequestCounter {
    pub(crate) path_contains: Arc<str>,
    pub(crate) count: Arc<AtomicU64>,
}

impl RequestCounter {
    /// Requests counted so far.
    pub fn get(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    store: Mutex<Store>,
    pub faults: Mutex<Vec<Fault>>,
    pub delays: Mutex<Vec<Delay>>,
    pub audit: Mutex<Vec<AuditEntry>>,
    pub denied: Mutex<Vec<AccessRule>>,
    pub authz: Authz,
    pub requests: AtomicU64,
    pub counters: Mutex<Vec<RequestCounter>>,
    pub drop_watches: watch::Sender<u64>,
    pub snapshots: Mutex<Snapshots>,
}

impl Shared {
    /// Empty state keeping `history` events per resource type for watches.
    pub fn new(history: usize) -> Self {
        Self {
            store: Mutex::new(Store::new(history)),
            faults: Mutex::new(Vec::new()),
            delays: Mutex::new(Vec::new()),
            audit: Mutex::new(Vec::new()),
            denied: Mutex::new(Vec::new()),
            authz: Authz::default(),
            requests: AtomicU64::new(0),
            counters: Mutex::new(Vec::new()),
            drop_watches: watch::channel(0).0,
            snapshots: Mutex::new(Snapshots::default()),
        }
    }

    /// The store lock. Critical sections never panic halfway through a write,
    /// so a poisoned lock still guards a consistent store.
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
