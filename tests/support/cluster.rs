//! A cluster for operator scenarios: the in-process fake API server with
//! its workload simulator, or, when `KUBECONFIG` is set, the real cluster
//! it names (a fresh namespace per test, deleted at the end).
//!
//! On the fake, RBAC is enforced with the chart's own rules
//! (`charts/conductor`, rendered by helm) and the controller runs as the
//! chart's ServiceAccount: a call those rules do not allow fails the
//! scenario when the cluster is dropped, and what they allowed is written
//! down for `tests/rbac.rs` (see `support/rbac.rs`). Against a real
//! cluster the controller runs as the kubeconfig's user: its RBAC is the
//! cluster's business.

#![allow(dead_code)]

#[path = "rbac.rs"]
pub mod rbac;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use conductor::crd::rollout::Rollout;
use conductor::platform::kubernetes::controller::{self, Options};
use conductor::platform::kubernetes::leader::LeaseConfig;
use fakeapi::simulator::Simulator;
use fakeapi::{FakeApi, User};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub struct Cluster {
    pub namespace: String,
    client: Client,
    fake: Option<(FakeApi, Simulator)>,
    test: String,
}

/// The chart's documents for the fake's namespace, rendered once per test
/// process.
fn chart() -> &'static [Value] {
    static CHART: OnceLock<Vec<Value>> = OnceLock::new();
    CHART.get_or_init(|| rbac::render("charts/conductor", rbac::RELEASE, "default", &[]))
}

/// Lease timings short enough for a test to see a takeover.
pub const LEASE: Duration = Duration::from_secs(2);
pub const RENEW: Duration = Duration::from_millis(250);

impl Cluster {
    pub async fn start(test: &str) -> Cluster {
        if std::env::var_os("KUBECONFIG").is_some() {
            let client = Client::try_default()
                .await
                .expect("KUBECONFIG names a reachable cluster");
            let namespace = format!("conductor-{test}-{}", std::process::id());
            let namespaces: Api<Namespace> = Api::all(client.clone());
            let ns: Namespace = serde_json::from_value(serde_json::json!({
                "metadata": { "name": namespace }
            }))
            .expect("namespace");
            namespaces
                .create(&PostParams::default(), &ns)
                .await
                .expect("create the test namespace");
            install_crds(&client).await;
            eprintln!(
                "{test}: running against the real cluster in KUBECONFIG, namespace {namespace}"
            );
            return Cluster {
                namespace,
                client,
                fake: None,
                test: test.to_owned(),
            };
        }
        eprintln!(
            "{test}: KUBECONFIG is not set; running against the in-process fake API server (set KUBECONFIG to run against a real cluster)"
        );
        let fake = FakeApi::new();
        fake.enforce_rbac().expect("enforce RBAC");
        rbac::install(&fake, chart());
        let simulator = Simulator::with_pods(&fake);
        let client = fake.client();
        // As on a cluster: the schemas prune and validate what is written.
        install_crds(&client).await;
        Cluster {
            namespace: "default".into(),
            client,
            fake: Some((fake, simulator)),
            test: test.to_owned(),
        }
    }

    /// The user the controller runs as on the fake: the chart's
    /// ServiceAccount.
    pub fn operator_user(&self) -> String {
        User::service_account(&self.namespace, rbac::RELEASE).name
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// A client whose writes the fake records under `identity`, allowed
    /// everything (in `system:masters`) like the tests' own client.
    pub fn client_as(&self, identity: &str) -> Client {
        match &self.fake {
            Some((fake, _)) => fake.client_as(User::new(identity).in_group("system:masters")),
            None => self.client.clone(),
        }
    }

    /// The fake, for fault injection; `None` (and the test says it skips
    /// that part) against a real cluster.
    pub fn fake(&self) -> Option<&FakeApi> {
        self.fake.as_ref().map(|(f, _)| f)
    }

    pub fn simulator(&self) -> Option<&Simulator> {
        self.fake.as_ref().map(|(_, s)| s)
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Creates (or replaces) any namespaced object from JSON.
    pub async fn apply<K>(&self, object: Value) -> K
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let object: K = serde_json::from_value(object).expect("a valid object");
        let name = object.meta().name.clone().expect("a name");
        self.api::<K>()
            .patch(
                &name,
                &PatchParams::apply("conductor-tests").force(),
                &Patch::Apply(&object),
            )
            .await
            .expect("apply")
    }

    /// Applies a namespaced Conductor object exactly as written: [`apply`]
    /// goes through the typed object, which drops the fields its type does
    /// not read, as a user's `kubectl apply` never would.
    pub async fn apply_as_written(&self, object: Value) {
        let kind = object["kind"].as_str().expect("a kind").to_owned();
        let name = object["metadata"]["name"]
            .as_str()
            .expect("a name")
            .to_owned();
        let crd = conductor::crd::all()
            .into_iter()
            .find(|c| c.spec.names.kind == kind)
            .expect("one of Conductor's kinds");
        let resource = ApiResource {
            api_version: format!("{}/v1alpha1", crd.spec.group),
            group: crd.spec.group,
            version: "v1alpha1".into(),
            kind,
            plural: crd.spec.names.plural,
        };
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.namespace, &resource);
        let object: DynamicObject = serde_json::from_value(object).expect("an object");
        api.patch(
            &name,
            &PatchParams::apply("conductor-tests").force(),
            &Patch::Apply(&object),
        )
        .await
        .expect("apply");
    }

    /// Runs `conductor rollout <args>` as typed, parsed by the real CLI.
    pub async fn cli(&self, args: &[&str]) -> (u8, String) {
        let (result, out) = self.cli_result(args).await;
        (result.expect("the command runs"), out)
    }

    /// The error of a `conductor rollout` command that must fail.
    pub async fn cli_error(&self, args: &[&str]) -> String {
        let (result, out) = self.cli_result(args).await;
        match result {
            Ok(code) => panic!("`{}` ran (exit {code}): {out}", args.join(" ")),
            Err(error) => error.to_string(),
        }
    }

    async fn cli_result(
        &self,
        args: &[&str],
    ) -> (Result<u8, conductor::cli::rollout::RolloutCliError>, String) {
        use clap::Parser;
        let line = ["conductor", "rollout"].iter().chain(args);
        let parsed = conductor::cli::Cli::try_parse_from(line).expect("the command parses");
        let conductor::cli::Command::Rollout { action, .. } = parsed.command else {
            unreachable!("`conductor rollout` parses as the rollout command");
        };
        let mut out = Vec::new();
        // On the heap: the command's future is large for a test thread's
        // stack in a debug build.
        let result = Box::pin(conductor::cli::rollout::execute(
            self.client(),
            &self.namespace,
            action,
            &mut out,
        ))
        .await;
        (result, String::from_utf8_lossy(&out).into_owned())
    }

    /// The first Event about `name` with `reason`, once published; fails
    /// naming the reasons seen when none comes within `limit`.
    pub async fn event(&self, name: &str, reason: &str, limit: Duration) -> Event {
        let start = tokio::time::Instant::now();
        loop {
            let events = self.events_about(name).await;
            if let Some(event) = events.iter().find(|e| e.reason.as_deref() == Some(reason)) {
                return event.clone();
            }
            let seen: Vec<&str> = events.iter().filter_map(|e| e.reason.as_deref()).collect();
            assert!(
                start.elapsed() < limit,
                "no {reason} Event about {name}; seen: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The Events about the object `name`, oldest first.
    pub async fn events_about(&self, name: &str) -> Vec<Event> {
        let mut events: Vec<Event> = self
            .api::<Event>()
            .list(&ListParams::default())
            .await
            .expect("list events")
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .collect();
        events.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
        events
    }

    /// Starts `conductor controller` for this namespace as the pod
    /// `identity` (its lease holder name) of the chart's ServiceAccount.
    pub async fn controller(&self, identity: &str) -> ControllerProcess {
        self.controller_trusting(identity, None).await
    }

    /// The same, its metric providers also trusting the CAs of the PEM
    /// file `ca_bundle` (`--ca-bundle`).
    pub async fn controller_trusting(
        &self,
        identity: &str,
        ca_bundle: Option<std::path::PathBuf>,
    ) -> ControllerProcess {
        let options = Options {
            namespace: Some(self.namespace.clone()),
            metrics_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            lease: Some(LeaseConfig {
                namespace: self.namespace.clone(),
                name: "conductor-controller".into(),
                identity: identity.into(),
                duration: LEASE,
                renew_every: RENEW,
            }),
            traffic_split_version: Default::default(),
            home_namespace: self.namespace.clone(),
            ca_bundle,
        };
        let client = match &self.fake {
            Some((fake, _)) => fake
                .client_as(User::service_account(&self.namespace, rbac::RELEASE).on_pod(identity)),
            None => self.client.clone(),
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut addr_tx = Some(addr_tx);
            controller::run(
                client,
                options,
                async {
                    let _ = stop_rx.await;
                },
                move |running| {
                    if let Some(tx) = addr_tx.take() {
                        let _ = tx.send(running.metrics_addr);
                    }
                },
            )
            .await
            .map_err(|e| e.to_string())
        });
        let metrics_addr = addr_rx.await.ok().flatten();
        ControllerProcess {
            task: Some(task),
            stop: Some(stop_tx),
            metrics_addr,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some((fake, _)) = &self.fake {
            let user = self.operator_user();
            rbac::write_usage(rbac::OPERATOR, &self.test, &rbac::used_by(fake, &user));
            let forbidden = rbac::forbidden_to(fake, &user);
            if !forbidden.is_empty() && !std::thread::panicking() {
                panic!(
                    "{}: the controller was forbidden what charts/conductor's RBAC does not grant:\n{}",
                    self.test,
                    forbidden.join("\n")
                );
            }
            return;
        }
        let client = self.client.clone();
        let namespace = self.namespace.clone();
        // The test's runtime may be gone; delete from a runtime of our own.
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Runtime::new() {
                runtime.block_on(async {
                    let _ = Api::<Namespace>::all(client)
                        .delete(&namespace, &DeleteParams::default())
                        .await;
                });
            }
        })
        .join();
    }
}

async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in conductor::crd::all() {
        let name = crd.metadata.name.clone().expect("crd name");
        api.patch(
            &name,
            &PatchParams::apply("conductor-tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("install the CRDs");
    }
}

/// The controller as a process would be: killed (aborted mid-flight) or
/// stopped gracefully.
pub struct ControllerProcess {
    task: Option<tokio::task::JoinHandle<Result<(), String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub metrics_addr: Option<SocketAddr>,
}

impl ControllerProcess {
    /// Like SIGKILL: no cleanup, the lease is left to expire.
    pub fn kill(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Like SIGTERM: finishes in-flight work and releases the lease.
    pub async fn stop(mut self) -> Result<(), String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .map_err(|_| "controller did not stop within 10s".to_owned())?
                .map_err(|e| e.to_string())?,
            None => Ok(()),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Polls until `done` holds for the named object, or fails the test with
/// the last state seen.
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    limit: Duration,
    what: &str,
    done: impl Fn(&K) -> bool,
) -> K
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let start = tokio::time::Instant::now();
    let mut last = None;
    loop {
        if let Ok(Some(object)) = api.get_opt(name).await {
            if done(&object) {
                return object;
            }
            last = Some(object);
        }
        assert!(
            start.elapsed() < limit,
            "{name}: not {what} after {limit:?}; last seen: {}",
            last.map(|o| format!("{o:?}"))
                .unwrap_or_else(|| "nothing".into())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn phase(rollout: &Rollout) -> &str {
    rollout
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .map_or("", conductor::crd::rollout::RolloutPhase::as_str)
}

pub fn shared<T>(value: T) -> Arc<std::sync::Mutex<T>> {
    Arc::new(std::sync::Mutex::new(value))
}
