//! `conductor demo`: the product's main job on this machine. Three local
//! clusters (`platform::local`: real helpdesk processes behind a proxy
//! each, with users sending traffic) in two waves; a temporary source
//! repository with one commit per release and a ledger beside it; and
//! `conductor deploy`'s own orchestrator taking each release through the
//! waves. Only the scenario, the load and the report live here.
//!
//! ```text
//!   workspace (source repo + ledger) ─▶ 3 local clusters + load
//!     ─▶ deploy v1 (first release) ─▶ deploy v2 (canaries, promoted wave by wave)
//!     ─▶ deploy v3 (errors: rolled back in wave 1, wave 2 never runs it) ─▶ report + ledger log
//! ```

mod error;
mod load;
pub mod prometheus;
pub mod report;
mod workspace;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use error::DemoError;

use crate::config::{self, Service};
use crate::deploy::local::LocalCluster;
use crate::deploy::notify::Outbox;
use crate::deploy::{self, OnFailure, Request};
use crate::gitops::location::LedgerLocation;
use crate::gitops::ordering::Intent;
use crate::gitops::store::LedgerStore;
use crate::platform::local::controller::{LocalPlatform, ScrapeTargets, Task};
use crate::platform::local::proxy::{Proxy, Side};
use crate::platform::local::replicas::program_binary;
use report::{ClusterScenario, Report, Scenario, Traffic};
use workspace::{Setting, Workspace};

const SERVICE: &str = "helpdesk";
const ENVIRONMENT: &str = "demo";
/// How long one cluster may take to settle a release.
const CLUSTER_LIMIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(100);

/// One release the demo deploys, and what should become of it.
pub struct Release {
    pub label: &'static str,
    pub promote: bool,
    /// Values the release's commit sets for the environment.
    pub settings: Vec<Setting>,
}

pub struct Options {
    pub repo: PathBuf,
    /// Longer analysis windows than the demo values' 2 s.
    pub slow: bool,
    pub releases: Vec<Release>,
    /// Requests per second the users of each cluster send.
    pub rate: u32,
    /// Print progress as it happens.
    pub live: bool,
    /// Analyse with a real Prometheus per cluster instead of scraping the pods.
    pub prometheus: bool,
    /// Keep the source repository and the ledger afterwards.
    pub keep: bool,
}

/// The good and the bad release of the scenario.
pub fn releases(good: bool, bad: bool) -> Vec<Release> {
    let mut list = Vec::new();
    if good {
        list.push(Release {
            label: "v2",
            promote: true,
            settings: vec![],
        });
    }
    if bad {
        list.push(Release {
            label: "v3",
            promote: false,
            settings: vec![("faults.errorRate", "0.3".into())],
        });
    }
    list
}

struct Cluster {
    name: String,
    wave: u32,
    target: Arc<LocalCluster>,
    _load: Task,
}

impl Cluster {
    fn traffic(&self) -> (Traffic, Traffic) {
        let served = |side| {
            let s = self.target.proxy.served(side);
            Traffic {
                requests: s.requests,
                errors: s.errors,
            }
        };
        (served(Side::Stable), served(Side::Canary))
    }
}

fn minus(after: Traffic, before: Traffic) -> Traffic {
    Traffic {
        requests: after.requests - before.requests,
        errors: after.errors - before.errors,
    }
}

impl ScrapeTargets for prometheus::Prometheus {
    fn follow(&mut self, stable: &[std::net::SocketAddr], canary: &[std::net::SocketAddr]) {
        prometheus::Prometheus::follow(self, stable, canary);
    }
}

/// Analysis tuning for one cluster: longer windows when slow; its own
/// Prometheus when asked.
fn tuning(slow: bool, prometheus: Option<&prometheus::Prometheus>) -> Vec<Setting> {
    let mut settings: Vec<Setting> = Vec::new();
    if slow {
        settings.extend([
            ("analysis.interval", "10s".into()),
            ("analysis.count", "5".into()),
        ]);
    }
    if let Some(prometheus) = prometheus {
        // Rates need a few 1 s scrapes in their window.
        settings.extend([
            ("analysis.provider", "prometheus".into()),
            ("analysis.prometheus.address", prometheus.url.clone()),
            ("analysis.initialDelay", "5s".into()),
        ]);
        if !slow {
            settings.push(("analysis.interval", "5s".into()));
        }
    }
    settings
}

/// The environment's clusters, each with its users; and each cluster's
/// analysis tuning, for its values file.
async fn start_clusters(
    options: &Options,
    service: &Service,
) -> Result<(Vec<Cluster>, Vec<(String, Vec<Setting>)>), DemoError> {
    let environment = service.environment(ENVIRONMENT)?;
    let binary = program_binary(SERVICE)?;
    let mut clusters = Vec::new();
    let mut settings = Vec::new();
    for cluster in &environment.clusters {
        let proxy = Arc::new(Proxy::start().await.map_err(DemoError::Setup)?);
        let prometheus = if options.prometheus {
            Some(prometheus::Prometheus::start().await?)
        } else {
            None
        };
        settings.push((
            cluster.name.clone(),
            tuning(options.slow, prometheus.as_ref()),
        ));
        let scrape = prometheus.map(|p| Box::new(p) as Box<dyn ScrapeTargets>);
        let platform = LocalPlatform::new(
            &cluster.name,
            binary.clone(),
            proxy.clone(),
            scrape,
            options.live,
        );
        let target = Arc::new(LocalCluster::start(&cluster.name, platform, proxy));
        let load = load::start(target.proxy.addr, options.rate)?;
        clusters.push(Cluster {
            name: cluster.name.clone(),
            wave: cluster.wave,
            target,
            _load: load,
        });
    }
    Ok((clusters, settings))
}

/// Runs the demo: v1 everywhere, then each release; returns the report.
pub async fn run(options: Options) -> Result<Report, DemoError> {
    let service = config::load_service(&options.repo, SERVICE)?;
    let (clusters, per_cluster) = start_clusters(&options, &service).await?;
    let mut workspace = Workspace::create(&options.repo, SERVICE, ENVIRONMENT, &per_cluster)?;
    // The service as the deploys read it: the copy pointing at the ledger.
    let deployed = config::load_service(&workspace.source, SERVICE)?;
    let say = |line: &str| {
        if options.live {
            println!("deploy: {line}");
        }
    };
    if options.live {
        println!(
            "{} local clusters ({}), {} requests/s of users each; source and ledger in {}",
            clusters.len(),
            clusters
                .iter()
                .map(|c| format!("{} in wave {}", c.name, c.wave))
                .collect::<Vec<_>>()
                .join(", "),
            options.rate,
            workspace
                .source
                .parent()
                .map(Path::display)
                .map_or_else(String::new, |d| d.to_string())
        );
    }
    let mut report = Report::default();
    let mut all = vec![Release {
        label: "v1",
        promote: true,
        settings: vec![],
    }];
    all.extend(options.releases);
    let mut last_good = String::new();
    for release in all {
        let subject = if release.settings.is_empty() {
            format!("helpdesk {}", release.label)
        } else {
            let what: Vec<String> = release
                .settings
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("helpdesk {} ({})", release.label, what.join(", "))
        };
        workspace.release(release.label, &subject, &release.settings)?;
        let scenario =
            deploy_release(&workspace, &deployed, &clusters, &release, &last_good, &say).await?;
        if release.promote {
            last_good = release.label.to_owned();
        }
        let passed = scenario.outcome == scenario.expected;
        if release.label != "v1" {
            report.scenarios.push(scenario);
        } else if !passed {
            return Err(DemoError::Setup(format!(
                "the first release did not deploy: {}",
                scenario.outcome
            )));
        }
    }
    report.stable_errors = report
        .scenarios
        .iter()
        .flat_map(|s| &s.clusters)
        .map(|c| c.stable.errors)
        .sum();
    report.abort_latency_ms = report
        .scenarios
        .iter()
        .flat_map(|s| &s.clusters)
        .find_map(|c| c.journal.abort_latency_ms);
    report.passed = report.stable_errors == 0
        && report.scenarios.iter().all(|s| {
            s.outcome == s.expected && s.clusters.iter().all(|c| !c.canary_after_rollback)
        });
    report.ledger = workspace.ledger_log();
    if options.keep {
        report.kept = Some(workspace.keep().display().to_string());
    }
    for cluster in &clusters {
        let pids = cluster
            .target
            .shared
            .pids
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        report.pids.extend(pids.iter().copied());
    }
    // The clusters stop here, and every process with them.
    drop(clusters);
    Ok(report)
}

/// `conductor deploy helpdesk --env demo --revision <label>` through the
/// deploy's own orchestrator, and each cluster's story of it.
async fn deploy_release(
    workspace: &Workspace,
    service: &Service,
    clusters: &[Cluster],
    release: &Release,
    last_good: &str,
    say: &(dyn Fn(&str) + Sync),
) -> Result<Scenario, DemoError> {
    let first_wave = clusters.iter().map(|c| c.wave).min().unwrap_or(1);
    let expected = if release.promote {
        "deployed".to_owned()
    } else {
        let first: Vec<&str> = clusters
            .iter()
            .filter(|c| c.wave == first_wave)
            .map(|c| c.name.as_str())
            .collect();
        format!("failed in {}", first.join(", "))
    };
    let request = Request {
        repo: workspace.source.clone(),
        service: SERVICE.into(),
        environment: ENVIRONMENT.into(),
        revision: release.label.into(),
        source: workspace.source.clone(),
        intent: Intent::Deploy,
        on_failure: OnFailure::Stop,
        timeout: CLUSTER_LIMIT,
        by: "conductor demo".into(),
        poll: POLL,
    };
    let location = LedgerLocation::of_service(&workspace.source, &service.ledger);
    let store = tokio::task::spawn_blocking(move || LedgerStore::open(&location))
        .await
        .map_err(|e| DemoError::Setup(e.to_string()))?
        .map_err(|e| DemoError::Setup(format!("ledger: {e}")))?;
    let before: Vec<(Traffic, Traffic)> = clusters.iter().map(Cluster::traffic).collect();
    let began = Instant::now();
    let targets: Vec<Arc<LocalCluster>> = clusters.iter().map(|c| c.target.clone()).collect();
    let result = deploy::deploy(
        &request,
        service,
        targets,
        store,
        say,
        &Outbox::none(),
        std::future::pending(),
    )
    .await;
    let outcome = if result.exit == deploy::Exit::Deployed {
        "deployed".to_owned()
    } else {
        result.message.clone()
    };
    let mut scenario = Scenario {
        revision: release.label.into(),
        expected,
        outcome,
        exit_code: result.exit_code,
        seconds: began.elapsed().as_secs_f64(),
        clusters: Vec::new(),
    };
    for (cluster, before) in clusters.iter().zip(before) {
        let journal = std::mem::take(
            &mut *cluster
                .target
                .shared
                .journal
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let state = result
            .clusters
            .iter()
            .find(|c| c.name == cluster.name)
            .map(|c| c.state.clone())
            .unwrap_or_default();
        let reasons: Vec<&str> = journal.events.iter().map(|e| e.reason.as_str()).collect();
        let outcome = if reasons.contains(&"RolloutAborted") {
            "aborted"
        } else if reasons.contains(&"RolloutCompleted") {
            "promoted"
        } else if state == "Healthy" {
            "deployed"
        } else {
            "untouched"
        };
        let (stable, canary) = cluster.traffic();
        scenario.clusters.push(ClusterScenario {
            name: cluster.name.clone(),
            wave: cluster.wave,
            state,
            outcome: outcome.into(),
            serving: cluster
                .target
                .stable_revision()
                .unwrap_or_else(|| last_good.to_owned()),
            stable: minus(stable, before.0),
            canary: minus(canary, before.1),
            canary_after_rollback: outcome == "aborted" && cluster.target.proxy.canary_after_zero(),
            journal,
        });
    }
    Ok(scenario)
}
