//! Several clusters on one machine for `conductor deploy`: per cluster a
//! fake API server served over loopback HTTP, its workload simulator and a
//! real `conductor controller` process; one kubeconfig file per cluster,
//! merged through `KUBECONFIG` as kubectl merges them; a real Git source
//! repository and a real bare ledger repository; the real helm; and a
//! loopback HTTP server answering the analysis' error-rate queries.

#![allow(dead_code)]

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fakeapi::simulator::Simulator;
use fakeapi::{AuditEntry, FakeApi, Server};
use serde_json::{Value, json};

pub use crate::common::Run;

pub const SERVICE: &str = "shop";
pub const NAMESPACE: &str = "shop";
pub const ENV: &str = "production";
/// The deploy's field manager: its writes in the audit logs.
pub const DEPLOY: &str = "conductor-deploy";

pub fn rollouts() -> (&'static str, &'static str) {
    ("conductor.dev/v1alpha1", "rollouts")
}

pub fn routes() -> (&'static str, &'static str) {
    ("gateway.networking.k8s.io/v1", "httproutes")
}

pub struct FakeCluster {
    pub name: String,
    pub fake: FakeApi,
    _simulator: Simulator,
    _server: Server,
    kubeconfig: PathBuf,
    controller: Option<Child>,
    log: PathBuf,
}

impl FakeCluster {
    /// Mutating requests the deploy made, in order.
    pub fn deploy_writes(&self) -> Vec<AuditEntry> {
        self.fake
            .audit()
            .into_iter()
            .filter(|e| e.field_manager.as_deref() == Some(DEPLOY))
            .collect()
    }

    pub fn rollout(&self) -> Option<Value> {
        self.fake
            .get_object(rollouts(), NAMESPACE, SERVICE)
            .map(|v| (*v).clone())
    }

    /// The image tag the Rollout's template asks for.
    pub fn rollout_tag(&self) -> Option<String> {
        let rollout = self.rollout()?;
        let image = rollout
            .pointer("/spec/template/spec/containers/0/image")?
            .as_str()?;
        image.rsplit_once(':').map(|(_, t)| t.to_owned())
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
        self.controller = Some(spawn_controller(&self.name, &self.kubeconfig, &self.log));
    }

    pub fn controller_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        self.kill_controller();
    }
}

pub struct Fleet {
    dir: tempfile::TempDir,
    pub repo: PathBuf,
    pub ledger: PathBuf,
    pub clusters: Vec<FakeCluster>,
    pub kubeconfig: OsString,
    /// Revisions whose analysis fails.
    pub bad: Arc<Mutex<HashSet<String>>>,
    /// Revisions whose analysis takes a few seconds to answer.
    pub slow: Arc<Mutex<HashSet<String>>>,
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

fn spawn_controller(name: &str, kubeconfig: &Path, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_conductor"))
        .args([
            "controller",
            "--namespace",
            NAMESPACE,
            "--metrics-addr",
            "127.0.0.1:0",
            "--lease-namespace",
            "conductor",
            "--identity",
            &format!("controller-{name}"),
            "--log-format",
            "text",
        ])
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start conductor controller")
}

/// Minimal CRD objects, so discovery serves the kinds the chart renders.
fn crds(with_routes: bool) -> Vec<Value> {
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
    /// Clusters left without the Gateway API CRD.
    pub without_routes: Vec<&'static str>,
    /// Clusters with no controller running.
    pub without_controller: Vec<&'static str>,
}

impl Fleet {
    pub async fn start() -> Fleet {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let bad: Arc<Mutex<HashSet<String>>> = Arc::default();
        let slow: Arc<Mutex<HashSet<String>>> = Arc::default();
        let (analysis_url, analysis) = analysis_server(bad.clone(), slow.clone()).await;

        let repo = dir.path().join("repo");
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/deploy"),
            &repo,
        );
        let ledger = dir.path().join("ledger.git");
        git(dir.path(), &["init", "--quiet", "--bare", "ledger.git"]);
        let config = repo.join("conductor-config/shop.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            text.replace("LEDGER", &ledger.display().to_string()),
        )
        .unwrap();
        let values = repo.join("charts/shop/values.yaml");
        let text = std::fs::read_to_string(&values).unwrap();
        std::fs::write(
            &values,
            text.replace("http://127.0.0.1:9/error-rate", &analysis_url),
        )
        .unwrap();
        git(&repo, &["init", "--quiet", "-b", "main"]);
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "--quiet", "-m", "shop"]);

        let mut clusters = Vec::new();
        let mut kubeconfigs = Vec::new();
        for name in ["eu", "us", "ap"] {
            let fake = FakeApi::new();
            let simulator = Simulator::with_pods(&fake);
            for crd in crds(!options.without_routes.contains(&name)) {
                fake.insert(
                    ("apiextensions.k8s.io/v1", "customresourcedefinitions"),
                    crd,
                )
                .unwrap();
            }
            for namespace in [NAMESPACE, "conductor"] {
                fake.insert(
                    ("v1", "namespaces"),
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
                )
                .unwrap();
            }
            let server = fakeapi::serve(fake.clone(), ([127, 0, 0, 1], 0).into())
                .await
                .unwrap();
            let kubeconfig = dir.path().join(format!("kubeconfig-{name}"));
            write_kubeconfig(&kubeconfig, name, &server.url());
            kubeconfigs.push(kubeconfig.clone());
            let log = dir.path().join(format!("controller-{name}.log"));
            let controller = (!options.without_controller.contains(&name))
                .then(|| spawn_controller(name, &kubeconfig, &log));
            clusters.push(FakeCluster {
                name: name.to_owned(),
                fake,
                _simulator: simulator,
                _server: server,
                kubeconfig,
                controller,
                log,
            });
        }
        for cluster in &clusters {
            if cluster.controller.is_some() {
                wait_for_lease(cluster).await;
            }
        }
        let kubeconfig = std::env::join_paths(&kubeconfigs).unwrap();
        Fleet {
            dir,
            repo,
            ledger,
            clusters,
            kubeconfig,
            bad,
            slow,
            _analysis: analysis,
        }
    }

    pub fn cluster(&self, name: &str) -> &FakeCluster {
        self.clusters.iter().find(|c| c.name == name).unwrap()
    }

    pub fn cluster_mut(&mut self, name: &str) -> &mut FakeCluster {
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
            .env("KUBECONFIG", &self.kubeconfig)
            .env("CONDUCTOR_HELM", crate::common::helm())
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null());
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

fn write_kubeconfig(path: &Path, name: &str, server: &str) {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": format!("cluster-{name}"), "cluster": {"server": server}}],
        "users": [{"name": format!("user-{name}"), "user": {}}],
        "contexts": [{
            "name": format!("ctx-{name}"),
            "context": {"cluster": format!("cluster-{name}"), "user": format!("user-{name}"), "namespace": NAMESPACE},
        }],
        "current-context": format!("ctx-{name}"),
    });
    std::fs::write(path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

async fn wait_for_lease(cluster: &FakeCluster) {
    let start = Instant::now();
    loop {
        let held = cluster
            .fake
            .get_object(
                ("coordination.k8s.io/v1", "leases"),
                "conductor",
                "conductor-controller",
            )
            .is_some_and(|l| l.pointer("/spec/holderIdentity").is_some());
        if held {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "controller of {} holds no lease after 30s: {}",
            cluster.name,
            cluster.controller_log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
