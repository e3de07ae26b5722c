//! What the platform saw: the rollout's ReplicaSets and analysis runs, and
//! what people asked for.

use jiff::Timestamp;

use super::blocker::Blocker;
use crate::crd::analysis::AnalysisPhase;
use crate::crd::problem::SpecProblem;
use crate::crd::rollout::AnalysisTemplateRef;

/// A ReplicaSet of the rollout, as the platform sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicaSetState {
    /// Pod-template hash: the identity of a revision, as its creator
    /// computed it; its pods' selector holds it, so it never changes.
    pub hash: String,
    /// The hash of its template as it is now, when the platform can tell.
    /// It differs from `hash` for a ReplicaSet named from a template before
    /// server defaults were taken into account; see [`template_replica_set`].
    pub template: Option<String>,
    /// Human revision (image tag or git sha) of its template.
    pub label: String,
    /// Rollout revision number; higher is newer. Going back to an old
    /// template makes its ReplicaSet the newest revision again.
    pub revision: u64,
    /// When the ReplicaSet was created; unlike `revision`, never changes.
    pub created_at: Option<Timestamp>,
    /// Replicas asked of it.
    pub replicas: i32,
    pub ready: i32,
    pub available: i32,
    /// When it is due to scale down to zero, if a delay is running.
    pub scale_down_at: Option<Timestamp>,
}

/// A pod of the rollout, as the platform sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodState {
    pub name: String,
    /// The pod-template hash of its ReplicaSet.
    pub hash: String,
    pub created_at: Option<Timestamp>,
    /// Already being deleted.
    pub terminating: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisRunState {
    pub name: String,
    pub phase: AnalysisPhase,
    pub message: Option<String>,
}

/// An Experiment of the rollout, as the platform sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentState {
    pub name: String,
    pub phase: AnalysisPhase,
    pub message: Option<String>,
}

/// Something a person or CI asked for; each is acted on once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Go to the next step (or, in blue-green, promote now).
    Promote,
    /// Skip every remaining step and analysis.
    PromoteFull,
    Abort,
    /// Start the aborted revision's steps again.
    Retry,
    /// Roll the template back to the previous revision.
    Undo,
}

/// What the platform saw this time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// The rollout's name; analysis runs are named after it.
    pub name: String,
    pub generation: i64,
    /// Pod-template hash of the spec's template now. [`decide`] reads it
    /// as the name of the ReplicaSet running that template, if one does.
    pub template_hash: String,
    /// Human revision of the spec's template now.
    pub template_label: String,
    pub replica_sets: Vec<ReplicaSetState>,
    /// The rollout's pods, when the platform looks at them: it must while
    /// `spec.restartAt` is set, which is what the engine reads them for.
    pub pods: Vec<PodState>,
    pub analysis_runs: Vec<AnalysisRunState>,
    pub experiments: Vec<ExperimentState>,
    /// The canary weight the traffic router reports; `None` when the
    /// platform routes by replica ratio or applies weights synchronously.
    pub traffic_weight: Option<i32>,
    /// Analysis templates that exist, when the platform knows; references
    /// to others make the spec invalid.
    pub known_templates: Option<Vec<AnalysisTemplateRef>>,
    pub requests: Vec<Request>,
    /// A problem the platform found with the spec that the engine cannot
    /// see (a `workloadRef` of a kind it cannot run, a TrafficSplit it does
    /// not own); the rollout is invalid until it is fixed.
    pub problem: Option<SpecProblem>,
    /// The `spec.replicas` of the Deployment a `workloadRef` names, when
    /// the rollout has one and the platform read it.
    pub workload_replicas: Option<i32>,
    /// What keeps the platform from acting for now (an object the spec
    /// names is missing, the API server refused a request): the rollout
    /// holds and waits, failing only at its progress deadline.
    pub blocker: Option<Blocker>,
}

impl Observed {
    pub fn replica_set(&self, hash: &str) -> Option<&ReplicaSetState> {
        self.replica_sets.iter().find(|rs| rs.hash == hash)
    }

    pub(super) fn available(&self, hash: &str) -> i32 {
        self.replica_set(hash).map_or(0, |rs| rs.available)
    }

    pub(super) fn analysis_run(&self, name: &str) -> Option<&AnalysisRunState> {
        self.analysis_runs.iter().find(|r| r.name == name)
    }

    pub(super) fn experiment(&self, name: &str) -> Option<&ExperimentState> {
        self.experiments.iter().find(|e| e.name == name)
    }
}
