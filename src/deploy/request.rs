//! What CI asks a deploy for.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::gitops::ordering::Intent;

/// What CI asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub repo: PathBuf,
    pub service: String,
    pub environment: String,
    /// As the user gave it; rendered into the chart's `revisionValue`.
    pub revision: String,
    /// The service's source repository, where the revision is resolved.
    pub source: PathBuf,
    pub intent: Intent,
    pub on_failure: OnFailure,
    /// How long one cluster may take to become Healthy.
    pub timeout: Duration,
    /// Who deploys: `--by`, or the CI job's URL.
    pub by: String,
    /// How often a cluster's health is looked at.
    pub poll: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OnFailure {
    /// Leave every cluster where it is.
    Stop,
    /// Return the clusters this deploy moved to their previous revision.
    Rollback,
}
