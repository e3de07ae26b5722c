//! The one contract between the orchestrator and a cluster: check it,
//! apply a release to it, and say how the release is doing there. The
//! Kubernetes adapter implements it per kubeconfig context; local clusters
//! (the embedded default) can implement it with processes.

use std::future::Future;

use serde::Serialize;

use super::hooks::Hook;
use crate::config::Cluster;
use crate::engine::Outcome;
use crate::gitops::ledger::ObjectRef;
use crate::render::RenderedObject;

/// What one cluster receives in this deploy.
#[derive(Debug, Clone)]
pub struct Release {
    pub service: String,
    pub environment: String,
    pub cluster: Cluster,
    /// Full commit sha.
    pub revision: String,
    /// The revision as rendered into the chart (image tag), as the user gave it.
    pub label: String,
    /// The environment generation this deploy runs under: every applied
    /// object carries it, and an object carrying a newer one is never
    /// overwritten.
    pub generation: u64,
    /// A step back: `--rollback-to`, or `--on-failure rollback` returning a
    /// cluster to its previous revision.
    pub rollback: bool,
    /// `sha256:` of the rendered manifests, recorded in the ledger.
    pub digest: String,
    /// What the release consists of (hooks excluded).
    pub objects: Vec<RenderedObject>,
    /// Hooks run before `objects` are applied, as the deploy's event
    /// chooses (`hooks::to_run`).
    pub hooks: Vec<Hook>,
}

/// How a hook's run is going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookStatus {
    Running {
        detail: String,
    },
    Succeeded,
    Failed {
        reason: String,
    },
    /// A newer deploy has replaced the hook with its own.
    Superseded {
        generation: u64,
    },
    /// The hook's object is gone before it finished: a newer deploy may be
    /// replacing it (Helm's before-hook-creation), or someone deleted it.
    Gone,
}

/// How the release is doing in one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Still rolling out; what it waits for, in words (step, weight,
    /// analysis values).
    Progressing { detail: String },
    /// Every rollout and deployment of the release is done at this
    /// revision, for the spec this deploy applied.
    Healthy,
    /// A rollout rolled back (its analysis failed) or a deployment stalled;
    /// the measurement that decided it, when an analysis did.
    Degraded {
        reason: String,
        measurement: Option<FailedMeasurement>,
    },
    /// The cluster's objects carry a newer deploy generation: a newer
    /// deploy has taken over.
    Superseded { generation: u64 },
    /// An older deploy's apply landed after this one's (two deploys
    /// creating an object at the same instant): the newer re-applies.
    Overwritten { generation: u64 },
}

impl Health {
    /// How a release is doing by its Rollout's outcome, whatever runs it:
    /// `analysis` is the running analysis' latest values, `measurement` the
    /// one that failed it.
    pub fn of_rollout(
        name: &str,
        outcome: &Outcome,
        label: &str,
        analysis: Option<String>,
        measurement: Option<FailedMeasurement>,
    ) -> Health {
        match outcome {
            Outcome::Healthy { revision } if revision == label => Health::Healthy,
            Outcome::Healthy { revision } => Health::Progressing {
                detail: format!("Rollout {name} is Healthy at {revision}, not {label}"),
            },
            Outcome::Degraded { reason } => Health::Degraded {
                reason: format!("Rollout {name}: {reason}"),
                measurement,
            },
            Outcome::Paused { message } => Health::Progressing {
                detail: format!("Rollout {name} paused: {message}"),
            },
            Outcome::Progressing { waiting, .. } => {
                let mut detail = format!("Rollout {name}{}", outcome.position());
                if let Some(values) = analysis {
                    detail.push_str(&format!(" analysis {values}"));
                }
                detail.push_str(&format!(": {waiting}"));
                Health::Progressing { detail }
            }
        }
    }
}

/// The analysis measurement that failed a rollout: which metric, the value
/// it measured, and the condition that value was judged by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedMeasurement {
    pub analysis_run: String,
    pub metric: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Why it failed, in the analysis' words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl std::fmt::Display for FailedMeasurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.metric)?;
        if let Some(value) = &self.value {
            write!(f, " = {value}")?;
        }
        if let Some(condition) = &self.condition {
            write!(f, " ({condition})")?;
        }
        Ok(())
    }
}

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Every object of the release, as applied.
    pub objects: Vec<ObjectRef>,
    /// Objects the previous deploy applied that this release no longer has.
    pub pruned: Vec<ObjectRef>,
    /// Fields left to the controller that sets them at runtime, as
    /// `Kind name: .field (manager)`.
    pub yielded: Vec<String>,
    /// A newer deploy's generation found on an object: nothing more was
    /// applied.
    pub superseded_by: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("cluster {cluster}: {message}")]
    Cluster { cluster: String, message: String },
}

pub trait ClusterTarget: Send + Sync + 'static {
    fn name(&self) -> &str;

    /// Every reason this release cannot be applied here, checked without
    /// writing anything; empty when it can.
    fn preflight(&self, release: &Release) -> impl Future<Output = Vec<String>> + Send;

    /// Applies the release and prunes what `previous` had that it no
    /// longer has.
    fn apply(
        &self,
        release: &Release,
        previous: &[ObjectRef],
    ) -> impl Future<Output = Result<Applied, TargetError>> + Send;

    /// One look at how the release is doing.
    fn health(&self, release: &Release)
    -> impl Future<Output = Result<Health, TargetError>> + Send;

    /// Starts one hook of the release (after deleting the previous run's
    /// object when its policy says so); the newer deploy generation found
    /// on it instead, if one has taken over.
    fn start_hook(
        &self,
        release: &Release,
        hook: &Hook,
    ) -> impl Future<Output = Result<Option<u64>, TargetError>> + Send;

    /// One look at a started hook that runs (a Job or a Pod).
    fn hook_status(
        &self,
        release: &Release,
        hook: &Hook,
    ) -> impl Future<Output = Result<HookStatus, TargetError>> + Send;

    /// Deletes a finished hook's object when its policy says so.
    fn finish_hook(
        &self,
        release: &Release,
        hook: &Hook,
        succeeded: bool,
    ) -> impl Future<Output = Result<(), TargetError>> + Send;
}
