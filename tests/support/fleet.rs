//! Several clusters on one machine for `conductor deploy`. By default, per
//! cluster a fake API server served over loopback HTTP with its workload
//! simulator, one kubeconfig file each, merged through `KUBECONFIG` as
//! kubectl merges them. When `KUBECONFIG` is set, the real clusters it
//! names instead: the contexts in `CONDUCTOR_TEST_CONTEXTS` (three, comma
//! separated), else the current context three times, each "cluster" then a
//! namespace of its own. Either way a real `conductor controller` process
//! per cluster, a real Git source repository and a real bare ledger
//! repository, the real helm, and a loopback HTTP server answering the
//! analysis' error-rate queries. Scenarios assert on what a watcher sees
//! (`recorder`), which both kinds of cluster show alike.
//!
//! The fakes enforce RBAC: the deploys run as the CI deployer of
//! `charts/conductor-deployer` and the controllers as the ServiceAccount of
//! `charts/conductor`, each with its chart's rules only and its own bearer
//! token in its own kubeconfig. A call their rules do not allow fails the
//! scenario, and what they allowed is written down for `tests/rbac.rs`.
//! Against real clusters both run as the kubeconfig's user.

#![allow(dead_code)]

#[path = "rbac.rs"]
pub mod rbac;

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fakeapi::simulator::Simulator;
use fakeapi::{FakeApi, Server, User};
use kube::api::{DeleteParams, DynamicObject, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

pub use crate::common::Run;
pub use crate::recorder::{
    ANALYSIS_TEMPLATES, CONFIG_MAPS, DEPLOYMENTS, JOBS, Kind, LEASES, Observed, ROLLOUTS, ROUTES,
    Recorder, SERVICES,
};

pub const SERVICE: &str = "shop";
pub const ENV: &str = "production";
/// The deploy's field manager.
pub const DEPLOY: &str = "conductor-deploy";
const GENERATION_ANNOTATION: &str = "conductor.dev/deploy-generation";
const COMMIT_ANNOTATION: &str = "conductor.dev/deploy-commit";
const DEPLOYED_BY_LABEL: &str = "conductor.dev/deployed-by";
/// The pod template's Git revision, which the chart sets.
const REVISION_ANNOTATION: &str = "conductor.dev/revision";

struct FakeParts {
    api: FakeApi,
    _simulator: Simulator,
    _server: Server,
    /// The deployer's credentials.
    kubeconfig: PathBuf,
    /// The controller's: the chart's ServiceAccount.
    controller_kubeconfig: PathBuf,
}

/// Bearer tokens of the fakes' two users: secrets no output may show.
pub const DEPLOYER_TOKEN: &str = "deployer-token-5c1f0e8a93d2";
pub const CONTROLLER_TOKEN: &str = "controller-token-b7e4a1c60f59";

/// How the cluster's controller process reaches it.
enum Reach {
    Kubeconfig(PathBuf),
    Context(String),
}

pub struct FleetCluster {
    pub name: String,
    /// Where the chart is deployed.
    pub namespace: String,
    /// Where the controller holds its Lease.
    pub lease_namespace: String,
    pub context: String,
    client: Client,
    fake: Option<FakeParts>,
    controller: Option<Child>,
    log: PathBuf,
    recorder: Option<Recorder>,
}

impl FleetCluster {
    /// The fake API server, for what only it can do (audit, denials);
    /// `None` against a real cluster.
    pub fn fake(&self) -> Option<&FakeApi> {
        self.fake.as_ref().map(|f| &f.api)
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// A client whose writes are attributed to `identity` where the
    /// cluster can tell (the fake records it; a real cluster knows the
    /// kubeconfig's user), allowed everything like the tests' own client.
    pub fn client_as(&self, identity: &str) -> Client {
        match &self.fake {
            Some(fake) => fake
                .api
                .client_as(User::new(identity).in_group("system:masters")),
            None => self.client.clone(),
        }
    }

    /// The user `conductor deploy` runs as on the fake.
    pub fn deployer_user(&self) -> String {
        User::service_account(&self.lease_namespace, rbac::DEPLOYER_RELEASE).name
    }

    /// The user the controller runs as on the fake.
    pub fn controller_user(&self) -> String {
        User::service_account(&self.lease_namespace, rbac::RELEASE).name
    }

    /// Writes what RBAC allowed the deployer and the controller, and fails
    /// the scenario if it forbade either anything.
    fn check_rbac(&self) {
        let Some(fake) = self.fake() else {
            return;
        };
        let scenario = format!("fleet-{}", self.name);
        let mut forbidden = Vec::new();
        for (subject, user) in [
            (rbac::DEPLOYER, self.deployer_user()),
            (rbac::OPERATOR, self.controller_user()),
        ] {
            rbac::write_usage(subject, &scenario, &rbac::used_by(fake, &user));
            forbidden.extend(rbac::forbidden_to(fake, &user));
        }
        if !forbidden.is_empty() && !std::thread::panicking() {
            panic!(
                "cluster {}: forbidden what the charts' RBAC does not grant:\n{}",
                self.name,
                forbidden.join("\n")
            );
        }
    }

    fn api(&self, kind: Kind) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &kind.resource())
    }

    pub async fn get(&self, kind: Kind, name: &str) -> Option<Value> {
        let object = self
            .api(kind)
            .get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("{}: get {} {name}: {e}", self.name, kind.plural))?;
        Some(serde_json::to_value(object).unwrap())
    }

    pub async fn create(&self, kind: Kind, object: Value) {
        let object: DynamicObject = serde_json::from_value(object).unwrap();
        self.api(kind)
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("{}: create {}: {e}", self.name, kind.plural));
    }

    pub async fn rollout(&self) -> Option<Value> {
        self.get(ROLLOUTS, SERVICE).await
    }

    /// The Git revision the Rollout's pod template carries.
    pub async fn rollout_revision(&self) -> Option<String> {
        let rollout = self.rollout().await?;
        template_revision(&rollout)
    }

    /// Every version of the watched objects, oldest first.
    pub fn history(&self) -> Vec<Observed> {
        self.recorder
            .as_ref()
            .map(Recorder::history)
            .unwrap_or_default()
    }

    /// The deploy's writes a watcher saw: versions whose deploy stamp
    /// (generation and commit annotations) changed, and deletions of
    /// objects a deploy had applied (prunes). A write that changed nothing
    /// is invisible on a real cluster, so it is not counted here either.
    pub fn deploy_writes(&self) -> Vec<Observed> {
        // Per object: the deploy generation and commit it last carried.
        type Stamp = (Option<String>, Option<String>);
        let mut stamps: std::collections::HashMap<(&str, String), Stamp> = Default::default();
        let mut writes = Vec::new();
        for seen in self.history() {
            let key = (seen.kind.plural, seen.name.clone());
            let stamp = (
                seen.annotation(GENERATION_ANNOTATION).map(str::to_owned),
                seen.annotation(COMMIT_ANNOTATION).map(str::to_owned),
            );
            let deployed = stamp.0.is_some();
            let previous = stamps.insert(key, stamp.clone());
            let changed = previous.as_ref() != Some(&stamp);
            let pruned = seen.deleted
                && seen
                    .pointer("/metadata/labels")
                    .and_then(|l| l.get(DEPLOYED_BY_LABEL))
                    .is_some();
            if (deployed && changed && !seen.deleted) || pruned {
                writes.push(seen);
            }
        }
        writes
    }

    /// The deploy's writes carrying `sha` (its commit annotation).
    pub fn writes_of(&self, sha: &str) -> Vec<Observed> {
        self.deploy_writes()
            .into_iter()
            .filter(|w| w.annotation(COMMIT_ANNOTATION) == Some(sha))
            .collect()
    }

    /// The Git revisions the Rollout's template went through, in order.
    pub fn rollout_revisions(&self) -> Vec<String> {
        let mut revisions: Vec<String> = Vec::new();
        for seen in self.history() {
            if seen.kind != ROLLOUTS || seen.deleted {
                continue;
            }
            if let Some(revision) = template_revision(&seen.object)
                && revisions.last() != Some(&revision)
            {
                revisions.push(revision);
            }
        }
        revisions
    }

    /// When a watcher first saw the Rollout Healthy at `revision` for the
    /// generation it had then.
    pub fn healthy_since(&self, revision: &str) -> Option<jiff::Timestamp> {
        self.history().into_iter().find_map(|seen| {
            let o = &seen.object;
            let healthy = seen.kind == ROLLOUTS
                && o.pointer("/status/phase")?.as_str()? == "Healthy"
                && o.pointer("/status/stableRevision")?.as_str()? == revision
                && o.pointer("/status/observedGeneration")?.as_i64()?
                    == o.pointer("/metadata/generation")?.as_i64()?;
            healthy.then_some(seen.time)
        })
    }

    /// Waits until the Rollout satisfies `done`; fails with what it was.
    pub async fn wait_for_rollout(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let rollout = self.rollout().await;
            if let Some(rollout) = rollout.as_ref().filter(|r| done(r)) {
                return rollout.clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{}: the Rollout is not {what} after 60s: {rollout:#?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the controller as SIGKILL would.
    pub fn kill_controller(&mut self) {
        if let Some(mut child) = self.controller.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn start_controller(&mut self) {
        self.kill_controller();
        self.controller = Some(self.spawn_controller());
    }

    pub fn controller_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn spawn_controller(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_conductor"));
        command.args([
            "controller",
            "--namespace",
            &self.namespace,
            "--metrics-addr",
            "127.0.0.1:0",
            "--lease-namespace",
            &self.lease_namespace,
            "--identity",
            &format!("controller-{}", self.name),
            "--log-format",
            "text",
        ]);
        match self.reach() {
            Reach::Kubeconfig(path) => command.env("KUBECONFIG", path),
            Reach::Context(context) => command.args(["--context", &context]),
        };
        command
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start conductor controller")
    }

    fn reach(&self) -> Reach {
        match &self.fake {
            Some(fake) => Reach::Kubeconfig(fake.controller_kubeconfig.clone()),
            None => Reach::Context(self.context.clone()),
        }
    }

    async fn wait_for_lease(&self) {
        let start = Instant::now();
        let leases: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            &self.lease_namespace,
            &LEASES.resource(),
        );
        loop {
            let held = leases
                .get_opt(LEASE)
                .await
                .ok()
                .flatten()
                .is_some_and(|l| l.data.pointer("/spec/holderIdentity").is_some());
            if held {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "controller of {} holds no lease after 30s: {}",
                self.name,
                self.controller_log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for FleetCluster {
    fn drop(&mut self) {
        self.kill_controller();
        self.recorder = None;
        if self.fake.is_some() {
            self.check_rbac();
            return;
        }
        let client = self.client.clone();
        let namespace = self.namespace.clone();
        // The test's runtime may be gone; delete from a runtime of our own.
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Runtime::new() {
                runtime.block_on(async {
                    let _ = Api::<k8s_openapi::api::core::v1::Namespace>::all(client)
                        .delete(&namespace, &DeleteParams::default())
                        .await;
                });
            }
        })
        .join();
    }
}

fn template_revision(rollout: &Value) -> Option<String> {
    rollout
        .pointer("/spec/template/metadata/annotations")?
        .get(REVISION_ANNOTATION)?
        .as_str()
        .map(str::to_owned)
}

/// The Lease the controller's leader renews.
const LEASE: &str = "conductor-controller";

pub struct Fleet {
    dir: tempfile::TempDir,
    pub repo: PathBuf,
    pub ledger: PathBuf,
    pub clusters: Vec<FleetCluster>,
    /// `KUBECONFIG` for the deploys: the fakes' files; the caller's own
    /// (inherited) against real clusters.
    kubeconfig: Option<OsString>,
    /// Whether the chart routes through a Gateway API HTTPRoute.
    pub routes: bool,
    /// Revisions whose analysis fails.
    pub bad: Arc<Mutex<HashSet<String>>>,
    /// Revisions whose analysis takes a few seconds to answer.
    pub slow: Arc<Mutex<HashSet<String>>>,
    /// Extra environment of every `conductor` run (webhook URLs).
    env: Vec<(String, String)>,
    _analysis: tokio::task::JoinHandle<()>,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Conductor's CRDs, and Gateway API's HTTPRoute (a minimal schema) so
/// discovery serves the kinds the chart renders.
fn fake_crds(with_routes: bool) -> Vec<Value> {
    let mut crds: Vec<Value> = conductor::crd::all()
        .into_iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    if with_routes {
        crds.push(json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": { "name": "httproutes.gateway.networking.k8s.io" },
            "spec": {
                "group": "gateway.networking.k8s.io",
                "names": { "plural": "httproutes", "singular": "httproute", "kind": "HTTPRoute", "listKind": "HTTPRouteList" },
                "scope": "Namespaced",
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": { "openAPIV3Schema": { "type": "object", "x-kubernetes-preserve-unknown-fields": true } },
                    "subresources": { "status": {} }
                }]
            }
        }));
    }
    crds
}

#[derive(Default)]
pub struct Options {
    /// Clusters whose fake serves no Gateway API (fakes only: a real
    /// cluster's CRDs are left as they are).
    pub without_routes: Vec<&'static str>,
    /// Clusters with no controller running.
    pub without_controller: Vec<&'static str>,
    /// Clusters whose render holds a kind no cluster serves.
    pub unserved_kind_in: Vec<&'static str>,
}

/// What the scenarios deploy to, before the clusters are set up.
struct Plan {
    name: &'static str,
    context: String,
    namespace: String,
    lease_namespace: String,
}

const NAMES: [&str; 3] = ["eu", "us", "ap"];

/// Real clusters from `KUBECONFIG`, when it is set.
fn real_contexts() -> Option<Vec<String>> {
    std::env::var_os("KUBECONFIG")?;
    if let Ok(list) = std::env::var("CONDUCTOR_TEST_CONTEXTS") {
        let contexts: Vec<String> = list.split(',').map(|c| c.trim().to_owned()).collect();
        assert_eq!(
            contexts.len(),
            3,
            "CONDUCTOR_TEST_CONTEXTS names three contexts (eu, us, ap), comma separated"
        );
        return Some(contexts);
    }
    let kubeconfig = kube::config::Kubeconfig::read().expect("KUBECONFIG is readable");
    let current = kubeconfig
        .current_context
        .expect("KUBECONFIG has a current context, or set CONDUCTOR_TEST_CONTEXTS");
    Some(vec![current; 3])
}

/// Tells namespaces apart across the fleets of one test process.
static FLEETS: AtomicUsize = AtomicUsize::new(0);

impl Fleet {
    pub async fn start() -> Fleet {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let bad: Arc<Mutex<HashSet<String>>> = Arc::default();
        let slow: Arc<Mutex<HashSet<String>>> = Arc::default();
        let (analysis_url, analysis) = analysis_server(bad.clone(), slow.clone()).await;

        let real = real_contexts();
        let fleet_number = FLEETS.fetch_add(1, Ordering::Relaxed);
        let plans: Vec<Plan> = NAMES
            .iter()
            .enumerate()
            .map(|(i, &name)| match &real {
                Some(contexts) => {
                    let namespace = format!("shop-{name}-{}-{fleet_number}", std::process::id());
                    Plan {
                        name,
                        context: contexts[i].clone(),
                        lease_namespace: namespace.clone(),
                        namespace,
                    }
                }
                None => Plan {
                    name,
                    context: format!("ctx-{name}"),
                    namespace: "shop".into(),
                    lease_namespace: "conductor".into(),
                },
            })
            .collect();

        let mut clusters = Vec::new();
        let mut kubeconfigs = Vec::new();
        let mut routes = true;
        for plan in &plans {
            let log = dir.path().join(format!("controller-{}.log", plan.name));
            let (client, fake) = match &real {
                None => {
                    let fake =
                        start_fake(&dir, plan, !options.without_routes.contains(&plan.name)).await;
                    kubeconfigs.push(fake.kubeconfig.clone());
                    (fake.api.client(), Some(fake))
                }
                Some(_) => {
                    let client = real_cluster(plan).await;
                    routes &= serves_routes(&client).await;
                    (client, None)
                }
            };
            clusters.push(FleetCluster {
                name: plan.name.to_owned(),
                namespace: plan.namespace.clone(),
                lease_namespace: plan.lease_namespace.clone(),
                context: plan.context.clone(),
                client,
                fake,
                controller: None,
                log,
                recorder: None,
            });
        }
        if real.is_some() {
            eprintln!(
                "running against the real clusters in KUBECONFIG: {}",
                plans
                    .iter()
                    .map(|p| format!("{} = {}/{}", p.name, p.context, p.namespace))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if !routes {
                eprintln!(
                    "SKIPPED: Gateway API routing (a cluster does not serve HTTPRoute); the canary is a replica ratio"
                );
            }
        }
        let kinds = vec![
            ROLLOUTS,
            ANALYSIS_TEMPLATES,
            SERVICES,
            CONFIG_MAPS,
            DEPLOYMENTS,
            JOBS,
        ];
        for cluster in &mut clusters {
            // A cluster that does not serve HTTPRoutes answers their watch
            // `404 page not found`: there is nothing to record.
            let mut kinds = kinds.clone();
            if routes && !options.without_routes.contains(&cluster.name.as_str()) {
                kinds.push(ROUTES);
            }
            cluster.recorder =
                Some(Recorder::start(&cluster.client, &cluster.namespace, &kinds).await);
            if !options.without_controller.contains(&cluster.name.as_str()) {
                cluster.controller = Some(cluster.spawn_controller());
            }
        }
        for cluster in &clusters {
            if cluster.controller.is_some() {
                cluster.wait_for_lease().await;
            }
        }

        let repo = dir.path().join("repo");
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/deploy"),
            &repo,
        );
        let ledger = dir.path().join("ledger.git");
        git(dir.path(), &["init", "--quiet", "--bare", "ledger.git"]);
        write_config(&repo.join("conductor-config/shop.yaml"), &ledger, &plans);
        let values = repo.join("charts/shop/values.yaml");
        let mut text = std::fs::read_to_string(&values)
            .unwrap()
            .replace("http://127.0.0.1:9/error-rate", &analysis_url);
        if !routes {
            text = text.replace("gatewayApi: true", "gatewayApi: false");
        }
        std::fs::write(&values, text).unwrap();
        for name in &options.unserved_kind_in {
            let path = repo.join(format!("charts/shop/values/{ENV}/{name}.yaml"));
            let mut text = std::fs::read_to_string(&path).unwrap();
            text.push_str("unservedKind: true\n");
            std::fs::write(&path, text).unwrap();
        }
        git(&repo, &["init", "--quiet", "-b", "main"]);
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "--quiet", "-m", "shop"]);

        let kubeconfig =
            (!kubeconfigs.is_empty()).then(|| std::env::join_paths(&kubeconfigs).unwrap());
        Fleet {
            dir,
            repo,
            ledger,
            clusters,
            kubeconfig,
            routes,
            bad,
            slow,
            env: Vec::new(),
            _analysis: analysis,
        }
    }

    /// Sets a variable in the environment of every later `conductor` run.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.push((name.to_owned(), value.to_owned()));
    }

    /// Gives the service config a `notifications:` section (YAML, a list).
    pub fn notify(&self, targets: &str) {
        let path = self.repo.join("conductor-config/shop.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut config: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        config["notifications"] = serde_yaml::from_str(targets).unwrap();
        std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).unwrap();
    }

    /// Whether the clusters are fakes (audit logs, injected denials).
    pub fn is_fake(&self) -> bool {
        self.clusters.iter().all(|c| c.fake.is_some())
    }

    pub fn cluster(&self, name: &str) -> &FleetCluster {
        self.clusters.iter().find(|c| c.name == name).unwrap()
    }

    pub fn cluster_mut(&mut self, name: &str) -> &mut FleetCluster {
        self.clusters.iter_mut().find(|c| c.name == name).unwrap()
    }

    /// Commits a change to the source repository; returns the short sha.
    pub fn commit(&self, what: &str) -> String {
        let file = self.repo.join("CHANGES");
        let mut text = std::fs::read_to_string(&file).unwrap_or_default();
        text.push_str(what);
        text.push('\n');
        std::fs::write(&file, text).unwrap();
        git(&self.repo, &["add", "."]);
        git(&self.repo, &["commit", "--quiet", "-m", what]);
        git(&self.repo, &["rev-parse", "--short=7", "HEAD"])
    }

    /// Commits `what` on a new branch off `base`, leaving `main` as it
    /// was; returns the short sha.
    pub fn commit_on_branch(&self, branch: &str, base: &str, what: &str) -> String {
        git(&self.repo, &["checkout", "--quiet", "-b", branch, base]);
        let sha = self.commit(what);
        git(&self.repo, &["checkout", "--quiet", "main"]);
        sha
    }

    /// Changes a line of the chart's values and commits it.
    pub fn set_value(&self, from: &str, to: &str) -> String {
        let values = self.repo.join("charts/shop/values.yaml");
        let text = std::fs::read_to_string(&values).unwrap();
        assert!(text.contains(from), "values.yaml has no `{from}`");
        std::fs::write(&values, text.replace(from, to)).unwrap();
        self.commit(&format!("values: {to}"))
    }

    pub fn mark_bad(&self, revision: &str) {
        self.bad.lock().unwrap().insert(revision.to_owned());
    }

    /// The revision's analysis fails in one cluster only.
    pub fn mark_bad_in(&self, revision: &str, cluster: &str) {
        self.bad
            .lock()
            .unwrap()
            .insert(format!("{revision}@{cluster}"));
    }

    pub fn mark_slow(&self, revision: &str) {
        self.slow.lock().unwrap().insert(revision.to_owned());
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_conductor"));
        command
            .arg("--repo")
            .arg(&self.repo)
            .args(args)
            .env("CONDUCTOR_HELM", crate::common::helm())
            .env("GIT_TERMINAL_PROMPT", "0")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        if let Some(kubeconfig) = &self.kubeconfig {
            command.env("KUBECONFIG", kubeconfig);
        }
        command
    }

    /// `deploy shop --env production <target> <rev>` with the tests' poll,
    /// timeout (unless `extra` sets one) and `--by`.
    fn deploy_args<'a>(target: &'a str, revision: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "deploy", SERVICE, "--env", ENV, target, revision, "--poll", "100ms", "--by", "tests",
        ];
        if !extra.contains(&"--timeout") {
            args.extend_from_slice(&["--timeout", "90s"]);
        }
        args.extend_from_slice(extra);
        args
    }

    /// `conductor deploy shop --env production --revision <rev> ...`, to its end.
    pub fn deploy(&self, revision: &str, extra: &[&str]) -> Run {
        let args = Self::deploy_args("--revision", revision, extra);
        Run(self.command(&args).output().unwrap())
    }

    /// `conductor deploy ... --rollback-to <rev>`: an intentional step back.
    pub fn rollback_to(&self, revision: &str) -> Run {
        let args = Self::deploy_args("--rollback-to", revision, &[]);
        Run(self.command(&args).output().unwrap())
    }

    /// The same as [`Fleet::deploy`], running in the background.
    pub fn spawn_deploy(&self, revision: &str, extra: &[&str]) -> Child {
        let args = Self::deploy_args("--revision", revision, extra);
        self.command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub fn conductor(&self, args: &[&str]) -> Run {
        Run(self.command(args).output().unwrap())
    }

    /// A ledger file as of the branch head.
    pub fn ledger_file(&self, path: &str) -> Option<String> {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(&self.ledger)
            .args(["show", &format!("conductor/ledger:{path}")])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn ledger_record(&self, cluster: &str) -> Value {
        let text = self
            .ledger_file(&format!("{SERVICE}/{ENV}/{cluster}.yaml"))
            .unwrap_or_else(|| panic!("no ledger record for {cluster}"));
        serde_yaml::from_str(&text).unwrap()
    }

    /// The ledger branch's whole story: every commit with its patch.
    pub fn ledger_patches(&self) -> String {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(&self.ledger)
            .args(["log", "-p", "conductor/ledger"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Subjects of the ledger branch's commits, oldest first.
    pub fn ledger_log(&self) -> Vec<String> {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(&self.ledger)
            .args(["log", "--reverse", "--format=%s", "conductor/ledger"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Full sha of a revision of the source repository.
    pub fn sha(&self, revision: &str) -> String {
        git(&self.repo, &["rev-parse", revision])
    }

    /// Whether `older` is an ancestor of (or equal to) `newer`.
    pub fn is_ancestor(&self, older: &str, newer: &str) -> bool {
        Command::new("git")
            .current_dir(&self.repo)
            .args(["merge-base", "--is-ancestor", older, newer])
            .status()
            .unwrap()
            .success()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn write_kubeconfig(path: &Path, plan: &Plan, server: &str, token: &str) {
    let name = plan.name;
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": format!("cluster-{name}"), "cluster": {"server": server}}],
        "users": [{"name": format!("user-{name}"), "user": {"token": token}}],
        "contexts": [{
            "name": format!("ctx-{name}"),
            "context": {"cluster": format!("cluster-{name}"), "user": format!("user-{name}"), "namespace": plan.namespace},
        }],
        "current-context": format!("ctx-{name}"),
    });
    std::fs::write(path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

/// The RBAC of both charts for a fake cluster: the operator's in its
/// namespace, the deployer's beside it, granting the service's namespace.
fn charts_rbac(plan: &Plan) -> Vec<Value> {
    let controller_ns = plan.lease_namespace.as_str();
    let mut documents = rbac::render("charts/conductor", rbac::RELEASE, controller_ns, &[]);
    let namespaces = format!("namespaces={{{}}}", plan.namespace);
    let controller = format!("controllerNamespace={controller_ns}");
    documents.extend(rbac::render(
        "charts/conductor-deployer",
        rbac::DEPLOYER_RELEASE,
        controller_ns,
        &[&namespaces, &controller],
    ));
    documents
}

/// A fake API server for one cluster, with the namespaces, CRDs and RBAC
/// a cluster prepared for Conductor has, and kubeconfig files naming it
/// for the deployer and for the controller.
async fn start_fake(dir: &tempfile::TempDir, plan: &Plan, with_routes: bool) -> FakeParts {
    let api = FakeApi::new();
    api.enforce_rbac().unwrap();
    rbac::install(&api, &charts_rbac(plan));
    let ns = &plan.lease_namespace;
    api.add_token(
        DEPLOYER_TOKEN,
        User::service_account(ns, rbac::DEPLOYER_RELEASE),
    );
    api.add_token(CONTROLLER_TOKEN, User::service_account(ns, rbac::RELEASE));
    let simulator = Simulator::with_pods(&api);
    for crd in fake_crds(with_routes) {
        api.insert(
            ("apiextensions.k8s.io/v1", "customresourcedefinitions"),
            crd,
        )
        .unwrap();
    }
    for namespace in [&plan.namespace, &plan.lease_namespace] {
        api.insert(
            ("v1", "namespaces"),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        )
        .unwrap();
    }
    let server = fakeapi::serve(api.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let kubeconfig = dir.path().join(format!("kubeconfig-{}", plan.name));
    write_kubeconfig(&kubeconfig, plan, &server.url(), DEPLOYER_TOKEN);
    let controller_kubeconfig = dir
        .path()
        .join(format!("kubeconfig-{}-controller", plan.name));
    write_kubeconfig(
        &controller_kubeconfig,
        plan,
        &server.url(),
        CONTROLLER_TOKEN,
    );
    FakeParts {
        api,
        _simulator: simulator,
        _server: server,
        kubeconfig,
        controller_kubeconfig,
    }
}

/// A client for the plan's context, with its namespace created and
/// Conductor's CRDs applied.
async fn real_cluster(plan: &Plan) -> Client {
    let options = kube::config::KubeConfigOptions {
        context: Some(plan.context.clone()),
        ..Default::default()
    };
    let config = kube::Config::from_kubeconfig(&options)
        .await
        .unwrap_or_else(|e| panic!("context {}: {e}", plan.context));
    let client = Client::try_from(config).unwrap();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let namespace = serde_json::from_value(json!({"metadata": {"name": plan.namespace}})).unwrap();
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("create namespace {}: {e}", plan.namespace));
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    for crd in conductor::crd::all() {
        let name = crd.metadata.name.clone().unwrap();
        crds.patch(
            &name,
            &kube::api::PatchParams::apply("conductor-tests").force(),
            &kube::api::Patch::Apply(&crd),
        )
        .await
        .unwrap_or_else(|e| panic!("apply CRD {name}: {e}"));
    }
    client
}

async fn serves_routes(client: &Client) -> bool {
    client
        .list_api_group_resources("gateway.networking.k8s.io/v1")
        .await
        .is_ok_and(|list| list.resources.iter().any(|r| r.name == "httproutes"))
}

/// Points each cluster of the fixture's config at its context and
/// namespaces, and the ledger at the bare repository.
fn write_config(path: &Path, ledger: &Path, plans: &[Plan]) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut config: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    config["ledger"]["repository"] = ledger.display().to_string().into();
    let clusters = config["environments"][ENV]["clusters"]
        .as_sequence_mut()
        .unwrap();
    for cluster in clusters {
        let name = cluster["name"].as_str().unwrap().to_owned();
        let plan = plans.iter().find(|p| p.name == name).unwrap();
        cluster["context"] = plan.context.clone().into();
        cluster["namespace"] = plan.namespace.clone().into();
        cluster["controllerNamespace"] = plan.lease_namespace.clone().into();
    }
    std::fs::write(path, serde_yaml::to_string(&config).unwrap()).unwrap();
}

/// `GET /error-rate?revision=R` answers `{"rate": 0.5}` for bad revisions,
/// `{"rate": 0.0}` for the others, after 3 s for slow ones.
async fn analysis_server(
    bad: Arc<Mutex<HashSet<String>>>,
    slow: Arc<Mutex<HashSet<String>>>,
) -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::State;
    use axum::http::{Uri, header};
    use axum::routing::get;
    type Sets = (Arc<Mutex<HashSet<String>>>, Arc<Mutex<HashSet<String>>>);
    async fn error_rate(
        State((bad, slow)): State<Sets>,
        uri: Uri,
    ) -> ([(header::HeaderName, &'static str); 1], String) {
        let param = |name: &str| {
            uri.query()
                .unwrap_or_default()
                .split('&')
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or_default()
                .to_owned()
        };
        let (revision, cluster) = (param("revision"), param("cluster"));
        let delay = slow.lock().unwrap().contains(&revision);
        if delay {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        let failing = {
            let bad = bad.lock().unwrap();
            bad.contains(&revision) || bad.contains(&format!("{revision}@{cluster}"))
        };
        let rate = if failing { 0.5 } else { 0.0 };
        (
            [(header::CONTENT_TYPE, "application/json")],
            json!({ "rate": rate }).to_string(),
        )
    }
    let app = axum::Router::new()
        .route("/error-rate", get(error_rate))
        .with_state((bad, slow));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/error-rate", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}
