//! The dashboard's front page with 100 clusters (4 services × 25 clusters
//! of production, every state the ledger has) from a real ledger
//! repository, and prints: the rendering alone (the pure function of the
//! ledger's records) and the whole request over loopback HTTP (reading 4
//! service configs, one fetch of the ledger they share, parsing 100 records,
//! rendering). Target: well under 200 ms. Run: `cargo bench --bench dashboard`.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conductor::dashboard::front;
use conductor::dashboard::git_reader::Ledgers;
use conductor::dashboard::{ClusterClients, Dashboard, serve};
use conductor::gitops::ledger::{self, cluster_path, environment_path};
use conductor::gitops::store::{Change, LedgerStore};
use conductor::gitops::{Applied, ClusterRecord, ClusterState, EnvironmentRecord, LedgerLocation};

const SERVICES: [&str; 4] = ["shop", "search", "billing", "auth"];
const CLUSTERS_EACH: usize = 25;
const RENDERS: usize = 200;
const REQUESTS: usize = 50;

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .map_err(|e| format!("git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The config repository, its two source commits, and the ledger with a
/// record for every cluster.
fn generate(root: &Path) -> Result<(), String> {
    let repo = root.join("repo");
    let io = |e: std::io::Error| e.to_string();
    std::fs::create_dir_all(repo.join("conductor-config")).map_err(io)?;
    for service in SERVICES {
        std::fs::create_dir_all(repo.join(format!("charts/{service}"))).map_err(io)?;
        std::fs::write(
            repo.join(format!("charts/{service}/Chart.yaml")),
            format!("apiVersion: v2\nname: {service}\nversion: 0.1.0\n"),
        )
        .map_err(io)?;
        let mut config = format!(
            "service: {service}\nchart: charts/{service}\nledger:\n  repository: ../ledger.git\nenvironments:\n  production:\n    clusters:\n"
        );
        for i in 0..CLUSTERS_EACH {
            config.push_str(&format!(
                "      - {{name: region-{i:02}, region: region-{i:02}, context: ctx-{i}, namespace: {service}, wave: {}}}\n",
                1 + i % 4
            ));
        }
        std::fs::write(
            repo.join(format!("conductor-config/{service}.yaml")),
            config,
        )
        .map_err(io)?;
    }
    git(&repo, &["init", "--quiet", "-b", "main"])?;
    let mut shas = Vec::new();
    for subject in ["First release", "Second release"] {
        std::fs::write(repo.join("CHANGES"), subject).map_err(io)?;
        git(&repo, &["add", "."])?;
        git(&repo, &["commit", "--quiet", "-m", subject])?;
        shas.push(git(&repo, &["rev-parse", "HEAD"])?);
    }
    git(root, &["init", "--quiet", "--bare", "ledger.git"])?;
    let location = LedgerLocation::new(root.join("ledger.git").display().to_string());
    let mut store = LedgerStore::open(&location).map_err(|e| e.to_string())?;
    let now = jiff::Timestamp::now().to_string();
    let states = [
        ClusterState::Healthy,
        ClusterState::Healthy,
        ClusterState::Healthy,
        ClusterState::Deploying,
        ClusterState::Healthy,
        ClusterState::Failed,
        ClusterState::Healthy,
        ClusterState::RolledBack,
    ];
    for service in SERVICES {
        let mut changes = vec![Change::Put {
            path: environment_path(service, "production"),
            text: ledger::to_yaml(&EnvironmentRecord {
                revision: shas[1].clone(),
                label: shas[1][..7].to_owned(),
                generation: 2,
                updated_at: now.clone(),
                by: "https://ci.example.com/run/7".into(),
                rollback: false,
            })
            .map_err(|e| e.to_string())?,
        }];
        for i in 0..CLUSTERS_EACH {
            let state = states[i % states.len()];
            let record = ClusterRecord {
                revision: shas[1].clone(),
                label: shas[1][..7].to_owned(),
                state,
                previous_revision: Some(shas[0].clone()),
                previous_label: Some(shas[0][..7].to_owned()),
                generation: 2,
                applied: Applied::default(),
                updated_at: now.clone(),
                by: "https://ci.example.com/run/7".into(),
                message: (state == ClusterState::Failed)
                    .then(|| "analysis failed: error-rate 0.31 > 0.05".to_owned()),
                rollback: false,
            };
            changes.push(Change::Put {
                path: cluster_path(service, "production", &format!("region-{i:02}")),
                text: ledger::to_yaml(&record).map_err(|e| e.to_string())?,
            });
        }
        let base = store
            .read(service, "production")
            .map_err(|e| e.to_string())?;
        store
            .commit(&base, &changes, &format!("{service}/production: bench"))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    let p95 = times[(times.len() * 95 / 100).min(times.len() - 1)];
    println!(
        "{what}: mean {:.2} ms, p95 {:.2} ms, max {:.2} ms ({} runs)",
        mean.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        times.len()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    generate(dir.path())?;
    let repo = dir.path().join("repo");

    let overview = Arc::new(Ledgers::default()).overview(&repo).await;
    let clusters: usize = overview
        .services
        .iter()
        .flat_map(|s| &s.environments)
        .map(|e| e.clusters.len())
        .sum();
    if let Some(problem) = overview.problems.first() {
        return Err(problem.clone());
    }
    let now = jiff::Timestamp::now();
    let mut renders = Vec::new();
    let mut bytes = 0;
    for _ in 0..RENDERS {
        let start = Instant::now();
        let page = front::render(&overview, now);
        renders.push(start.elapsed());
        bytes = page.len();
    }
    println!(
        "front page, {clusters} clusters, {} KB of HTML",
        bytes / 1024
    );
    report("  render only", renders);

    let dashboard = Dashboard::new(repo, ClusterClients::given(HashMap::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(serve(Arc::new(dashboard), listener, std::future::pending()));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/");
    // The first request opens the ledger's cache (a full fetch); pages
    // after it fetch only what changed, as a running dashboard does.
    let first = Instant::now();
    let page = client.get(&url).send().await.map_err(|e| e.to_string())?;
    let status = page.status();
    let body = page.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() || body.matches("data-cluster=").count() != clusters {
        return Err(format!("the front page is not right: {status}"));
    }
    println!(
        "  first request (opens the ledger caches): {:.1} ms",
        first.elapsed().as_secs_f64() * 1e3
    );
    let mut requests = Vec::new();
    for _ in 0..REQUESTS {
        let start = Instant::now();
        let response = client.get(&url).send().await.map_err(|e| e.to_string())?;
        response.bytes().await.map_err(|e| e.to_string())?;
        requests.push(start.elapsed());
    }
    report(
        "  whole request (config, one ledger fetch, render)",
        requests,
    );
    server.abort();
    Ok(())
}
