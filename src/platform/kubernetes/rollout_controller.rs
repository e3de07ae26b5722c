//! The Rollout controller: one reconcile is read → decide (the engine,
//! which also validates) → apply → status, and Events for what was decided.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, Stream, StreamExt, TryStreamExt};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType as KubeEventType};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{info, warn};

use super::analysis_runs::{self, Templates};
use super::cache;
use super::cached_rollout::CachedRollout;
use super::events::Events;
use super::index::OwnedIndex;
use super::lookups::Lookups;
use super::metrics::Metrics;
use super::observe::{self, Inputs, WorkloadTemplate};
use super::owned_replica_set::OwnedReplicaSet;
use super::refusals::Refusals;
use super::waiters::{Awaited, Waiters};
use super::watch_backoff::backed_off;
use super::{
    HASH_LABEL, KubeError, ROLLOUT_LABEL, experiments, replica_sets, requests, routers, writes,
};
use crate::crd::analysis::AnalysisRun;
use crate::crd::experiment::Experiment;
use crate::crd::problem::SpecProblem;
use crate::crd::rollout::{Rollout, RolloutStatus};
use crate::engine::{self, Blocker, Decision, EventType, Observed, Refusal};

const NAME: &str = "rollout";
/// Re-decide this often even when nothing changes: clocks (pauses,
/// deadlines) are covered by the engine's own requeues; this is the safety net.
const RESYNC: Duration = Duration::from_secs(300);

/// The rollout controller's shared state: what every Rollout reconcile
/// reads and writes through.
pub struct RolloutControllerState {
    pub client: Client,
    /// The Services, routes and Deployments rollouts name.
    pub lookups: Lookups,
    pub replica_sets: OwnedIndex<OwnedReplicaSet>,
    pub analysis_runs: OwnedIndex<AnalysisRun>,
    pub experiments: OwnedIndex<Experiment>,
    pub templates: Templates,
    pub events: Events,
    pub metrics: Arc<Metrics>,
    /// The rollouts waiting for an object, reconciled when it comes.
    pub waiters: Waiters,
    /// Refusals that hold no rollout (its own status write refused).
    pub refusals: Refusals,
}

/// Watches owned objects (only those carrying our label) into an index
/// and yields each change as a trigger for its owner's reconcile. Not the
/// objects of a (re)list: they arrive before the index swaps the list in,
/// so a reconcile they trigger would read the index from before it; the
/// controller reconciles every rollout once a relist is whole instead
/// (`relists`).
pub fn owned_stream<K, V>(
    api: Api<K>,
    index: OwnedIndex<V>,
    project: fn(&K) -> V,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: cache::Cacheable,
    V: Send + Sync + 'static,
{
    let config = watcher::Config::default()
        .labels(ROLLOUT_LABEL)
        .any_semantic();
    backed_off(watcher(api, config)).try_filter_map(move |event| {
        index.apply(&event, project);
        let changed = match event {
            Event::Apply(object) | Event::Delete(object) => Some(object),
            Event::Init | Event::InitApply(_) | Event::InitDone => None,
        };
        std::future::ready(Ok(changed))
    })
}

impl RolloutControllerState {
    /// Yields after a relist of the ReplicaSets, AnalysisRuns, Experiments
    /// or Deployments the controller indexes: what changed while the watch
    /// was away came with the relist, not as events, so every rollout is
    /// decided again on the whole new list.
    fn relists(&self) -> impl Stream<Item = ()> + Send + 'static {
        futures_util::stream::select_all([
            self.replica_sets.relists().boxed(),
            self.analysis_runs.relists().boxed(),
            self.experiments.relists().boxed(),
            self.lookups.deployment_relists().boxed(),
        ])
    }
}

impl RolloutControllerState {
    /// Returns once the ReplicaSets, AnalysisRuns and the objects rollouts
    /// name have been listed: before, an empty index means "unknown", not
    /// "none".
    pub fn owned_objects_listed(&self) -> impl Future<Output = ()> + Send + 'static {
        let (replica_sets, runs) = (self.replica_sets.clone(), self.analysis_runs.clone());
        let experiments = self.experiments.clone();
        let named = self.lookups.listed();
        async move {
            replica_sets.wait_synced().await;
            runs.wait_synced().await;
            experiments.wait_synced().await;
            named.await;
        }
    }
}

pub fn controller(
    rollouts: Api<CachedRollout>,
    owned_replica_sets: Api<ReplicaSet>,
    owned_runs: Api<AnalysisRun>,
    owned_experiments: Api<Experiment>,
    namespace: Option<&str>,
    ctx: Arc<RolloutControllerState>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> (
    kube::runtime::reflector::Store<CachedRollout>,
    impl std::future::Future<Output = ()>,
) {
    let (store, rollouts) = cache::reflect(rollouts);
    let (named, deployments) = ctx.lookups.watches(namespace, &ctx.waiters);
    let naming = store.clone();
    // A Rollout reconciled before its ReplicaSets and AnalysisRuns are
    // listed could only fail (NotSynced) and retry: at 10,000 Rollouts
    // that was thousands of failed reconciles per start.
    let listed = ctx.owned_objects_listed();
    let rollouts = async move {
        listed.await;
        rollouts
    }
    .flatten_stream();
    let controller = Controller::for_stream(rollouts, store.clone())
        .with_config(kube::runtime::controller::Config::default().concurrency(super::CONCURRENCY))
        .trigger_backoff(super::watch_backoff::NoPause)
        .reconcile_all_on(ctx.relists())
        .owns_stream(owned_stream(
            owned_replica_sets,
            ctx.replica_sets.clone(),
            |rs| OwnedReplicaSet::from(rs),
        ))
        .owns_stream(owned_stream(
            owned_runs,
            ctx.analysis_runs.clone(),
            cache::without_managed_fields,
        ))
        .owns_stream(owned_stream(
            owned_experiments,
            ctx.experiments.clone(),
            cache::without_managed_fields,
        ))
        // A new template in a workloadRef Deployment is a new revision of
        // the Rollouts that name it.
        .watches_stream(deployments, move |deployment| {
            rollouts_naming(&naming, &deployment)
        })
        // A rollout waiting for an object goes again when it comes.
        .reconcile_on(ctx.waiters.due())
        .graceful_shutdown_on(shutdown);
    let stream = controller
        .run(reconcile, error_policy, ctx)
        .for_each(|result| {
            if let Err(error) = result {
                tracing::debug!(%error, "rollout reconcile");
            }
            std::future::ready(())
        });
    let run = async move {
        tokio::select! {
            () = Box::pin(stream) => {}
            () = named => {}
        }
    };
    (store, run)
}

fn rollouts_naming(
    store: &kube::runtime::reflector::Store<CachedRollout>,
    deployment: &Deployment,
) -> Vec<ObjectRef<CachedRollout>> {
    let namespace = deployment.namespace();
    let name = deployment.name_any();
    store
        .state()
        .iter()
        .filter(|r| r.namespace() == namespace && r.workload_ref() == Some(name.as_str()))
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

fn error_policy(
    rollout: Arc<CachedRollout>,
    error: &KubeError,
    ctx: Arc<RolloutControllerState>,
) -> Action {
    ctx.refusals.retry_after(rollout.as_ref(), error)
}

async fn reconcile(
    cached: Arc<CachedRollout>,
    ctx: Arc<RolloutControllerState>,
) -> Result<Action, KubeError> {
    let result = ctx
        .metrics
        .reconcile(NAME, async {
            let rollout = cached.decode().map_err(|error| {
                let problem = format!(
                    "rollout {}/{} does not match the Rollout schema: {error}",
                    cached.namespace().unwrap_or_default(),
                    cached.name_any()
                );
                // The API server validates against the CRD schema, so this
                // is a CRD older than the controller: say so loudly.
                warn!("{problem}");
                KubeError::Invalid(problem)
            })?;
            reconcile_inner(&rollout, &ctx).await
        })
        .await;
    ctx.refusals
        .observe(cached.as_ref(), &result, &ctx.events)
        .await;
    result
}

async fn reconcile_inner(
    rollout: &Rollout,
    ctx: &RolloutControllerState,
) -> Result<Action, KubeError> {
    if rollout.meta().deletion_timestamp.is_some() {
        // Owner references let the garbage collector remove what it owns.
        ctx.waiters.wait(&waiter(rollout), None);
        return Ok(Action::await_change());
    }
    if !ctx.replica_sets.synced() {
        return Err(KubeError::NotSynced("ReplicaSet"));
    }
    if !ctx.analysis_runs.synced() {
        return Err(KubeError::NotSynced("AnalysisRun"));
    }
    if !ctx.experiments.synced() {
        return Err(KubeError::NotSynced("Experiment"));
    }
    if !ctx.templates.listed() {
        return Err(KubeError::NotSynced("AnalysisTemplate"));
    }
    let uid = rollout.uid().unwrap_or_default();
    let namespace = rollout.namespace().unwrap_or_default();
    let status = rollout.status.clone().unwrap_or_default();
    let mut blocker = None;

    // Read.
    let (template, mut problem) = match observe::workload_template(&ctx.lookups, rollout).await {
        Ok(template) => (Some(template), None),
        Err(KubeError::Spec(problem)) => (None, Some(problem)),
        Err(error) => {
            blocker = Some(blocked_by(error)?);
            (None, None)
        }
    };
    let (request, request_value) = match requests::pending(rollout) {
        Ok(Some((request, value))) => (Some(request), Some(value)),
        Ok(None) => (None, None),
        Err(unreadable) => {
            problem.get_or_insert(unreadable);
            (None, None)
        }
    };
    let owned_sets = ctx.replica_sets.owned_by(&uid);
    let owned_runs = ctx.analysis_runs.owned_by(&uid);
    let owned_experiments = ctx.experiments.owned_by(&uid);
    let pods = match observe::pods(&ctx.client, rollout, &owned_sets).await {
        Ok(pods) => pods,
        Err(error) => {
            blocker.get_or_insert(blocked_by(error)?);
            Vec::new()
        }
    };
    let mut observed = observe::observed(Inputs {
        rollout,
        template: template.as_ref(),
        replica_sets: &owned_sets,
        pods,
        analysis_runs: &owned_runs,
        experiments: &owned_experiments,
        known_templates: Some(ctx.templates.known(&namespace)),
        request,
    });
    observed.problem = problem.or_else(|| ctx.templates.unsupported(&namespace, &rollout.spec));
    // Dereference: what the traffic goes through must be there before
    // anything is decided, or the rollout waits for it.
    if blocker.is_none() && observed.problem.is_none() {
        blocker = match routers::first_missing(&ctx.lookups, rollout).await {
            Ok(missing) => missing.map(|m| (Blocker::Missing(m), None)),
            Err(error) => Some(blocked_by(error)?),
        };
    }
    let (blocker, awaited) = blocker.unzip();
    let mut awaited = awaited.flatten();
    observed.blocker = blocker;
    let mut spec = rollout.spec.clone();
    if let Some(template) = &template
        && spec.workload_ref.is_some()
    {
        spec.selector = Some(template.selector.clone());
    }

    // Decide.
    let now = Timestamp::now();
    let mut decision = engine::decide(&spec, &status, &observed, now);

    // Apply.
    let mut writes = 0;
    if let (Some(template), None, None) = (&template, &observed.problem, &decision.blocker) {
        let owned = Owned {
            sets: &owned_sets,
            runs: &owned_runs,
            experiments: &owned_experiments,
        };
        match apply(ctx, rollout, template, &observed, &decision, owned).await {
            Ok(n) => writes += n,
            Err(KubeError::Spec(problem)) => {
                decision = invalid(&spec, &status, observed.clone(), problem, now);
            }
            Err(error) => {
                let (blocker, object) = blocked_by(error)?;
                awaited = object;
                observed.blocker = Some(blocker);
                decision = engine::decide(&spec, &status, &observed, now);
            }
        }
    }
    ctx.waiters.wait(
        &waiter(rollout),
        awaited_object(&decision, awaited, &namespace),
    );

    // Status.
    let mut next = decision.status.clone();
    // A request is acknowledged once acted on: a blocked rollout acts on
    // none, and keeps it for when it can.
    if request_value.is_some() && decision.blocker.is_none() {
        next.last_request = request_value;
    }
    if rollout.status.as_ref() != Some(&next) {
        writes::apply_rollout_status(&ctx.client, rollout, &next).await?;
        writes += 1;
    }
    // After the status: the undo's spec write would make the status write
    // stale, and the recorded request is what keeps undo from repeating.
    if let Some(hash) = &decision.desired.rollback_to {
        writes += undo(ctx, rollout, &owned_sets, hash).await?;
    }
    publish_events(ctx, rollout, &decision).await;
    ctx.metrics.wrote(NAME, writes as u64);
    let requeue = decision.desired.requeue_after_ms.map_or(RESYNC, |ms| {
        Duration::from_millis(ms.unsigned_abs()).min(RESYNC)
    });
    Ok(Action::requeue(requeue))
}

fn waiter(rollout: &Rollout) -> ObjectRef<CachedRollout> {
    ObjectRef::new(&rollout.name_any()).within(&rollout.namespace().unwrap_or_default())
}

/// The object whose arrival would let the decision's blocked rollout go
/// on: a missing one, or one of an API not served yet (`refused_read`).
fn awaited_object(
    decision: &Decision,
    refused_read: Option<Awaited>,
    namespace: &str,
) -> Option<Awaited> {
    match decision.blocker.as_ref()? {
        // The engine names an AnalysisTemplate without a namespace: it is
        // the rollout's (a ClusterAnalysisTemplate has none).
        Blocker::Missing(missing) => Some((
            missing.kind.clone(),
            match (&missing.namespace, missing.kind.as_str()) {
                (Some(namespace), _) => namespace.clone(),
                (None, "ClusterAnalysisTemplate") => String::new(),
                (None, _) => namespace.to_owned(),
            },
            missing.name.clone(),
        )),
        Blocker::Refused(_) => refused_read,
    }
}

/// What holds a rollout when `error` is a missing object or a refused
/// request, with the object to watch for, if any; any other error is
/// passed on, to retry.
fn blocked_by(error: KubeError) -> Result<(Blocker, Option<Awaited>), KubeError> {
    match error {
        KubeError::Missing(missing) => Ok((Blocker::Missing(*missing), None)),
        KubeError::Refused(refused) => {
            // An object of an API not served yet is watched for: its
            // watch lists it once the API is installed.
            let awaited = (refused.not_served() && refused.verb == "get").then(|| {
                (
                    refused.kind.clone(),
                    refused.namespace.clone(),
                    refused.name.clone(),
                )
            });
            warn!(%refused, "request refused");
            let refusal = Refusal {
                reason: refused.reason(),
                message: refused.to_string(),
            };
            Ok((Blocker::Refused(refusal), awaited))
        }
        other => Err(other),
    }
}

/// What a rollout owns, as the indexes hold it.
struct Owned<'a> {
    sets: &'a [Arc<OwnedReplicaSet>],
    runs: &'a [Arc<AnalysisRun>],
    experiments: &'a [Arc<Experiment>],
}

/// Makes the decision real: ReplicaSets, then traffic, then analysis
/// runs and experiments, then pod restarts and the `workloadRef`
/// Deployment. A spec problem from the router still lets the analysis
/// runs and experiments be made.
async fn apply(
    ctx: &RolloutControllerState,
    rollout: &Rollout,
    template: &WorkloadTemplate,
    observed: &Observed,
    decision: &Decision,
    owned: Owned<'_>,
) -> Result<usize, KubeError> {
    let desired = &decision.desired;
    let mut writes = replica_sets::apply(
        &ctx.lookups,
        &ctx.client,
        rollout,
        template,
        observed,
        desired,
        owned.sets,
    )
    .await?;
    let routed = match routers::apply(&ctx.lookups, &ctx.client, rollout, desired).await {
        Err(KubeError::Spec(problem)) => Err(problem),
        other => Ok(other?),
    };
    let analysed = match analysis_runs::apply(
        &ctx.client,
        &ctx.templates,
        rollout,
        observed,
        desired,
        owned.runs,
    )
    .await
    {
        Err(KubeError::Spec(problem)) => Err(problem),
        other => Ok(other?),
    };
    writes += experiments::apply(
        &ctx.client,
        rollout,
        template,
        observed,
        desired,
        (owned.sets, owned.experiments),
    )
    .await?;
    writes += routed.and_then(|r| analysed.map(|a| r + a))?;
    writes += side_effects(ctx, rollout, template, decision).await?;
    Ok(writes)
}

fn invalid(
    spec: &crate::crd::rollout::RolloutSpec,
    status: &RolloutStatus,
    mut observed: Observed,
    problem: SpecProblem,
    now: Timestamp,
) -> Decision {
    observed.problem = Some(problem);
    engine::decide(spec, status, &observed, now)
}

/// Pod restarts and the workloadRef Deployment, as the decision says.
async fn side_effects(
    ctx: &RolloutControllerState,
    rollout: &Rollout,
    template: &WorkloadTemplate,
    decision: &Decision,
) -> Result<usize, KubeError> {
    let namespace = rollout.namespace().unwrap_or_default();
    let mut writes = 0;
    for pod in &decision.desired.restart_pods {
        // Gone already is as good as restarted.
        writes += usize::from(writes::delete_pod(&ctx.client, &namespace, pod).await?);
    }
    if let (Some(workload), Some(replicas)) =
        (&template.workload, decision.desired.workload_replicas)
        && workload.replicas != replicas
    {
        writes += usize::from(
            writes::scale_workload_deployment(&ctx.client, &namespace, &workload.name, replicas)
                .await?,
        );
    }
    Ok(writes)
}

/// Puts the named ReplicaSet's template back into the rollout's spec.
async fn undo(
    ctx: &RolloutControllerState,
    rollout: &Rollout,
    owned_sets: &[Arc<OwnedReplicaSet>],
    hash: &str,
) -> Result<usize, KubeError> {
    if rollout.spec.workload_ref.is_some() {
        return Ok(0);
    }
    let Some(owned) = owned_sets
        .iter()
        .find(|rs| rs.hash.as_deref() == Some(hash))
    else {
        return Ok(0);
    };
    let namespace = rollout.namespace().unwrap_or_default();
    let replica_sets: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
    // The index keeps no templates: undo is rare, one read is cheap.
    let Some(rs) = replica_sets.get_opt(&owned.name).await? else {
        return Ok(0);
    };
    let Some(mut template) = rs.spec.and_then(|s| s.template) else {
        return Ok(0);
    };
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(HASH_LABEL);
    }
    super::anti_affinity::remove(&mut template);
    Ok(usize::from(
        writes::restore_rollout_template(&ctx.client, rollout, &template).await?,
    ))
}

async fn publish_events(ctx: &RolloutControllerState, rollout: &Rollout, decision: &Decision) {
    if decision.events.is_empty() {
        return;
    }
    let reference = rollout.object_ref(&());
    for event in &decision.events {
        info!(
            rollout = %rollout.name_any(),
            namespace = %rollout.namespace().unwrap_or_default(),
            reason = event.reason,
            "{}",
            event.message
        );
        let kube_event = KubeEvent {
            type_: match event.type_ {
                EventType::Normal => KubeEventType::Normal,
                EventType::Warning => KubeEventType::Warning,
            },
            reason: event.reason.to_owned(),
            note: Some(event.message.clone()),
            action: event.reason.to_owned(),
            secondary: None,
        };
        // An Event lost is a line of history lost, not a reason to redo the decision.
        if let Err(error) = ctx.events.publish(&kube_event, &reference).await {
            warn!(%error, "publishing event");
        }
    }
}
