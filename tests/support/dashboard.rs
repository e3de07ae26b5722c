//! A dashboard for tests: a real source repository with a few commits, a
//! real bare ledger repository written by the ledger's own store, a
//! service config naming four clusters (one of them the test's cluster,
//! fake or real), a Rollout with a canary analysis and pauses driven by
//! the in-process controller, and the dashboard served on a loopback port.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use conductor::crd::rollout::Rollout;
use conductor::dashboard::{ClusterClients, Dashboard, Tokens, serve};
use conductor::gitops::ledger::{self, cluster_path, environment_path};
use conductor::gitops::store::{Change, CommitResult, LedgerStore};
use conductor::gitops::{
    Applied, ClusterRecord, ClusterState, EnvironmentRecord, LedgerLocation, ObjectRef,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::cluster::{Cluster, phase, wait_for};
use crate::rollouts::{V1, V2, rollout, services, stable_at};
use crate::servers;

pub const SERVICE: &str = "shop";
pub const ROLLOUT: &str = "shop";
/// The test cluster's name in the config; its context reaches the fake.
pub const LIVE_CLUSTER: &str = "eu-west-1";
pub const CONTEXT: &str = "test-cluster";
/// Whoever holds this token is `ada`.
pub const TOKEN: &str = "ada-0123456789abcdef";
pub const USER: &str = "ada";
/// A ledger message and a commit subject with markup in them.
pub const HOSTILE: &str = "<script>alert('x')</script>";
pub const LIMIT: Duration = Duration::from_secs(40);

pub struct Repos {
    dir: tempfile::TempDir,
    pub repo: PathBuf,
    pub ledger: PathBuf,
    /// Full shas of the source commits, oldest first.
    pub commits: Vec<String>,
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn config(namespace: &str, compare_url: Option<&str>) -> String {
    let compare = compare_url
        .map(|u| format!("compareUrl: {u}\n"))
        .unwrap_or_default();
    format!(
        "service: shop
chart: charts/shop
ledger:
  repository: ../ledger.git
{compare}environments:
  production:
    clusters:
      - name: eu-west-1
        region: eu-west-1
        context: {CONTEXT}
        namespace: {namespace}
        wave: 1
      - name: us-east-1
        region: us-east-1
        context: unreachable-us
        namespace: shop
        wave: 2
      - name: ap-southeast-1
        region: ap-southeast-1
        context: unreachable-ap
        namespace: shop
        wave: 2
  staging:
    clusters:
      - name: staging-eu
        region: eu-west-1
        context: unreachable-staging
        namespace: shop
        wave: 1
"
    )
}

impl Repos {
    /// The source repository with three commits (the last with markup in
    /// its subject) and the ledger: production wants the third; eu-west-1
    /// went Deploying then Healthy at the first and then at the third,
    /// us-east-1 is Deploying, ap-southeast-1 Failed (with markup in its
    /// message), staging-eu Healthy at the second (its first deploy).
    pub fn new(namespace: &str, compare_url: Option<&str>) -> Repos {
        Self::with(namespace, compare_url, true)
    }

    /// The same history, with messages and subjects as people write them
    /// (for screenshots) or with markup in them (`hostile`).
    pub fn with(namespace: &str, compare_url: Option<&str>, hostile: bool) -> Repos {
        let dir = tempfile::tempdir().expect("a temp dir");
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join("conductor-config")).unwrap();
        std::fs::create_dir_all(repo.join("charts/shop")).unwrap();
        std::fs::write(
            repo.join("conductor-config/shop.yaml"),
            config(namespace, compare_url),
        )
        .unwrap();
        std::fs::write(
            repo.join("charts/shop/Chart.yaml"),
            "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
        )
        .unwrap();
        git(&repo, &["init", "--quiet", "-b", "main"]);
        let mut commits = Vec::new();
        let third = if hostile {
            format!("Fix {HOSTILE} & more")
        } else {
            "Rank tickets by urgency".to_owned()
        };
        for subject in ["First release", "Faster search", &third] {
            std::fs::write(repo.join("CHANGES"), subject).unwrap();
            git(&repo, &["add", "."]);
            git(&repo, &["commit", "--quiet", "-m", subject]);
            commits.push(git(&repo, &["rev-parse", "HEAD"]));
        }
        git(dir.path(), &["init", "--quiet", "--bare", "ledger.git"]);
        let repos = Repos {
            ledger: dir.path().join("ledger.git"),
            repo,
            commits,
            dir,
        };
        repos.write_ledger(namespace, hostile);
        repos
    }

    fn write_ledger(&self, namespace: &str, hostile: bool) {
        let failure = if hostile {
            format!("analysis failed: error-rate 0.3 {HOSTILE}")
        } else {
            "Rollout shop: Rollout aborted: analysis run shop-7c41f2-2-step1 failed: metric error-rate: 0.31 does not satisfy result < 0.05".to_owned()
        };
        let [first, second, third] = [&self.commits[0], &self.commits[1], &self.commits[2]];
        let rollout = ObjectRef {
            api_version: "conductor.dev/v1alpha1".into(),
            kind: "Rollout".into(),
            namespace: Some(namespace.into()),
            name: ROLLOUT.into(),
        };
        let eu = |state, revision: &str, previous: Option<&String>, minutes| ClusterRecord {
            applied: Applied {
                digest: String::new(),
                objects: vec![rollout.clone()],
            },
            ..record(state, revision, previous.map(String::as_str), minutes, None)
        };
        let production = EnvironmentRecord {
            revision: third.clone(),
            label: "v3".into(),
            generation: 3,
            updated_at: ago(12),
            by: "https://ci.example.com/run/7".into(),
            rollback: false,
        };
        let put = |env: &str, cluster: &str, record: &ClusterRecord| Change::Put {
            path: cluster_path(SERVICE, env, cluster),
            text: ledger::to_yaml(record).unwrap(),
        };
        self.commit_ledger(
            "production",
            &[put(
                "production",
                LIVE_CLUSTER,
                &eu(ClusterState::Deploying, first, None, 300),
            )],
        );
        self.commit_ledger(
            "production",
            &[put(
                "production",
                LIVE_CLUSTER,
                &eu(ClusterState::Healthy, first, None, 290),
            )],
        );
        self.commit_ledger(
            "production",
            &[
                Change::Put {
                    path: environment_path(SERVICE, "production"),
                    text: ledger::to_yaml(&production).unwrap(),
                },
                put(
                    "production",
                    LIVE_CLUSTER,
                    &eu(ClusterState::Deploying, third, Some(first), 12),
                ),
            ],
        );
        self.commit_ledger(
            "production",
            &[
                put(
                    "production",
                    LIVE_CLUSTER,
                    &eu(ClusterState::Healthy, third, Some(first), 9),
                ),
                put(
                    "production",
                    "us-east-1",
                    &record(ClusterState::Deploying, third, Some(second), 3, None),
                ),
                put(
                    "production",
                    "ap-southeast-1",
                    &record(ClusterState::Failed, third, Some(second), 2, Some(&failure)),
                ),
            ],
        );
        self.commit_ledger(
            "staging",
            &[put(
                "staging",
                "staging-eu",
                &record(ClusterState::Healthy, second, None, 600, None),
            )],
        );
    }

    fn commit_ledger(&self, env: &str, changes: &[Change]) {
        let location = LedgerLocation::new(self.ledger.display().to_string());
        let mut store = LedgerStore::open(&location).expect("open the ledger");
        let base = store.read(SERVICE, env).expect("read the ledger");
        let landed = store
            .commit(&base, changes, &format!("shop/{env}: test record"))
            .expect("commit to the ledger");
        assert!(matches!(landed, CommitResult::Landed { .. }), "{landed:?}");
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

pub fn ago(minutes: i64) -> String {
    (Timestamp::now() - SignedDuration::from_mins(minutes)).to_string()
}

fn record(
    state: ClusterState,
    revision: &str,
    previous: Option<&str>,
    minutes: i64,
    message: Option<&str>,
) -> ClusterRecord {
    ClusterRecord {
        revision: revision.into(),
        label: revision[..7].into(),
        state,
        previous_revision: previous.map(str::to_owned),
        previous_label: previous.map(|p| p[..7].to_owned()),
        generation: 3,
        applied: Applied::default(),
        updated_at: ago(minutes),
        by: "https://ci.example.com/run/7".into(),
        message: message.map(str::to_owned),
        rollback: false,
    }
}

/// The dashboard, served on a free loopback port until dropped.
pub struct Served {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    pub async fn start(repos: &Repos, cluster: Option<&Cluster>, actions: bool) -> Served {
        let mut clients = HashMap::new();
        if let Some(cluster) = cluster {
            clients.insert(CONTEXT.to_owned(), cluster.client_as("dashboard"));
        }
        let mut dashboard = Dashboard::new(repos.repo.clone(), ClusterClients::given(clients));
        dashboard.refresh = Duration::from_millis(500);
        if actions {
            let tokens = Tokens::parse(
                Path::new("tokens.csv"),
                &format!("{TOKEN},{USER}\ngrace-fedcba9876543210,grace\n"),
            )
            .expect("a token file");
            dashboard = dashboard.with_tokens(tokens);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("an address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = serve(Arc::new(dashboard), listener, shutdown).await {
                eprintln!("dashboard: {e}");
            }
        });
        Served {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

pub fn rollout_path() -> String {
    format!("/services/{SERVICE}/production/{LIVE_CLUSTER}/rollouts/{ROLLOUT}")
}

/// A web metric source answering a low error rate.
pub async fn metric_source() -> servers::Stub {
    servers::Stub::start(servers::handler(|_| async {
        servers::Response::new(200, json!({ "errorRate": 0.012 }).to_string())
    }))
    .await
}

/// The Rollout with an analysis step and pauses, Healthy at V1, then
/// changed to V2 and waiting at its first pause (step index 2), the
/// analysis done: the state every dashboard test starts from.
pub async fn rollout_paused_at_first_pause(cluster: &Cluster, metric_url: &str) {
    cluster
        .apply::<conductor::crd::analysis::AnalysisTemplate>(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": { "name": "error-rate" },
            "spec": { "metrics": [{
                "name": "error-rate",
                "interval": "1s",
                "count": 3,
                "successCondition": "result < 0.05",
                "failureLimit": 0,
                "provider": { "web": { "url": metric_url, "jsonPath": "{$.errorRate}" } }
            }] }
        }))
        .await;
    services(cluster, ROLLOUT).await;
    let steps = json!([
        { "setWeight": 20 },
        { "analysis": { "templates": [{ "templateName": "error-rate" }] } },
        { "pause": {} },
        { "setWeight": 40 },
        { "pause": {} },
        { "setWeight": 60 },
        { "pause": {} }
    ]);
    cluster
        .apply::<Rollout>(rollout(ROLLOUT, V1, 4, steps.clone()))
        .await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, ROLLOUT, LIMIT, "healthy on 3.9", stable_at("3.9")).await;
    cluster
        .apply::<Rollout>(rollout(ROLLOUT, V2, 4, steps))
        .await;
    wait_for(&api, ROLLOUT, LIMIT, "paused at step 2", paused_at(2)).await;
}

pub fn paused_at(step: i32) -> impl Fn(&Rollout) -> bool {
    move |r: &Rollout| {
        phase(r) == "Paused" && r.status.as_ref().and_then(|s| s.current_step_index) == Some(step)
    }
}

/// An HTTP client that shows redirects instead of following them.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}
