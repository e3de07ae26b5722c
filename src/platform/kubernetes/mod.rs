//! The operator: Rollouts and AnalysisRuns made real in a Kubernetes
//! cluster through `kube::Client`.
//!
//! ```text
//!   watch Rollouts, owned ReplicaSets and AnalysisRuns (index), and the
//!   Services, routers' objects, Deployments rollouts name (lookups)
//!     └─▶ reconcile: read ─▶ validate + decide (engine) ─▶ apply (writes) ─▶ status + Events
//!   watch AnalysisRuns
//!     └─▶ measure what is due (analysis) ─▶ status ─▶ requeue at the next measurement
//! ```
//! Every write is a named function of [`writes`] and names its field
//! manager, so `kubectl get -o yaml --show-managed-fields` tells who set
//! what.

pub mod analysis_controller;
pub mod analysis_runs;
pub mod cache;
pub mod cached_rollout;
pub mod controller;
pub mod events;
pub mod experiment_controller;
pub mod experiments;
pub mod index;
pub mod leader;
pub mod lookups;
pub mod metric_jobs;
pub mod metrics;
pub mod named_index;
pub mod observe;
pub mod owned_replica_set;
pub mod replica_sets;
pub mod requests;
pub mod rollout_controller;
pub mod router_objects;
pub mod routers;
pub mod secrets;
pub mod server;
pub mod watch_backoff;
pub mod writes;

/// Selects a revision's pods; also pinned into the stable and canary Services.
pub const HASH_LABEL: &str = "conductor.dev/pod-template-hash";
/// Marks what a rollout owns, so watches can skip everything else.
pub const ROLLOUT_LABEL: &str = "conductor.dev/rollout";
/// Marks what an Experiment owns (its ReplicaSets and analysis runs).
pub const EXPERIMENT_LABEL: &str = "conductor.dev/experiment";
/// A ReplicaSet's revision number within its Rollout (1, 2, 3, ... as
/// `deployment.kubernetes.io/revision` numbers a Deployment's); higher is
/// newer.
pub const REPLICA_SET_REVISION_ANNOTATION: &str = "conductor.dev/replicaset-revision";
/// Where controllers before `conductor.dev/replicaset-revision` wrote a
/// ReplicaSet's revision number. Read only when the new key is absent and
/// it holds a number; removed whenever the controller writes the new key.
pub const LEGACY_REPLICA_SET_REVISION_ANNOTATION: &str = "conductor.dev/revision";
/// The human revision (image tag or git sha) of a ReplicaSet.
pub const LABEL_ANNOTATION: &str = "conductor.dev/revision-label";
/// When a ReplicaSet is due to scale down to zero.
pub const SCALE_DOWN_AT_ANNOTATION: &str = "conductor.dev/scale-down-at";
/// A pod template annotation naming the revision people see, e.g. the git
/// sha the chart was rendered at (else the first image's tag is shown).
pub const TEMPLATE_REVISION_ANNOTATION: &str = "conductor.dev/revision";

/// Field managers, one per writer (see [`writes`]).
pub mod managers {
    /// A Rollout's status.
    pub const STATUS: &str = "conductor-status";
    /// A revision's ReplicaSet, whole, once.
    pub const REPLICA_SETS: &str = "conductor-replicasets";
    /// A ReplicaSet's replicas, revision number and scale-down time.
    pub const SCALE: &str = "conductor-scale";
    /// The pod-template hash in stable, canary, active and preview Services.
    pub const SERVICES: &str = "conductor-services";
    /// Traffic weights: HTTPRoute backends, canary Ingresses.
    pub const ROUTER: &str = "conductor-router";
    /// An AnalysisRun, whole, once.
    pub const ANALYSIS_RUNS: &str = "conductor-analysisruns";
    /// An AnalysisRun's `spec.terminate`.
    pub const TERMINATE: &str = "conductor-terminate";
    /// An AnalysisRun's status.
    pub const ANALYSIS: &str = "conductor-analysis";
    /// An Experiment a canary step runs, whole, once.
    pub const EXPERIMENTS: &str = "conductor-experiments";
    /// An Experiment's status.
    pub const EXPERIMENT: &str = "conductor-experiment";
    /// The `workloadRef` Deployment's replicas.
    pub const WORKLOAD: &str = "conductor-workload";
    /// Undo's write of an older template into the Rollout.
    pub const UNDO: &str = "conductor-undo";
    /// `conductor rollout` requests and restarts.
    pub const CLI: &str = "conductor-cli";
    pub const LEADER: &str = "conductor-leader";

    /// The managers whose fields change while a rollout runs: a deploy
    /// applying the same objects leaves these fields to them.
    pub const RUNTIME: [&str; 8] = [
        STATUS,
        REPLICA_SETS,
        SCALE,
        SERVICES,
        ROUTER,
        ANALYSIS,
        TERMINATE,
        WORKLOAD,
    ];
}

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("kubernetes api: {0}")]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("waiting for the {0} cache to fill")]
    NotSynced(&'static str),
    /// The spec names something that is not there or cannot be used: the
    /// rollout reports it as `InvalidSpec` instead of retrying.
    #[error(transparent)]
    Spec(#[from] crate::crd::problem::SpecProblem),
}

impl KubeError {
    /// A short label for metrics; never an object name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Api(kube::Error::Api(status)) if status.code == 409 => "conflict",
            Self::Api(kube::Error::Api(status)) if status.code >= 500 => "server",
            Self::Api(kube::Error::Api(_)) => "api",
            Self::Api(_) => "transport",
            Self::Invalid(_) => "invalid",
            Self::NotSynced(_) => "not_synced",
            Self::Spec(_) => "spec",
        }
    }
}

/// Reconciles in flight at once per controller: enough to keep the API
/// server busy, few enough that a storm of events cannot open thousands
/// of connections and starve the watches that keep the caches fresh.
pub const CONCURRENCY: u16 = 32;

/// When to try again after a failed reconcile: soon for a cache still
/// filling or a lost write race, a few seconds for anything else.
pub fn retry_after(error: &KubeError) -> kube::runtime::controller::Action {
    use kube::runtime::controller::Action;
    use std::time::Duration;
    match error {
        KubeError::NotSynced(_) => Action::requeue(Duration::from_millis(200)),
        // Someone wrote first, most often our own previous status write
        // whose watch event has not arrived yet: that event brings the
        // fresh object and its own reconcile, so retrying at once would only
        // conflict again. The requeue is the backstop.
        KubeError::Api(e) if is_conflict(e) => Action::requeue(Duration::from_secs(2)),
        _ => {
            tracing::warn!(%error, "reconcile failed");
            Action::requeue(Duration::from_secs(5))
        }
    }
}

/// True for a 409 from the API server: someone else wrote first.
pub fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

pub fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}
