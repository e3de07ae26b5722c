//! What the platform must make true: ReplicaSets and their replicas,
//! Services' hashes, traffic weight, analysis runs, the `workloadRef`
//! Deployment's replicas.

use jiff::Timestamp;

use crate::crd::analysis::AnalysisArg;
use crate::crd::rollout::AnalysisTemplateRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredReplicaSet {
    pub hash: String,
    /// Its revision number: the one it has, or the one to create it
    /// with; the template's ReplicaSet always has the highest.
    pub revision: u64,
    pub replicas: i32,
    pub scale_down_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Step(usize),
    Background,
    PrePromotion,
    PostPromotion,
}

/// An analysis run that must exist and keep running; runs of the rollout
/// not listed are to be terminated.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredAnalysisRun {
    pub name: String,
    pub kind: RunKind,
    pub hash: String,
    pub templates: Vec<AnalysisTemplateRef>,
    pub args: Vec<AnalysisArg>,
}

/// What the platform must make true.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Desired {
    /// Every ReplicaSet to keep, with its replicas (0 to scale down).
    pub replica_sets: Vec<DesiredReplicaSet>,
    /// Traffic percentage for the canary (or preview); the rest goes to stable.
    pub canary_weight: i32,
    /// Hash the stable (canary) or active (blue-green) service selects.
    /// It and `canary_hash` have ready pods whenever the rollout has any;
    /// platforms write them as they are.
    pub stable_hash: Option<String>,
    /// Hash the canary (canary) or preview (blue-green) service selects:
    /// the stable one's once the rollout is aborted.
    pub canary_hash: Option<String>,
    pub analysis_runs: Vec<DesiredAnalysisRun>,
    /// Undo: replace the spec's template with this ReplicaSet's.
    pub rollback_to: Option<String>,
    /// `spec.restartAt` once it has come: pods created before it are to
    /// be restarted, a few at a time, as `restart_pods` says.
    pub restart_pods_before: Option<Timestamp>,
    /// The pods to restart (delete, for their ReplicaSet to replace) now.
    pub restart_pods: Vec<String>,
    /// Replicas to set on the Deployment a `workloadRef` names; `None`
    /// when there is none or it is to stay as it is.
    pub workload_replicas: Option<i32>,
    /// Decide again after this many milliseconds even if nothing changes.
    pub requeue_after_ms: Option<i64>,
}

impl Desired {
    pub(super) fn requeue_in(&mut self, millis: i64) {
        let millis = millis.max(1);
        self.requeue_after_ms = Some(self.requeue_after_ms.map_or(millis, |m| m.min(millis)));
    }
}
