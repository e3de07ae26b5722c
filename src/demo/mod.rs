//! `conductor demo`: a real canary of the helpdesk on this machine. The
//! rollout and analysis come from the chart's `demo` values, rendered by
//! helm; the same engine and analysis code as the operator decide; the
//! local platform (processes behind a weighted proxy) carries it out.

pub mod error;
pub mod prometheus;
pub mod report;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::watch;

use crate::analysis::plan::plan_metrics;
use crate::analysis::providers::{Providers, StaticEndpoints, StaticKeys};
use crate::analysis::run::Run;
use crate::crd::analysis::{AnalysisTemplateSpec, Measurement};
use crate::crd::problem::joined;
use crate::crd::rollout::{AnalysisTemplateRef, Rollout, RolloutSpec, RolloutStatus};
use crate::engine::{self, AnalysisPhase, AnalysisRunState, Observed, ReplicaSetState};
use crate::platform::local::proxy::{Proxy, Side};
use crate::platform::local::replicas::{ReplicaSets, RevisionSettings, helpdesk_binary};
use crate::render::{self, Helm};
pub use error::DemoError;
use report::{Line, MeasurementLine, Report, Scenario, Traffic, WeightLine};

const SERVICE: &str = "helpdesk";
const ENVIRONMENT: &str = "demo";
const TICK: Duration = Duration::from_millis(100);
const SCENARIO_LIMIT: Duration = Duration::from_secs(120);
/// The demo's single platform observes and decides in one loop, so its
/// status is never written for another spec than the one it decides on: one
/// generation throughout, and `engine::outcome` has no stale status to catch.
const GENERATION: i64 = 1;

/// One release the demo rolls out, and what should become of it.
pub struct Release {
    pub label: &'static str,
    pub promote: bool,
    pub overrides: Vec<(&'static str, &'static str)>,
}

pub struct Options {
    pub repo: PathBuf,
    /// Longer analysis windows than the demo values' 2 s.
    pub slow: bool,
    pub releases: Vec<Release>,
    /// Requests per second the load generator sends through the proxy.
    pub rate: u32,
    /// Print progress as it happens.
    pub live: bool,
    /// Analyse with a real Prometheus instead of scraping the pods.
    pub prometheus: bool,
}

/// The good and the bad release of the scenario.
pub fn releases(good: bool, bad: bool) -> Vec<Release> {
    let mut list = Vec::new();
    if good {
        list.push(Release {
            label: "v2",
            promote: true,
            overrides: vec![],
        });
    }
    if bad {
        list.push(Release {
            label: "v3",
            promote: false,
            overrides: vec![("faults.errorRate", "0.3")],
        });
    }
    list
}

struct Revision {
    label: String,
    hash: String,
    spec: RolloutSpec,
    template_name: String,
    template: AnalysisTemplateSpec,
    settings: RevisionSettings,
}

/// A spawned task stopped when its owner goes away (Ctrl-C included).
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct AnalysisTask {
    state: watch::Receiver<Run>,
    _task: Task,
    reported: HashMap<String, i32>,
}

struct Platform {
    binary: PathBuf,
    sets: ReplicaSets,
    revisions: HashMap<String, RevisionSettings>,
    created: HashMap<String, (u64, Timestamp)>,
    scale_down_at: HashMap<String, Timestamp>,
    runs: HashMap<String, AnalysisTask>,
    proxy: Proxy,
    prometheus: Option<prometheus::Prometheus>,
    status: RolloutStatus,
    pids: Vec<u32>,
    started: Instant,
    live: bool,
}

impl Platform {
    fn at(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn say(&self, text: &str) {
        if self.live {
            println!("[{:6.1}s] {text}", self.at());
        }
    }

    fn observed(&self, current: &Revision) -> Observed {
        let mut replica_sets: Vec<ReplicaSetState> = self
            .created
            .iter()
            .map(|(hash, (revision, created))| {
                let count = i32::try_from(self.sets.count(hash)).unwrap_or(i32::MAX);
                ReplicaSetState {
                    hash: hash.clone(),
                    label: self
                        .revisions
                        .get(hash)
                        .map(|s| s.label.clone())
                        .unwrap_or_default(),
                    revision: *revision,
                    template: Some(hash.clone()),
                    created_at: Some(*created),
                    replicas: count,
                    ready: count,
                    available: count,
                    scale_down_at: self.scale_down_at.get(hash).copied(),
                }
            })
            .collect();
        replica_sets.sort_by_key(|rs| rs.revision);
        let analysis_runs = self
            .runs
            .iter()
            .map(|(name, task)| {
                let run = task.state.borrow();
                let (phase, message) = run.phase();
                AnalysisRunState {
                    name: name.clone(),
                    phase,
                    message: Some(message),
                }
            })
            .collect();
        Observed {
            name: SERVICE.into(),
            generation: GENERATION,
            template_hash: current.hash.clone(),
            template_label: current.label.clone(),
            replica_sets,
            analysis_runs,
            traffic_weight: None,
            known_templates: Some(vec![AnalysisTemplateRef {
                template_name: current.template_name.clone(),
                cluster_scope: None,
            }]),
            requests: Vec::new(),
            problem: None,
        }
    }

    /// One decision, made real. Returns the decision's events.
    async fn tick(&mut self, current: &Revision, scenario: &mut Scenario) -> Result<(), DemoError> {
        // Measurements first: the one that decides this tick must be on record.
        self.collect_measurements(scenario);
        let observed = self.observed(current);
        let decision = engine::decide(&current.spec, &self.status, &observed, Timestamp::now());
        for rs in &decision.desired.replica_sets {
            let Some(settings) = self.revisions.get(&rs.hash).cloned() else {
                continue;
            };
            self.sets
                .scale(
                    &self.binary,
                    &rs.hash,
                    &settings,
                    usize::try_from(rs.replicas).unwrap_or(0),
                )
                .await?;
            let next = self.created.len() as u64 + 1;
            self.created
                .entry(rs.hash.clone())
                .or_insert((next, Timestamp::now()));
            match rs.scale_down_at {
                Some(at) => self.scale_down_at.insert(rs.hash.clone(), at),
                None => self.scale_down_at.remove(&rs.hash),
            };
        }
        for pid in self.sets.pids() {
            if !self.pids.contains(&pid) {
                self.pids.push(pid);
            }
        }
        let stable = decision.desired.stable_hash.clone().unwrap_or_default();
        let canary = decision.desired.canary_hash.clone().unwrap_or_default();
        let canary_addrs = if canary == stable {
            Vec::new()
        } else {
            self.sets.addrs(&canary)
        };
        self.proxy
            .set_backends(self.sets.addrs(&stable), canary_addrs.clone());
        if let Some(prometheus) = self.prometheus.as_mut() {
            prometheus.follow(&self.sets.addrs(&stable), &canary_addrs);
        }
        let weight = decision.desired.canary_weight;
        self.proxy.set_weight(weight);
        if scenario.weights.last().is_none_or(|w| w.weight != weight) {
            scenario.weights.push(WeightLine {
                at: self.at(),
                weight,
            });
            self.say(&format!("proxy: {weight}% of traffic to {}", current.label));
        }
        let aborted_now = decision.events.iter().any(|e| e.reason == "RolloutAborted");
        if aborted_now && scenario.abort_latency_ms.is_none() {
            // The measurement that decided is the latest failed one.
            let decided = scenario
                .measurements
                .iter()
                .filter(|m| matches!(m.phase, AnalysisPhase::Failed | AnalysisPhase::Error))
                .filter_map(|m| m.finished)
                .max();
            if let Some(finished) = decided {
                scenario.abort_latency_ms =
                    Some((Timestamp::now().as_millisecond() - finished.as_millisecond()) as f64);
            }
        }
        for event in &decision.events {
            self.say(&format!("{}: {}", event.reason, event.message));
            scenario.events.push(Line {
                at: self.at(),
                reason: event.reason.into(),
                message: event.message.clone(),
            });
        }
        self.sync_runs(current, &decision.desired.analysis_runs, canary_addrs)?;
        self.status = decision.status;
        Ok(())
    }

    fn sync_runs(
        &mut self,
        current: &Revision,
        desired: &[engine::DesiredAnalysisRun],
        canary: Vec<std::net::SocketAddr>,
    ) -> Result<(), DemoError> {
        for run in desired {
            if self.runs.contains_key(&run.name) {
                continue;
            }
            let plans = plan_metrics(&current.template_name, &current.template, &[])
                .map_err(|p| DemoError::Setup(joined(&p, "; ")))?;
            let endpoints = canary.iter().map(|a| format!("http://{a}")).collect();
            let providers = Providers::new(
                Arc::new(StaticKeys {
                    api_key: String::new(),
                    app_key: String::new(),
                }),
                Arc::new(StaticEndpoints(endpoints)),
            )
            .map_err(DemoError::Setup)?;
            let run_state = Run::new(plans, Timestamp::now());
            let (tx, rx) = watch::channel(run_state.clone());
            let task = tokio::spawn(async move {
                let mut run = run_state;
                run.run_to_end(&providers, |r| {
                    let _ = tx.send(r.clone());
                })
                .await;
            });
            self.say(&format!("analysis run {} started", run.name));
            self.runs.insert(
                run.name.clone(),
                AnalysisTask {
                    state: rx,
                    _task: Task(task),
                    reported: HashMap::new(),
                },
            );
        }
        // Runs the rollout no longer wants stop measuring; their verdict stays visible.
        let wanted: Vec<&str> = desired.iter().map(|r| r.name.as_str()).collect();
        for (name, task) in &mut self.runs {
            if !wanted.contains(&name.as_str()) {
                task._task.0.abort();
            }
        }
        Ok(())
    }

    fn collect_measurements(&mut self, scenario: &mut Scenario) {
        let at = self.at();
        let mut lines = Vec::new();
        for (name, task) in &mut self.runs {
            let run = task.state.borrow().clone();
            for result in &run.results {
                let seen = task.reported.entry(result.name.clone()).or_insert(0);
                let new = usize::try_from(result.count - *seen).unwrap_or(0);
                for m in result.measurements.iter().rev().take(new).rev() {
                    lines.push(measurement_line(at, name, m));
                }
                *seen = result.count;
            }
        }
        for line in lines {
            self.say(&format!(
                "measurement {}: {} value={} {}",
                line.run,
                line.phase,
                line.value.as_deref().unwrap_or("-"),
                line.message.as_deref().unwrap_or("")
            ));
            scenario.measurements.push(line);
        }
    }
}

fn measurement_line(at: f64, run: &str, m: &Measurement) -> MeasurementLine {
    MeasurementLine {
        at,
        run: run.to_owned(),
        phase: m.phase,
        value: m.value.clone(),
        message: m.message.clone(),
        query: m.query.clone(),
        finished: m.finished_at.as_deref().and_then(|t| t.parse().ok()),
    }
}

async fn prepare(
    helm: &Helm,
    repo: &Path,
    label: &str,
    overrides: &[(&str, &str)],
) -> Result<Revision, DemoError> {
    let service = crate::config::load_service(repo, SERVICE)?;
    let environment = service.environment(ENVIRONMENT)?;
    let cluster = environment
        .clusters
        .first()
        .ok_or_else(|| DemoError::Setup("the demo environment has no cluster".into()))?;
    let rendered = render::render_cluster_with(
        helm,
        repo,
        &service,
        ENVIRONMENT,
        cluster,
        Some(label),
        overrides,
    )
    .await?;
    let find = |kind: &str| {
        rendered
            .objects
            .iter()
            .find(|o| o.kind == kind)
            .map(|o| o.manifest.clone())
    };
    let rollout: Rollout = find("Rollout")
        .and_then(|m| serde_json::from_value(m).ok())
        .ok_or_else(|| DemoError::Setup("the chart renders no valid Rollout".into()))?;
    let template = find("AnalysisTemplate")
        .ok_or_else(|| DemoError::Setup("the chart renders no AnalysisTemplate".into()))?;
    let template_name = template
        .pointer("/metadata/name")
        .and_then(|n| n.as_str())
        .unwrap_or_default()
        .to_owned();
    let template_spec: AnalysisTemplateSpec =
        serde_json::from_value(template.get("spec").cloned().unwrap_or_default())
            .map_err(|e| DemoError::Setup(format!("AnalysisTemplate {template_name}: {e}")))?;
    let env = |name: &str| {
        rollout
            .spec
            .template
            .as_ref()
            .and_then(|t| t.spec.as_ref())
            .and_then(|s| s.containers.first())
            .and_then(|c| c.env.as_ref())
            .and_then(|env| env.iter().find(|e| e.name == name))
            .and_then(|e| e.value.clone())
            .unwrap_or_default()
    };
    let settings = RevisionSettings {
        label: label.to_owned(),
        error_rate: env("HELPDESK_ERROR_RATE").parse().unwrap_or(0.0),
        latency_ms: env("HELPDESK_LATENCY_MS").parse().unwrap_or(0),
    };
    Ok(Revision {
        label: label.to_owned(),
        hash: crate::platform::template_hash(rollout.spec.template.as_ref()),
        spec: rollout.spec,
        template_name,
        template: template_spec,
        settings,
    })
}

/// Sends `rate` requests a second through the proxy, counting what users see.
fn load(proxy: std::net::SocketAddr, rate: u32, sent: Arc<AtomicU64>) -> Result<Task, DemoError> {
    let client = crate::analysis::providers::http_client().map_err(DemoError::Setup)?;
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    Ok(Task(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        let mut n: u64 = 0;
        loop {
            ticker.tick().await;
            n += 1;
            let path = if n.is_multiple_of(3) {
                "/tickets?status=open"
            } else {
                "/channels"
            };
            let (client, sent) = (client.clone(), sent.clone());
            tokio::spawn(async move {
                let _ = client
                    .get(format!("http://{proxy}{path}"))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                sent.fetch_add(1, Ordering::Relaxed);
            });
        }
    })))
}

/// Runs the demo: v1 first, then each release; returns the report.
pub async fn run(options: Options) -> Result<Report, DemoError> {
    let helm = Helm::locate(&options.repo).await?;
    let prometheus = if options.prometheus {
        Some(prometheus::Prometheus::start().await?)
    } else {
        None
    };
    let address = prometheus
        .as_ref()
        .map(|p| p.url.clone())
        .unwrap_or_default();
    let mut tuning: Vec<(&str, &str)> = if options.slow {
        vec![("analysis.interval", "10s"), ("analysis.count", "5")]
    } else {
        vec![]
    };
    if prometheus.is_some() {
        // Rates need a few 1 s scrapes in their window.
        tuning.extend([
            ("analysis.provider", "prometheus"),
            ("analysis.prometheus.address", address.as_str()),
        ]);
        tuning.push(("analysis.initialDelay", "5s"));
        if !options.slow {
            tuning.push(("analysis.interval", "5s"));
        }
    }
    let proxy = Proxy::start().await.map_err(DemoError::Setup)?;
    let proxy_addr = proxy.addr;
    let mut platform = Platform {
        binary: helpdesk_binary()?,
        sets: ReplicaSets::default(),
        revisions: HashMap::new(),
        created: HashMap::new(),
        scale_down_at: HashMap::new(),
        runs: HashMap::new(),
        proxy,
        prometheus,
        status: RolloutStatus::default(),
        pids: Vec::new(),
        started: Instant::now(),
        live: options.live,
    };
    platform.say(&format!(
        "helpdesk behind http://{proxy_addr}, {} requests/s of load",
        options.rate
    ));
    let sent = Arc::new(AtomicU64::new(0));
    let _load = load(proxy_addr, options.rate, sent)?;
    let mut report = Report::default();
    let mut all = vec![Release {
        label: "v1",
        promote: true,
        overrides: vec![],
    }];
    all.extend(options.releases);
    let mut stable_errors = 0;
    for release in all {
        let overrides: Vec<(&str, &str)> = release
            .overrides
            .iter()
            .copied()
            .chain(tuning.iter().copied())
            .collect();
        let revision = prepare(&helm, &options.repo, release.label, &overrides).await?;
        platform
            .revisions
            .insert(revision.hash.clone(), revision.settings.clone());
        platform.say(&format!(
            "release {} (error rate {}): expected to be {}",
            revision.label,
            revision.settings.error_rate,
            if release.promote {
                "promoted"
            } else {
                "rolled back"
            }
        ));
        let before = (
            platform.proxy.served(Side::Stable),
            platform.proxy.served(Side::Canary),
        );
        let mut scenario = Scenario {
            revision: revision.label.clone(),
            expected: if release.promote {
                "promoted"
            } else {
                "aborted"
            }
            .into(),
            ..Default::default()
        };
        let began = Instant::now();
        let mut last_report = (Instant::now(), before);
        scenario.outcome = loop {
            platform.tick(&revision, &mut scenario).await?;
            if last_report.0.elapsed() >= Duration::from_secs(2) {
                let now = (
                    platform.proxy.served(Side::Stable),
                    platform.proxy.served(Side::Canary),
                );
                let seconds = last_report.0.elapsed().as_secs_f64();
                let rate = |a: u64, b: u64| (a - b) as f64 / seconds;
                platform.say(&format!(
                    "traffic: stable {:.0} req/s ({:.0} errors/s), canary {} {:.0} req/s ({:.0} errors/s)",
                    rate(now.0.requests, last_report.1.0.requests),
                    rate(now.0.errors, last_report.1.0.errors),
                    revision.label,
                    rate(now.1.requests, last_report.1.1.requests),
                    rate(now.1.errors, last_report.1.1.errors),
                ));
                last_report = (Instant::now(), now);
            }
            let status = &platform.status;
            let canary_pods = platform.sets.count(&revision.hash);
            let done = engine::outcome(Some(GENERATION), &revision.spec, Some(status));
            if status.stable_rs.as_deref() == Some(revision.hash.as_str())
                && done.is_healthy_at(&revision.label)
            {
                let others: usize = platform
                    .created
                    .keys()
                    .filter(|h| **h != revision.hash)
                    .map(|h| platform.sets.count(h))
                    .sum();
                if others == 0 {
                    break "promoted".to_owned();
                }
            }
            if status.abort == Some(true) && canary_pods == 0 {
                break "aborted".to_owned();
            }
            if began.elapsed() > SCENARIO_LIMIT {
                break format!("stuck: {}", status.message.clone().unwrap_or_default());
            }
            tokio::time::sleep(TICK).await;
        };
        scenario.seconds = began.elapsed().as_secs_f64();
        let after = (
            platform.proxy.served(Side::Stable),
            platform.proxy.served(Side::Canary),
        );
        scenario.stable = Traffic {
            requests: after.0.requests - before.0.requests,
            errors: after.0.errors - before.0.errors,
        };
        scenario.canary = Traffic {
            requests: after.1.requests - before.1.requests,
            errors: after.1.errors - before.1.errors,
        };
        scenario.canary_after_rollback =
            platform.proxy.canary_after_zero() && scenario.outcome == "aborted";
        stable_errors += scenario.stable.errors;
        platform.say(&format!(
            "release {}: {}",
            scenario.revision, scenario.outcome
        ));
        if release.label != "v1" {
            report.scenarios.push(scenario);
        }
        if !engine::outcome(Some(GENERATION), &revision.spec, Some(&platform.status)).is_final() {
            break;
        }
    }
    report.stable_errors = stable_errors;
    report.passed = stable_errors == 0
        && report
            .scenarios
            .iter()
            .all(|s| s.outcome == s.expected && !s.canary_after_rollback);
    platform.sets.stop_all();
    report.pids = platform.pids.clone();
    Ok(report)
}
