//! `conductor controller`: the operator process. It serves health and
//! metrics at once, waits for the leader lease, then runs the Rollout and
//! AnalysisRun controllers until shutdown or until leadership is lost.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::FutureExt;
use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::Store;
use kube::{Api, Client};
use tokio::sync::watch;

use super::analysis_runs::Templates;
use super::cache;
use super::cached_rollout::CachedRollout;
use super::events::Events;
use super::index::OwnedIndex;
use super::leader::{LeaderElector, LeaseConfig};
use super::lookups::Lookups;
use super::metrics::Metrics;
use super::router_objects::SmiVersion;
use super::server::{self, Health};
use super::waiters::Waiters;
use super::{KubeError, analysis_controller, experiment_controller, rollout_controller};
use crate::analysis::providers::{Clients, Trust, TrustError};
use crate::crd::analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate};
use crate::crd::experiment::Experiment;

#[derive(Debug, Clone)]
pub struct Options {
    /// Watch one namespace only; all namespaces when absent.
    pub namespace: Option<String>,
    pub metrics_addr: Option<SocketAddr>,
    /// `None` runs without leader election (a single replica).
    pub lease: Option<LeaseConfig>,
    /// The TrafficSplit version SMI rollouts write.
    pub traffic_split_version: SmiVersion,
    /// The namespace the controller runs in (its pod's): where Datadog
    /// Secrets shared by every team are.
    pub home_namespace: String,
    /// A PEM file of CAs metric providers' HTTPS servers may be signed by,
    /// besides the system's roots.
    pub ca_bundle: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("serving metrics on {addr}: {source}")]
    Serve {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("lost the leader lease {0}; exiting so a fresh replica can take over")]
    LostLease(String),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Kube(#[from] KubeError),
}

/// A running controller's handles, for the binary and for tests.
pub struct Running {
    pub metrics_addr: Option<SocketAddr>,
    pub health: Health,
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// A store kept filled by a background watch, telling `waiters` of every
/// object it sees.
fn cached<K: cache::Cacheable>(
    api: Api<K>,
    waiters: &Waiters,
) -> (Store<K>, impl std::future::Future<Output = ()> + use<K>) {
    let (reader, stream) = cache::reflect(api);
    let waiters = waiters.clone();
    let stream = stream.for_each(move |object| {
        if let Ok(object) = object {
            let meta = object.meta();
            waiters.seen(
                &K::kind(&()),
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default(),
            );
        }
        std::future::ready(())
    });
    (reader, stream)
}

/// Runs the operator until `shutdown` resolves. `on_start` sees the
/// health handles once the server is up.
pub async fn run(
    client: Client,
    options: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_start: impl FnOnce(&Running),
) -> Result<(), ControllerError> {
    // Before anything starts: a bundle that cannot be read would
    // otherwise show up only as failed measurements.
    let trust = Trust::load(options.ca_bundle.as_deref())?;
    let metrics = Arc::new(Metrics::default());
    let health = Health::new(metrics.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let mut metrics_addr = None;
    let mut server_task = None;
    if let Some(addr) = options.metrics_addr {
        let (bound, task) = server::serve(addr, health.clone(), stopped())
            .await
            .map_err(|source| ControllerError::Serve { addr, source })?;
        metrics_addr = Some(bound);
        server_task = Some(task);
    }
    on_start(&Running {
        metrics_addr,
        health: health.clone(),
    });
    let shutdown = shutdown.shared();
    {
        let stop_tx = stop_tx.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
    }

    let elector = options
        .lease
        .clone()
        .map(|config| LeaderElector::new(client.clone(), config));
    if let Some(elector) = &elector {
        // A standby is healthy and ready: it is doing its job.
        health.ready.store(true, Ordering::Relaxed);
        tokio::select! {
            () = elector.acquire() => {}
            () = stopped() => return Ok(()),
        }
        tracing::info!(identity = %elector.config().identity, "acquired the leader lease");
        health.ready.store(false, Ordering::Relaxed);
    }
    metrics.leader.set(1);

    let result = run_controllers(
        &client,
        &options,
        &trust,
        &health,
        &metrics,
        elector.as_ref(),
        stopped(),
    )
    .await;
    metrics.leader.set(0);
    if let Some(elector) = &elector
        && result.is_ok()
    {
        elector.release().await;
    }
    let _ = stop_tx.send(true);
    if let Some(task) = server_task {
        let _ = task.await;
    }
    result
}

async fn run_controllers(
    client: &Client,
    options: &Options,
    trust: &Trust,
    health: &Health,
    metrics: &Arc<Metrics>,
    elector: Option<&LeaderElector>,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    let namespace = options.namespace.as_deref();
    let (lost_tx, lost_rx) = watch::channel(false);
    let stop = {
        let stopped = stopped.shared();
        move || {
            let stopped = stopped.clone();
            let mut lost = lost_rx.clone();
            async move {
                tokio::select! {
                    () = stopped => {}
                    _ = lost.wait_for(|l| *l) => {}
                }
            }
        }
    };
    let waiters = Waiters::default();
    let (namespaced_templates, namespaced_task) =
        cached(api::<AnalysisTemplate>(client, namespace), &waiters);
    let (cluster_templates, cluster_task) = cached(
        Api::<ClusterAnalysisTemplate>::all(client.clone()),
        &waiters,
    );
    let templates = Templates::new(namespaced_templates, cluster_templates);
    let reporter = Reporter {
        controller: "conductor".into(),
        instance: options.lease.as_ref().map(|l| l.identity.clone()),
    };
    let rollout_ctx = Arc::new(rollout_controller::RolloutControllerState {
        client: client.clone(),
        lookups: Lookups::new(client.clone(), options.traffic_split_version),
        replica_sets: OwnedIndex::default(),
        analysis_runs: OwnedIndex::default(),
        experiments: OwnedIndex::default(),
        templates: templates.clone(),
        events: Events::new(client.clone(), reporter.clone()),
        metrics: metrics.clone(),
        waiters,
        refusals: Default::default(),
    });
    let http = Clients::new(trust).map_err(KubeError::Invalid)?;
    let analysis_ctx = Arc::new(analysis_controller::AnalysisControllerState {
        client: client.clone(),
        home_namespace: options.home_namespace.clone(),
        http,
        events: Events::new(client.clone(), reporter.clone()),
        metrics: metrics.clone(),
        refusals: Default::default(),
    });
    let experiment_ctx = Arc::new(experiment_controller::ExperimentControllerState {
        client: client.clone(),
        templates,
        events: Events::new(client.clone(), reporter),
        metrics: metrics.clone(),
        refusals: Default::default(),
    });
    let (rollouts, rollout_loop) = rollout_controller::controller(
        api::<CachedRollout>(client, namespace),
        api::<ReplicaSet>(client, namespace),
        api::<AnalysisRun>(client, namespace),
        api::<Experiment>(client, namespace),
        namespace,
        rollout_ctx.clone(),
        stop(),
    );
    *health.rollouts.lock().unwrap_or_else(|e| e.into_inner()) = Some(rollouts.clone());
    let analysis_loop = analysis_controller::controller(
        api::<AnalysisRun>(client, namespace),
        analysis_ctx,
        stop(),
    );

    let experiment_loop = experiment_controller::controller(
        api::<Experiment>(client, namespace),
        api::<ReplicaSet>(client, namespace),
        api::<AnalysisRun>(client, namespace),
        experiment_ctx,
        stop(),
    );

    let readiness = {
        let ready = health.ready.clone();
        let listed = rollout_ctx.owned_objects_listed();
        async move {
            let _ = rollouts.wait_until_ready().await;
            listed.await;
            ready.store(true, Ordering::Relaxed);
            std::future::pending::<()>().await;
        }
    };
    let background = async {
        tokio::join!(namespaced_task, cluster_task, readiness);
    };
    let watchdog = async {
        match elector {
            Some(elector) => {
                elector.hold().await;
                let _ = lost_tx.send(true);
            }
            None => std::future::pending().await,
        }
    };
    let controllers = async {
        tokio::join!(rollout_loop, analysis_loop, experiment_loop);
    };
    tokio::pin!(controllers);
    let lost = tokio::select! {
        () = &mut controllers => false,
        () = background => false,
        () = watchdog => {
            // The controllers finish the writes in flight, then stop.
            (&mut controllers).await;
            true
        }
    };
    if lost {
        let name = options
            .lease
            .as_ref()
            .map(|l| l.name.clone())
            .unwrap_or_default();
        return Err(ControllerError::LostLease(name));
    }
    Ok(())
}
