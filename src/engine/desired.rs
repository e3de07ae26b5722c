//! What the platform must make true: ReplicaSets and their replicas,
//! Services' hashes, traffic weight and the header and mirror routes,
//! analysis runs, the `workloadRef` Deployment's replicas.

use jiff::Timestamp;

use crate::crd::analysis::{AnalysisArg, DryRun, MeasurementRetention};
use crate::crd::experiment::RolloutExperiment;
use crate::crd::rollout::{AnalysisRunMetadata, AnalysisTemplateRef};
use crate::crd::traffic::{HeaderRoutingMatch, RouteMatch};

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
    /// The rollout's `dryRun`, `measurementRetention` and
    /// `analysisRunMetadata` for it.
    pub dry_run: Vec<DryRun>,
    pub measurement_retention: Vec<MeasurementRetention>,
    pub metadata: Option<AnalysisRunMetadata>,
}

/// An Experiment a canary step runs, which must exist and keep running;
/// experiments of the rollout not listed are to be terminated.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredExperiment {
    pub name: String,
    /// The index of the step that runs it.
    pub step: usize,
    /// The ReplicaSets whose templates `specRef: canary` and `specRef:
    /// stable` copy.
    pub canary_hash: String,
    pub stable_hash: String,
    pub experiment: RolloutExperiment,
}

/// A route a `setHeaderRoute` or `setMirrorRoute` step set up, which the
/// traffic router keeps in front of its weighted routes.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredRoute {
    /// Its name in `trafficRouting.managedRoutes`.
    pub name: String,
    pub kind: RouteKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RouteKind {
    /// Requests matching every header go to the canary.
    Header(Vec<HeaderRoutingMatch>),
    /// `percentage` of the requests matching any of `matches` are copied
    /// to the canary; the answer still comes from the weighted split.
    Mirror {
        matches: Vec<RouteMatch>,
        percentage: i32,
    },
}

/// What the platform must make true.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// Every ReplicaSet to keep, with its replicas (0 to scale down).
    pub replica_sets: Vec<DesiredReplicaSet>,
    /// Traffic for the canary (or preview), out of `weight_total`; the rest
    /// goes to stable.
    pub canary_weight: i32,
    /// What the weights add up to: `trafficRouting.maxTrafficWeight`, 100
    /// when unset.
    pub weight_total: i32,
    /// The header and mirror routes to keep, in `managedRoutes` order;
    /// routes of the rollout not listed are to be removed.
    pub managed_routes: Vec<DesiredRoute>,
    /// Hash the stable (canary) or active (blue-green) service selects.
    /// It and `canary_hash` have ready pods whenever the rollout has any;
    /// platforms write them as they are.
    pub stable_hash: Option<String>,
    /// Hash the canary (canary) or preview (blue-green) service selects:
    /// the stable one's once the rollout is aborted.
    pub canary_hash: Option<String>,
    pub analysis_runs: Vec<DesiredAnalysisRun>,
    pub experiments: Vec<DesiredExperiment>,
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

impl Default for Desired {
    fn default() -> Self {
        Self {
            replica_sets: Vec::new(),
            canary_weight: 0,
            weight_total: 100,
            managed_routes: Vec::new(),
            stable_hash: None,
            canary_hash: None,
            analysis_runs: Vec::new(),
            experiments: Vec::new(),
            rollback_to: None,
            restart_pods_before: None,
            restart_pods: Vec::new(),
            workload_replicas: None,
            requeue_after_ms: None,
        }
    }
}

impl Desired {
    /// The stable side's weight: what the canary does not take.
    pub fn stable_weight(&self) -> i32 {
        self.weight_total - self.canary_weight
    }

    pub(super) fn requeue_in(&mut self, millis: i64) {
        let millis = millis.max(1);
        self.requeue_after_ms = Some(self.requeue_after_ms.map_or(millis, |m| m.min(millis)));
    }
}
