//! One cluster on this machine, run the way the operator runs a cluster:
//! every tick it observes its processes, proxy and analysis runs, asks the
//! engine what next ([`engine::decide`]), and makes that real. Only the
//! engine decides; this file observes and writes, like
//! `platform::kubernetes`.
//!
//! ```text
//!   spec (watch) ─▶ observe: replica sets, analysis runs ─▶ engine::decide
//!     ─▶ scale processes ─▶ proxy backends and weight ─▶ analysis runs ─▶ status (watch)
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::watch;

use super::journal::{Journal, Line, MeasurementLine, WeightLine};
use super::proxy::Proxy;
use super::replicas::{ReplicaError, ReplicaSets, RevisionSettings};
use super::revision::LocalRevision;
use crate::analysis::plan::plan_metrics;
use crate::analysis::providers::{Providers, StaticEndpoints, StaticKeys, Trust};
use crate::analysis::run::Run;
use crate::crd::analysis::Measurement;
use crate::crd::problem::joined;
use crate::crd::rollout::{AnalysisTemplateRef, RolloutStatus};
use crate::engine::{self, AnalysisPhase, AnalysisRunState, Observed, ReplicaSetState};

const TICK: Duration = Duration::from_millis(100);
/// The proxy's (stable, canary) backends.
type Backends = (Vec<SocketAddr>, Vec<SocketAddr>);
/// How long a stopping process may finish the requests it is serving.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);

/// The spec the cluster holds: what a deploy applied, under a generation
/// raised whenever it changes.
#[derive(Debug, Clone)]
pub struct Spec {
    pub generation: i64,
    pub revision: LocalRevision,
}

/// Someone who scrapes the pods (a Prometheus) and must follow them.
pub trait ScrapeTargets: Send {
    fn follow(&mut self, stable: &[SocketAddr], canary: &[SocketAddr]);
}

/// What the controller shares with whoever watches the cluster.
#[derive(Clone, Default)]
pub struct Shared {
    pub journal: Arc<Mutex<Journal>>,
    /// Every process the cluster started, to check none outlives it.
    pub pids: Arc<Mutex<Vec<u32>>>,
}

/// A spawned task stopped when its owner goes away (Ctrl-C included).
pub struct Task(pub tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct AnalysisTask {
    state: watch::Receiver<Run>,
    task: Task,
    reported: HashMap<String, i32>,
}

pub struct LocalPlatform {
    name: String,
    binary: PathBuf,
    sets: ReplicaSets,
    revisions: HashMap<String, RevisionSettings>,
    created: HashMap<String, (u64, Timestamp)>,
    scale_down_at: HashMap<String, Timestamp>,
    runs: HashMap<String, AnalysisTask>,
    proxy: Arc<Proxy>,
    scrape: Option<Box<dyn ScrapeTargets>>,
    status: RolloutStatus,
    /// The proxy's canary weight, to journal its changes only.
    weight: Option<i32>,
    shared: Shared,
    started: Instant,
    live: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain data behind the lock: still usable after a panic elsewhere.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LocalPlatform {
    pub fn new(
        name: &str,
        binary: PathBuf,
        proxy: Arc<Proxy>,
        scrape: Option<Box<dyn ScrapeTargets>>,
        live: bool,
    ) -> Self {
        Self {
            name: name.to_owned(),
            binary,
            sets: ReplicaSets::default(),
            revisions: HashMap::new(),
            created: HashMap::new(),
            scale_down_at: HashMap::new(),
            runs: HashMap::new(),
            proxy,
            scrape,
            status: RolloutStatus::default(),
            weight: None,
            shared: Shared::default(),
            started: Instant::now(),
            live,
        }
    }

    pub fn shared(&self) -> Shared {
        self.shared.clone()
    }

    fn at(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn say(&self, text: &str) {
        if self.live {
            println!("[{:6.1}s] {}: {text}", self.at(), self.name);
        }
    }

    /// Runs until the task is dropped: ticks while a spec is applied, and
    /// publishes the status after each tick.
    pub async fn run(
        mut self,
        mut spec: watch::Receiver<Option<Spec>>,
        status: watch::Sender<RolloutStatus>,
    ) {
        loop {
            let current = spec.borrow_and_update().clone();
            if let Some(current) = current {
                self.revisions
                    .entry(current.revision.hash.clone())
                    .or_insert_with(|| current.revision.settings.clone());
                if let Err(e) = self.tick(&current).await {
                    self.say(&format!("error: {e}"));
                }
                status.send_replace(self.status.clone());
            }
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                changed = spec.changed() => if changed.is_err() { return },
            }
        }
    }

    fn observe(&self, current: &Spec) -> Observed {
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
        let revision = &current.revision;
        Observed {
            name: revision.rollout.clone(),
            generation: current.generation,
            template_hash: revision.hash.clone(),
            template_label: revision.label.clone(),
            replica_sets,
            pods: Vec::new(),
            analysis_runs,
            traffic_weight: None,
            known_templates: Some(vec![AnalysisTemplateRef {
                template_name: revision.template_name.clone(),
                cluster_scope: None,
            }]),
            requests: Vec::new(),
            problem: experiment_step(&revision.spec),
            workload_replicas: None,
            experiments: Vec::new(),
            blocker: None,
        }
    }

    /// One decision, made real.
    async fn tick(&mut self, current: &Spec) -> Result<(), ReplicaError> {
        // Measurements first: the one that decides this tick must be on record.
        self.collect_measurements();
        let observed = self.observe(current);
        let revision = &current.revision;
        let decision = engine::decide(&revision.spec, &self.status, &observed, Timestamp::now());
        if let Some((stopping, (stable, canary))) = self.stopping(&decision.desired) {
            self.proxy.set_backends(stable, canary);
            drained(&self.proxy, &stopping).await;
        }
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
            // The revision number is the engine's: new, or renumbered on
            // going back to an old template.
            self.created
                .entry(rs.hash.clone())
                .and_modify(|(revision, _)| *revision = rs.revision)
                .or_insert((rs.revision, Timestamp::now()));
            match rs.scale_down_at {
                Some(at) => self.scale_down_at.insert(rs.hash.clone(), at),
                None => self.scale_down_at.remove(&rs.hash),
            };
        }
        {
            let mut pids = lock(&self.shared.pids);
            for pid in self.sets.pids() {
                if !pids.contains(&pid) {
                    pids.push(pid);
                }
            }
        }
        let (stable_addrs, canary_addrs) = self.backends(&decision.desired, |_| usize::MAX);
        self.proxy
            .set_backends(stable_addrs.clone(), canary_addrs.clone());
        if let Some(scrape) = self.scrape.as_mut() {
            scrape.follow(&stable_addrs, &canary_addrs);
        }
        // The proxy splits by percentage, whatever `maxTrafficWeight` is.
        let total = i64::from(decision.desired.weight_total.max(1));
        let weight =
            i32::try_from(i64::from(decision.desired.canary_weight) * 100 / total).unwrap_or(0);
        self.proxy.set_weight(weight);
        let at = self.at();
        let weight_changed = self.weight.replace(weight) != Some(weight);
        {
            let mut journal = lock(&self.shared.journal);
            if weight_changed {
                journal.weights.push(WeightLine { at, weight });
            }
            let aborted_now = decision.events.iter().any(|e| e.reason == "RolloutAborted");
            if aborted_now {
                // The measurement that decided is the latest failed one.
                let decided = journal
                    .measurements
                    .iter()
                    .filter(|m| matches!(m.phase, AnalysisPhase::Failed | AnalysisPhase::Error))
                    .filter_map(|m| m.finished)
                    .max();
                if let Some(finished) = decided {
                    journal.abort_latency_ms = Some(
                        (Timestamp::now().as_millisecond() - finished.as_millisecond()) as f64,
                    );
                }
            }
            for event in &decision.events {
                journal.events.push(Line {
                    at,
                    reason: event.reason.into(),
                    message: event.message.clone(),
                });
            }
        }
        if weight_changed {
            self.say(&format!(
                "proxy: {weight}% of traffic to {}",
                revision.label
            ));
        }
        for event in &decision.events {
            self.say(&format!("{}: {}", event.reason, event.message));
        }
        self.sync_runs(revision, &decision.desired.analysis_runs)
            .map_err(ReplicaError::Start)?;
        self.status = decision.status;
        Ok(())
    }

    /// The proxy's stable and canary backends: the processes of the hashes
    /// the Services select, at most `keep(hash)` of each, the oldest
    /// (a scale-down stops the newest first).
    fn backends(&self, desired: &engine::Desired, keep: impl Fn(&str) -> usize) -> Backends {
        let addrs = |hash: &str| {
            let mut addrs = self.sets.addrs(hash);
            addrs.truncate(keep(hash));
            addrs
        };
        let stable = desired.stable_hash.as_deref().unwrap_or_default();
        let canary = desired.canary_hash.as_deref().unwrap_or_default();
        let canary_addrs = if canary == stable {
            Vec::new()
        } else {
            addrs(canary)
        };
        (addrs(stable), canary_addrs)
    }

    /// The processes a decision stops that serve now, and the backends
    /// without them: they leave the proxy first, and stop once it is done
    /// with them ([`drained`]), as pods leave a Service's endpoints before
    /// they terminate, so no user request is sent to a process that is gone.
    fn stopping(&self, desired: &engine::Desired) -> Option<(Vec<SocketAddr>, Backends)> {
        let kept = |hash: &str| {
            desired
                .replica_sets
                .iter()
                .find(|rs| rs.hash == hash)
                .map_or(usize::MAX, |rs| usize::try_from(rs.replicas).unwrap_or(0))
        };
        let stopping: Vec<SocketAddr> = desired
            .replica_sets
            .iter()
            .flat_map(|rs| self.sets.addrs(&rs.hash).into_iter().skip(kept(&rs.hash)))
            .collect();
        (!stopping.is_empty()).then(|| (stopping, self.backends(desired, kept)))
    }

    fn sync_runs(
        &mut self,
        revision: &LocalRevision,
        desired: &[engine::DesiredAnalysisRun],
    ) -> Result<(), String> {
        for run in desired {
            if self.runs.contains_key(&run.name) {
                continue;
            }
            // The rollout's own dry-run and retention go beside the template's.
            let mut template = revision.template.clone();
            template.dry_run.extend(run.dry_run.iter().cloned());
            template
                .measurement_retention
                .extend(run.measurement_retention.iter().cloned());
            let plans = plan_metrics(&revision.template_name, &template, &[])
                .map_err(|p| joined(&p, "; "))?;
            // The pods of the revision it analyses, whichever pods the
            // Services select.
            let endpoints = self
                .sets
                .addrs(&run.hash)
                .iter()
                .map(|a| format!("http://{a}"))
                .collect();
            // Local clusters (the demo) measure this machine's processes:
            // the system's roots are enough.
            let providers = Providers::new(
                &Trust::system(),
                Arc::new(StaticKeys {
                    api_key: String::new(),
                    app_key: String::new(),
                }),
                Arc::new(StaticEndpoints(endpoints)),
            )?;
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
                    task: Task(task),
                    reported: HashMap::new(),
                },
            );
        }
        // Runs the rollout no longer wants stop measuring; their verdict stays visible.
        let wanted: Vec<&str> = desired.iter().map(|r| r.name.as_str()).collect();
        for (name, run) in &mut self.runs {
            if !wanted.contains(&name.as_str()) {
                run.task.0.abort();
            }
        }
        Ok(())
    }

    fn collect_measurements(&mut self) {
        let at = self.at();
        let mut lines = Vec::new();
        for (name, task) in &mut self.runs {
            let run = task.state.borrow().clone();
            for result in &run.results {
                let seen = task.reported.entry(result.name.clone()).or_insert(0);
                let new = usize::try_from(result.count - *seen).unwrap_or(0);
                for m in result.measurements.iter().rev().take(new).rev() {
                    lines.push(measurement_line(at, name, &result.name, m));
                }
                *seen = result.count;
            }
        }
        for line in &lines {
            self.say(&format!(
                "measurement {} {}: {} value={} {}",
                line.run,
                line.metric,
                line.phase,
                line.value.as_deref().unwrap_or("-"),
                line.message.as_deref().unwrap_or("")
            ));
        }
        lock(&self.shared.journal).measurements.extend(lines);
    }
}

/// Waits until the proxy has no request in flight to `stopping`, a
/// second at most.
async fn drained(proxy: &Proxy, stopping: &[SocketAddr]) {
    let started = Instant::now();
    while proxy.in_flight(stopping) > 0 && started.elapsed() < DRAIN_LIMIT {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn measurement_line(at: f64, run: &str, metric: &str, m: &Measurement) -> MeasurementLine {
    MeasurementLine {
        at,
        run: run.to_owned(),
        metric: metric.to_owned(),
        phase: m.phase,
        value: m.value.clone(),
        condition: m.condition.clone(),
        message: m.message.clone(),
        query: m.query.clone(),
        finished: m.finished_at.as_deref().and_then(|t| t.parse().ok()),
    }
}

/// Experiments run ReplicaSets beside the rollout's own, which only the
/// operator makes: here such a step is a problem, not a step that never ends.
fn experiment_step(
    spec: &crate::crd::rollout::RolloutSpec,
) -> Option<crate::crd::problem::SpecProblem> {
    let steps = &spec.strategy.canary.as_ref()?.steps;
    let index = steps.iter().position(|s| s.experiment.is_some())?;
    Some(crate::crd::problem::SpecProblem::new(
        format!("spec.strategy.canary.steps[{index}].experiment"),
        "experiments run under the Kubernetes operator, not in local clusters",
    ))
}
