//! The operator: Rollouts and AnalysisRuns made real in a Kubernetes
//! cluster through `kube::Client`.
//!
//! ```text
//!   watch Rollouts, owned ReplicaSets and AnalysisRuns (index), and the
//!   Services, routers' objects, Deployments rollouts name (lookups)
//!     └─▶ reconcile: read ─▶ dereference (routers::first_missing)
//!           ─▶ validate + decide (engine) ─▶ apply (writes) ─▶ status + Events
//!   an object a waiting rollout names appears (waiters) ─▶ reconcile it
//!   a request refused, an object missing ─▶ the engine holds the rollout,
//!     visibly, and retries with backoff until the progress deadline
//!   watch AnalysisRuns
//!     └─▶ measure what is due (analysis) ─▶ status ─▶ requeue at the next measurement
//! ```
//! Every write is a named function of [`writes`] and names its field
//! manager, so `kubectl get -o yaml --show-managed-fields` tells who set
//! what.

pub mod analysis_controller;
pub mod analysis_runs;
pub mod anti_affinity;
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
pub mod refusals;
pub mod replica_sets;
pub mod requests;
pub mod rollout_controller;
pub mod router_objects;
pub mod routers;
pub mod secrets;
pub mod server;
pub mod waiters;
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
    /// The spec asks for something that cannot be used: the rollout
    /// reports it as `InvalidSpec` instead of retrying.
    #[error(transparent)]
    Spec(#[from] crate::crd::problem::SpecProblem),
    /// The spec names an object that is not there (yet): the rollout
    /// waits for it.
    #[error("{0}")]
    Missing(Box<crate::engine::MissingReference>),
    /// The API server refused a request: the rollout says so and retries
    /// with backoff.
    #[error(transparent)]
    Refused(Box<Refused>),
}

/// What a request was for, to name it if the API server refuses it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// `create`, `get`, `update`, `delete`...
    pub verb: &'static str,
    pub kind: &'a str,
    /// Empty for a cluster-scoped object.
    pub namespace: &'a str,
    pub name: &'a str,
}

impl<'a> Target<'a> {
    pub fn new(verb: &'static str, kind: &'a str, namespace: &'a str, name: &'a str) -> Self {
        Self {
            verb,
            kind,
            namespace,
            name,
        }
    }
}

/// A request the API server answered in a way that asking again will not
/// change: the object is invalid (400, 422), the caller may not (401,
/// 403), the method or media type is not allowed (405, 415), or the API is
/// not served at all (404 without a `NotFound` status: the plain
/// `404 page not found` of a group or version nobody installed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct Refused {
    pub verb: &'static str,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub code: u16,
    /// The `Status` reason, e.g. `BadRequest`, `Forbidden`.
    pub reason: String,
    pub message: String,
}

impl Refused {
    /// The request's API is not served: its CRD is not installed.
    pub fn not_served(&self) -> bool {
        self.code == 404
    }

    /// The Progressing condition's and the Event's reason for it.
    pub fn reason(&self) -> crate::engine::RefusalReason {
        use crate::engine::RefusalReason;
        if self.not_served() {
            RefusalReason::ApiNotServed
        } else if self.verb == "create" && self.kind == "ReplicaSet" {
            RefusalReason::ReplicaSetCreateError
        } else {
            RefusalReason::ApiRefused
        }
    }

    fn describe(&self) -> String {
        let place = if self.namespace.is_empty() {
            String::new()
        } else {
            format!(" in namespace {}", self.namespace)
        };
        let what = format!("{} {}{place}", self.kind, self.name);
        if self.not_served() {
            let answer = if self.message.is_empty() {
                self.code.to_string()
            } else {
                self.message.clone()
            };
            format!(
                "cannot {} {what}: the API server does not serve {} objects ({answer}); \
                 is their CRD installed?",
                self.verb, self.kind
            )
        } else {
            format!(
                "the API server refused to {} {what}: {} {}: {}",
                self.verb, self.code, self.reason, self.message
            )
        }
    }
}

/// True for an answer that asking again will not change (see [`Refused`]).
pub fn is_refusal(error: &kube::Error) -> bool {
    let kube::Error::Api(status) = error else {
        return false;
    };
    match status.code {
        404 => !status.is_not_found(),
        400 | 401 | 403 | 405 | 406 | 413 | 415 | 422 => true,
        _ => false,
    }
}

impl KubeError {
    /// `error`, from a request for `target`: [`KubeError::Refused`] when
    /// the API server refused it, else as it is.
    pub fn from_request(error: kube::Error, target: Target<'_>) -> Self {
        match &error {
            kube::Error::Api(status) if is_refusal(&error) => Self::Refused(Box::new(Refused {
                verb: target.verb,
                kind: target.kind.to_owned(),
                namespace: target.namespace.to_owned(),
                name: target.name.to_owned(),
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            })),
            _ => Self::Api(error),
        }
    }

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
            Self::Missing(_) => "missing",
            Self::Refused(_) => "refused",
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

/// True for a 404 about the object: not for the plain `404 page not
/// found` of an API that is not served, which no write can work around.
pub fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.is_not_found())
}
