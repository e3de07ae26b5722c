//! What authorization decided, kept for tests: what each user was allowed
//! and by which rule ([`Grant`]), and every 403 ([`Denial`]), so a test can
//! tell which rules its scenarios needed and that none was missing.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::rbac::RoleId;
use crate::user::User;

/// A request RBAC allowed, and the rule that allowed it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    /// The user's name.
    pub user: String,
    pub verb: String,
    /// API group, `""` for core and for a non-resource URL.
    pub group: String,
    /// `plural`, `plural/subresource`, or the path of a non-resource URL.
    pub resource: String,
    /// `None` for cluster-scoped requests and non-resource URLs.
    pub namespace: Option<String>,
    /// The role whose rule allowed it.
    pub role: RoleId,
    /// The rule's index in the role's `rules`.
    pub rule: usize,
    /// Asked by a SelfSubjectAccessReview rather than done.
    pub by_review: bool,
}

/// A request answered 403 Forbidden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub user: String,
    /// The pod the user's token is bound to, if any.
    pub pod: Option<String>,
    /// The Forbidden Status' message, naming verb, resource and scope.
    pub message: String,
    /// Taken away by [`crate::FakeApi::deny`] (a test's doing), not by RBAC.
    pub by_rule: bool,
}

/// Whether RBAC is enforced, and what it decided so far.
#[derive(Debug, Default)]
pub(crate) struct Authz {
    pub enforced: AtomicBool,
    pub grants: Mutex<BTreeSet<Grant>>,
    pub denials: Mutex<Vec<Denial>>,
    /// Bearer tokens the served fake authenticates, like a static token file.
    pub tokens: Mutex<HashMap<String, User>>,
}

impl Authz {
    pub fn enforced(&self) -> bool {
        self.enforced.load(Ordering::Relaxed)
    }
}
