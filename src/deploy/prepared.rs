//! Everything a deploy needs before it touches a cluster.

use std::collections::BTreeMap;

use super::notify::Outbox;
use super::target::Release;
use crate::config::{Environment, Service};
use crate::gitops::ledger::EnvironmentRecord;
use crate::gitops::source::Commit;
use crate::render::Helm;

/// Everything a deploy needs, prepared before any cluster is touched.
pub(super) struct Prepared {
    pub commit: Commit,
    pub environment: Environment,
    pub releases: BTreeMap<String, Release>,
    /// Kept for `--on-failure rollback`, which renders previous revisions.
    pub service: Service,
    pub helm: Helm,
    /// The environment's intended revision before this deploy, where
    /// `--on-failure rollback` returns it.
    pub previous_intent: Option<EnvironmentRecord>,
    /// Where the waves' events go.
    pub outbox: Outbox,
}
