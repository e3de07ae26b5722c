//! A stand-in for Kubernetes' ReplicaSet and Deployment controllers: it
//! keeps `apps/v1` ReplicaSet and Deployment status following
//! `spec.replicas`, writing through the status subresource so watchers see
//! MODIFIED events, and optionally keeps `v1` Pods for each ReplicaSet.
//! It also runs Jobs (`jobs`): each completes, or fails as its pod
//! template asks.

mod jobs;
mod keys;
mod pods;
mod status;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::fake::FakeApi;
use crate::selector::Filter;
use crate::shared::{Shared, lock};
use crate::store::Event;
use keys::{deployment_key, pod_key, replicaset_key};

/// Unready counts injected per `(namespace, name)`.
type Unready = Arc<Mutex<BTreeMap<(String, String), usize>>>;

pub use jobs::EXIT_CODE_ANNOTATION;

/// Runs until dropped.
#[derive(Debug)]
pub struct Simulator {
    task: JoinHandle<()>,
    jobs: JoinHandle<()>,
    unready: Unready,
    nudge: mpsc::UnboundedSender<(String, String)>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
        self.jobs.abort();
    }
}

impl Simulator {
    /// Starts following ReplicaSets and Deployments (status only, no Pods).
    /// Must be called inside a Tokio runtime.
    pub fn start(fake: &FakeApi) -> Self {
        Self::spawn(fake, false)
    }

    /// Like [`Simulator::start`], and also keeps a Pod per desired replica
    /// of every ReplicaSet, recreating Pods that get deleted. ReplicaSet
    /// ready counts then come from the Pods' Ready conditions.
    pub fn with_pods(fake: &FakeApi) -> Self {
        Self::spawn(fake, true)
    }

    /// Reports `n` replicas (clamped to the desired count) of the
    /// ReplicaSet or Deployment `namespace/name` as not ready; 0 clears it.
    pub fn set_unready(&self, namespace: &str, name: &str, n: usize) {
        let key = (namespace.to_string(), name.to_string());
        lock(&self.unready).insert(key.clone(), n);
        // The task only stops when the simulator is dropped, which cannot
        // have happened while `self` is borrowed.
        let _ = self.nudge.send(key);
    }

    fn spawn(fake: &FakeApi, with_pods: bool) -> Self {
        let shared = fake.shared.clone();
        let job_events = shared.lock().subscribe(&jobs::job_key());
        let jobs = tokio::spawn(jobs::run(shared.clone(), job_events));
        let receivers = {
            let mut store = shared.lock();
            Receivers {
                replicasets: store.subscribe(&replicaset_key()),
                deployments: store.subscribe(&deployment_key()),
                pods: with_pods.then(|| store.subscribe(&pod_key())),
            }
        };
        let (nudge, nudges) = mpsc::unbounded_channel();
        let unready = Unready::default();
        let sim = Sim {
            shared,
            unready: unready.clone(),
            with_pods,
        };
        let task = tokio::spawn(sim.run(receivers, nudges));
        Self {
            task,
            jobs,
            unready,
            nudge,
        }
    }
}

struct Receivers {
    replicasets: broadcast::Receiver<Arc<Event>>,
    deployments: broadcast::Receiver<Arc<Event>>,
    pods: Option<broadcast::Receiver<Arc<Event>>>,
}

struct Sim {
    shared: Arc<Shared>,
    unready: Unready,
    with_pods: bool,
}

impl Sim {
    async fn run(self, mut rx: Receivers, mut nudges: mpsc::UnboundedReceiver<(String, String)>) {
        self.resync();
        loop {
            tokio::select! {
                event = rx.replicasets.recv() => match event {
                    Ok(event) => self.replicaset_event(&event),
                    Err(broadcast::error::RecvError::Lagged(_)) => self.resync(),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                event = rx.deployments.recv() => match event {
                    Ok(event) => self.deployment_event(&event),
                    Err(broadcast::error::RecvError::Lagged(_)) => self.resync(),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                event = recv_optional(&mut rx.pods) => match event {
                    Ok(event) => self.pod_event(&event),
                    Err(broadcast::error::RecvError::Lagged(_)) => self.resync(),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                nudge = nudges.recv() => match nudge {
                    Some((ns, name)) => {
                        self.reconcile_replicaset(&ns, &name);
                        self.reconcile_deployment(&ns, &name);
                    }
                    None => return,
                },
            }
        }
    }

    /// Reconciles everything; used at start and after missing events.
    fn resync(&self) {
        for (key, deployment) in [(replicaset_key(), false), (deployment_key(), true)] {
            let objects = self.shared.lock().list(&key, None, &Filter::default());
            for object in objects {
                let ns = crate::meta::meta_str(&object, "namespace").unwrap_or_default();
                let name = crate::meta::meta_str(&object, "name").unwrap_or_default();
                if deployment {
                    self.reconcile_deployment(ns, name);
                } else {
                    self.reconcile_replicaset(ns, name);
                }
            }
        }
    }

    fn replicaset_event(&self, event: &Event) {
        let (ns, name) = ns_name(&event.object);
        self.reconcile_replicaset(&ns, &name);
    }

    fn deployment_event(&self, event: &Event) {
        let (ns, name) = ns_name(&event.object);
        self.reconcile_deployment(&ns, &name);
    }

    /// A Pod change may leave its ReplicaSet short of Pods or with a
    /// different ready count.
    fn pod_event(&self, event: &Event) {
        let (ns, _) = ns_name(&event.object);
        if let Some(owner) = pods::owning_replicaset(&event.object) {
            self.reconcile_replicaset(&ns, &owner);
        }
    }

    fn unready_for(&self, ns: &str, name: &str) -> usize {
        lock(&self.unready)
            .get(&(ns.to_string(), name.to_string()))
            .copied()
            .unwrap_or(0)
    }

    fn reconcile_replicaset(&self, ns: &str, name: &str) {
        let unready = self.unready_for(ns, name);
        let mut store = self.shared.lock();
        status::replicaset(&mut store, ns, name, unready, self.with_pods);
    }

    fn reconcile_deployment(&self, ns: &str, name: &str) {
        let unready = self.unready_for(ns, name);
        let mut store = self.shared.lock();
        status::deployment(&mut store, ns, name, unready);
    }
}

async fn recv_optional(
    rx: &mut Option<broadcast::Receiver<Arc<Event>>>,
) -> Result<Arc<Event>, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn ns_name(object: &serde_json::Value) -> (String, String) {
    let field = |f| {
        crate::meta::meta_str(object, f)
            .unwrap_or_default()
            .to_string()
    };
    (field("namespace"), field("name"))
}
