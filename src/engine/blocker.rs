//! What keeps a decision from being made real for now: an object the spec
//! names that is not there (yet), or a request the platform's API server
//! refused. Neither is a fault of the spec: the rollout holds where it is,
//! says why, retries with a growing interval, and fails only when its
//! progress deadline passes (as Deployments report `ReplicaSetCreateError`
//! and go on waiting).

use std::fmt;

/// An object the spec names that does not exist: a Service, a route, an
/// Ingress, an analysis template, a `workloadRef` Deployment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MissingReference {
    /// The field that names it, e.g. `spec.strategy.canary.stableService`.
    pub field: String,
    /// e.g. `Service`, `HTTPRoute`, `AnalysisTemplate`.
    pub kind: String,
    /// `None` for a cluster-scoped kind (`ClusterAnalysisTemplate`).
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for MissingReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "waiting for {} {}", self.kind, self.name)?;
        if let Some(namespace) = &self.namespace {
            write!(f, " in namespace {namespace}")?;
        }
        write!(f, " (named by {}): not found", self.field)
    }
}

/// Why the API server would not do what a decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// The revision's ReplicaSet was refused (Argo Rollouts' and
    /// Deployments' name for it).
    ReplicaSetCreateError,
    /// Any other request refused: invalid, forbidden, not allowed.
    ApiRefused,
    /// The API the request needs is not served (its CRD is not installed).
    ApiNotServed,
}

impl RefusalReason {
    pub const ALL: [Self; 3] = [
        Self::ReplicaSetCreateError,
        Self::ApiRefused,
        Self::ApiNotServed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReplicaSetCreateError => "ReplicaSetCreateError",
            Self::ApiRefused => "ApiRefused",
            Self::ApiNotServed => "ApiNotServed",
        }
    }
}

/// A request refused, in words naming the object and the server's answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Refusal {
    pub reason: RefusalReason,
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Blocker {
    Missing(MissingReference),
    Refused(Refusal),
}

/// The Progressing condition's reason while a rollout waits for a reference.
pub const WAITING_FOR_REFERENCE: &str = "WaitingForReference";

impl Blocker {
    /// The Progressing condition's reason and the Event's.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing(_) => WAITING_FOR_REFERENCE,
            Self::Refused(refusal) => refusal.reason.as_str(),
        }
    }

    /// Whether a Progressing condition's reason is a blocked rollout's.
    pub fn is_reason(reason: &str) -> bool {
        reason == WAITING_FOR_REFERENCE || RefusalReason::ALL.iter().any(|r| r.as_str() == reason)
    }
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(missing) => missing.fmt(f),
            Self::Refused(refusal) => refusal.fmt(f),
        }
    }
}

/// The first retry of a blocked rollout comes after this long...
pub const RETRY_MIN_MS: i64 = 5_000;
/// ...and the interval doubles up to this.
pub const RETRY_MAX_MS: i64 = 300_000;

/// How long to wait before trying again, `blocked_ms` into a block: as
/// long as it has lasted, within bounds, so the interval doubles from try
/// to try with no counter to keep (the block's start is in the status).
pub fn retry_after(blocked_ms: i64) -> i64 {
    blocked_ms.clamp(RETRY_MIN_MS, RETRY_MAX_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_five_seconds_to_five_minutes() {
        let mut at = 0;
        let mut waits = Vec::new();
        while at < 1_000_000 {
            let wait = retry_after(at);
            waits.push(wait / 1000);
            at += wait;
        }
        assert_eq!(&waits[..8], &[5, 5, 10, 20, 40, 80, 160, 300], "{waits:?}");
        assert!(waits.iter().all(|w| *w <= 300));
    }

    #[test]
    fn messages_name_the_object_and_the_field() {
        let missing = Blocker::Missing(MissingReference {
            field: "spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute".into(),
            kind: "HTTPRoute".into(),
            namespace: Some("shop".into()),
            name: "web".into(),
        });
        assert_eq!(
            missing.to_string(),
            "waiting for HTTPRoute web in namespace shop \
             (named by spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute): not found"
        );
        assert_eq!(missing.reason(), "WaitingForReference");
        assert!(Blocker::is_reason("ApiNotServed"));
        assert!(!Blocker::is_reason("RolloutProgressing"));
    }
}
