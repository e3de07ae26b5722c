//! The orchestrator: ordering, preflight, waves, the ledger's
//! transitions, and the exit code a CI job acts on. Decisions are the
//! pure parts' (`gitops::ordering`, [`waves`]); this file only sequences
//! them and carries out what they say.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::report::Report;
use super::target::{Applied, ClusterTarget, Health, Release};
use super::waves::{self, Next, Standing, Wave};
use crate::config::{Environment, Service};
use crate::gitops::GitError;
use crate::gitops::ledger::{self, ClusterRecord, ClusterState, EnvironmentRecord, ObjectRef};
use crate::gitops::ordering::{self, Intent, Verdict};
use crate::gitops::source::{Commit, SourceRepo};
use crate::gitops::store::{Change, LedgerStore, Snapshot};
use crate::gitops::transact::Decision;
use crate::render::{self, Helm};

/// What CI asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub repo: PathBuf,
    pub service: String,
    pub environment: String,
    /// As the user gave it; rendered into the chart's `revisionValue`.
    pub revision: String,
    /// The service's source repository, where the revision is resolved.
    pub source: PathBuf,
    pub intent: Intent,
    pub on_failure: OnFailure,
    /// How long one cluster may take to become Healthy.
    pub timeout: Duration,
    /// Who deploys: `--by`, or the CI job's URL.
    pub by: String,
    /// How often a cluster's health is looked at.
    pub poll: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OnFailure {
    /// Leave every cluster where it is.
    Stop,
    /// Return the clusters this deploy moved to their previous revision.
    Rollback,
}

/// How a deploy ended; the process exit code CI sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Exit {
    Deployed,
    Failed,
    BadInput,
    /// Refused by the ordering rule, or superseded by a newer deploy.
    Refused,
    TimedOut,
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Self::Deployed => 0,
            Self::Failed => 1,
            Self::BadInput => 2,
            Self::Refused => 3,
            Self::TimedOut => 4,
            Self::Interrupted => 130,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("ledger: {0}")]
    Ledger(#[from] crate::gitops::ledger::LedgerError),
    #[error("the ledger task stopped: {0}")]
    Task(String),
}

/// The ledger, used from async code: every Git operation blocks, so it
/// runs on the blocking pool, one at a time.
#[derive(Clone)]
struct Ledger {
    store: Arc<std::sync::Mutex<LedgerStore>>,
    service: String,
    environment: String,
}

impl Ledger {
    async fn read(&self) -> Result<Snapshot, DeployError> {
        let (store, service, env) = (
            self.store.clone(),
            self.service.clone(),
            self.environment.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
            store.read(&service, &env)
        })
        .await
        .map_err(|e| DeployError::Task(e.to_string()))?
        .map_err(DeployError::from)
    }

    async fn transact<T: Send + 'static>(
        &self,
        decide: impl FnMut(&Snapshot) -> Decision<T> + Send + 'static,
    ) -> Result<T, DeployError> {
        let (store, service, env) = (
            self.store.clone(),
            self.service.clone(),
            self.environment.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
            store.transact(&service, &env, decide).map(|o| o.value)
        })
        .await
        .map_err(|e| DeployError::Task(e.to_string()))?
        .map_err(DeployError::from)
    }
}

/// What a cluster task reports to the orchestrator.
enum Event {
    Applied { cluster: String, applied: Applied },
    Progress { cluster: String, detail: String },
    Finished { cluster: String, end: End },
}

#[derive(Debug, Clone)]
enum End {
    Healthy,
    Degraded(String),
    TimedOut(String),
    Superseded(u64),
    Error(String),
}

/// Everything a deploy needs, prepared before any cluster is touched.
struct Prepared {
    commit: Commit,
    environment: Environment,
    releases: BTreeMap<String, Release>,
}

/// Runs one deploy to its end and says how it went. `targets` are the
/// environment's clusters, in any order; `say` receives progress lines.
pub async fn deploy<T: ClusterTarget>(
    request: &Request,
    service: &Service,
    targets: Vec<T>,
    store: LedgerStore,
    say: &(dyn Fn(&str) + Sync),
    cancelled: impl Future<Output = ()>,
) -> Report {
    let mut report = Report::new(request);
    let ledger = Ledger {
        store: Arc::new(std::sync::Mutex::new(store)),
        service: request.service.clone(),
        environment: request.environment.clone(),
    };
    let targets: BTreeMap<String, Arc<T>> = targets
        .into_iter()
        .map(|t| (t.name().to_owned(), Arc::new(t)))
        .collect();
    tokio::pin!(cancelled);
    let result = tokio::select! {
        result = orchestrate(request, service, &targets, &ledger, say, &mut report) => result,
        () = &mut cancelled => Ok(Exit::Interrupted),
    };
    let exit = match result {
        Ok(exit) => exit,
        Err((exit, message)) => {
            report.message = message;
            exit
        }
    };
    if exit == Exit::Interrupted {
        record_interrupted(&ledger, request, &mut report).await;
    }
    report.set_exit(exit);
    report
}

type Failure = (Exit, String);

fn bad_input(e: impl std::fmt::Display) -> Failure {
    (Exit::BadInput, e.to_string())
}

async fn orchestrate<T: ClusterTarget>(
    request: &Request,
    service: &Service,
    targets: &BTreeMap<String, Arc<T>>,
    ledger: &Ledger,
    say: &(dyn Fn(&str) + Sync),
    report: &mut Report,
) -> Result<Exit, Failure> {
    let environment = service
        .environment(&request.environment)
        .map_err(bad_input)?
        .clone();
    let source = SourceRepo::discover(&request.source).map_err(bad_input)?;
    let commit = source.resolve(&request.revision).map_err(bad_input)?;
    report.revision = commit.sha.clone();
    say(&format!(
        "deploy {} {} to {}: commit {} {}",
        request.service, request.revision, request.environment, commit.short, commit.subject
    ));

    // Ordering first: a refused deploy renders and touches nothing.
    let snapshot = ledger.read().await.map_err(failed)?;
    let relation = |intended: Option<&EnvironmentRecord>| -> Result<_, GitError> {
        intended
            .map(|i| source.relation(&commit.sha, &i.revision))
            .transpose()
    };
    let verdict = ordering::verdict(
        snapshot.environment.as_ref(),
        relation(snapshot.environment.as_ref()).map_err(bad_input)?,
        request.intent,
    );
    if let Verdict::Refuse(refusal) = &verdict {
        return Err((
            Exit::Refused,
            refusal.explain(&request.environment, &request.revision),
        ));
    }

    let prepared = prepare(request, service, &environment, commit.clone()).await?;
    say(&format!(
        "rendered {} cluster(s); checking every cluster before touching any",
        prepared.releases.len()
    ));
    let problems = preflight(targets, &prepared).await;
    if !problems.is_empty() {
        for problem in &problems {
            say(&format!("preflight: {problem}"));
        }
        return Err((
            Exit::Failed,
            format!(
                "preflight found {} problem(s); nothing was applied:\n{}",
                problems.len(),
                problems.join("\n")
            ),
        ));
    }

    // The intended revision, decided again on the snapshot it is written
    // on: a newer deploy that landed meanwhile refuses this one.
    let generation = write_intent(request, ledger, &source, &commit).await?;
    report.generation = generation;
    let mut prepared = prepared;
    for release in prepared.releases.values_mut() {
        release.generation = generation;
    }
    run_waves(request, targets, ledger, &prepared, say, report).await
}

fn failed(e: impl std::fmt::Display) -> Failure {
    (Exit::Failed, e.to_string())
}

async fn prepare(
    request: &Request,
    service: &Service,
    environment: &Environment,
    commit: Commit,
) -> Result<Prepared, Failure> {
    let helm = Helm::locate(&request.repo).await.map_err(bad_input)?;
    let rendered = render::render_clusters(
        &helm,
        &request.repo,
        service,
        &environment.name,
        &environment.clusters,
        Some(&request.revision),
    )
    .await;
    let mut releases = BTreeMap::new();
    let mut problems = Vec::new();
    for result in rendered {
        match result {
            Ok(cluster) => {
                releases.insert(
                    cluster.cluster.name.clone(),
                    Release {
                        service: service.name.clone(),
                        environment: environment.name.clone(),
                        revision: commit.sha.clone(),
                        label: request.revision.clone(),
                        generation: 0,
                        digest: ledger::digest(&cluster.manifest),
                        cluster: cluster.cluster,
                        objects: cluster.objects,
                    },
                );
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty() {
        Ok(Prepared {
            commit,
            environment: environment.clone(),
            releases,
        })
    } else {
        Err((Exit::BadInput, problems.join("\n")))
    }
}

/// Every cluster checked at once; every problem reported.
async fn preflight<T: ClusterTarget>(
    targets: &BTreeMap<String, Arc<T>>,
    prepared: &Prepared,
) -> Vec<String> {
    let mut checks = JoinSet::new();
    for (name, release) in &prepared.releases {
        let Some(target) = targets.get(name).cloned() else {
            let name = name.clone();
            checks.spawn(async move { vec![format!("cluster {name}: no way to reach it")] });
            continue;
        };
        let (release, name) = (release.clone(), name.clone());
        checks.spawn(async move {
            target
                .preflight(&release)
                .await
                .into_iter()
                .map(|p| format!("cluster {name}: {p}"))
                .collect::<Vec<_>>()
        });
    }
    let mut problems: Vec<String> = checks.join_all().await.into_iter().flatten().collect();
    problems.sort();
    problems
}

async fn write_intent(
    request: &Request,
    ledger: &Ledger,
    source: &SourceRepo,
    commit: &Commit,
) -> Result<u64, Failure> {
    /// What the decision on one snapshot says.
    enum Intended {
        Generation(u64),
        Refused(ordering::Refusal),
        /// The snapshot wants a revision not related yet: relate it (Git
        /// work stays out of the ledger's closure) and decide again.
        Unknown(String),
        Broken(String),
    }
    let mut relations = BTreeMap::new();
    let intent = request.intent;
    let (service, env, label, by) = (
        request.service.clone(),
        request.environment.clone(),
        request.revision.clone(),
        request.by.clone(),
    );
    let sha = commit.sha.clone();
    loop {
        let known = relations.clone();
        let (service, env, label, by, sha) = (
            service.clone(),
            env.clone(),
            label.clone(),
            by.clone(),
            sha.clone(),
        );
        let decided = ledger
            .transact(move |snapshot| {
                let intended = snapshot.environment.as_ref();
                let relation = match intended {
                    None => None,
                    Some(i) => match known.get(&i.revision) {
                        Some(r) => Some(*r),
                        None => return Decision::Done(Intended::Unknown(i.revision.clone())),
                    },
                };
                let generation = match ordering::verdict(intended, relation, intent) {
                    Verdict::Resume { generation } => {
                        return Decision::Done(Intended::Generation(generation));
                    }
                    Verdict::Refuse(refusal) => return Decision::Done(Intended::Refused(refusal)),
                    Verdict::Start { generation } => generation,
                };
                let record = EnvironmentRecord {
                    revision: sha.clone(),
                    label: label.clone(),
                    generation,
                    updated_at: Timestamp::now().to_string(),
                    by: by.clone(),
                    rollback: intent == Intent::RollbackTo,
                };
                match ledger::to_yaml(&record) {
                    Ok(text) => Decision::Write {
                        changes: vec![Change::Put {
                            path: ledger::environment_path(&service, &env),
                            text,
                        }],
                        message: ledger::message(
                            &service,
                            &env,
                            None,
                            &format!("wants {label} (generation {generation})"),
                        ),
                        value: Intended::Generation(generation),
                    },
                    Err(e) => Decision::Done(Intended::Broken(e.to_string())),
                }
            })
            .await
            .map_err(failed)?;
        match decided {
            Intended::Generation(generation) => return Ok(generation),
            Intended::Refused(refusal) => {
                return Err((
                    Exit::Refused,
                    refusal.explain(&request.environment, &request.revision),
                ));
            }
            Intended::Unknown(revision) => {
                let relation = source.relation(&commit.sha, &revision).map_err(bad_input)?;
                relations.insert(revision, relation);
            }
            Intended::Broken(message) => return Err((Exit::Failed, message)),
        }
    }
}

/// How often a waiting deploy re-reads the ledger to learn it was superseded.
const LEDGER_CHECK: Duration = Duration::from_secs(1);

async fn run_waves<T: ClusterTarget>(
    request: &Request,
    targets: &BTreeMap<String, Arc<T>>,
    ledger: &Ledger,
    prepared: &Prepared,
    say: &(dyn Fn(&str) + Sync),
    report: &mut Report,
) -> Result<Exit, Failure> {
    let plan = waves::waves(&prepared.environment.clusters);
    let bake = SignedDuration::from_millis(prepared.environment.bake_ms);
    let generation = report.generation;
    let snapshot = ledger.read().await.map_err(failed)?;
    let mut standing: BTreeMap<String, Standing> = BTreeMap::new();
    for wave in &plan {
        for name in &wave.clusters {
            let entry = report.cluster(name, wave.number);
            let done = snapshot.clusters.get(name).is_some_and(|r| {
                r.state == ClusterState::Healthy
                    && r.revision == prepared.commit.sha
                    && r.generation == generation
            });
            if done {
                standing.insert(name.clone(), Standing::AlreadyHealthy);
                entry.state = "Healthy".into();
                entry.detail = "already Healthy at this revision".into();
                say(&format!(
                    "[wave {}] {name}: already Healthy at {}, skipped",
                    wave.number, request.revision
                ));
            }
        }
    }
    let (events, mut inbox) = mpsc::channel::<Event>(1024);
    let newest = Arc::new(AtomicU64::new(generation));
    let mut tasks = JoinSet::new();
    let mut applied: BTreeMap<String, Applied> = BTreeMap::new();
    let mut started: BTreeMap<String, Instant> = BTreeMap::new();
    let mut timed_out_clusters: Vec<String> = Vec::new();
    let mut last_check = Instant::now();
    loop {
        match waves::next(&plan, &standing, bake, Timestamp::now()) {
            Next::Done => return Ok(Exit::Deployed),
            Next::Stop { failed } => {
                report.message = format!("failed in {}", failed.join(", "));
                // Exit 4 only when every failure was a timeout.
                let only_timeouts = failed.iter().all(|name| timed_out_clusters.contains(name));
                return Ok(if only_timeouts {
                    Exit::TimedOut
                } else {
                    Exit::Failed
                });
            }
            Next::Start { wave, clusters } => {
                let previous = start_wave(request, ledger, prepared, wave, &clusters).await?;
                for name in clusters {
                    let (Some(target), Some(release)) =
                        (targets.get(&name), prepared.releases.get(&name))
                    else {
                        continue;
                    };
                    say(&format!(
                        "[wave {wave}] {name}: applying {} objects",
                        release.objects.len()
                    ));
                    standing.insert(name.clone(), Standing::Deploying);
                    started.insert(name.clone(), Instant::now());
                    report.cluster(&name, wave).state = "Deploying".into();
                    tasks.spawn(cluster_task(
                        target.clone(),
                        release.clone(),
                        previous.get(&name).cloned().unwrap_or_default(),
                        events.clone(),
                        request.timeout,
                        request.poll,
                        newest.clone(),
                    ));
                }
            }
            Next::Wait { until } => {
                let mut wake = Duration::from_millis(200).max(request.poll);
                if let Some(until) = until {
                    let millis = until.as_millisecond() - Timestamp::now().as_millisecond();
                    wake = wake.min(Duration::from_millis(millis.max(0).unsigned_abs()));
                }
                let event = tokio::select! {
                    event = inbox.recv() => event,
                    () = tokio::time::sleep(wake) => None,
                };
                if let Some(event) = event {
                    let exit = handle(
                        event,
                        request,
                        ledger,
                        prepared,
                        say,
                        report,
                        &mut standing,
                        &mut applied,
                        &started,
                        &mut timed_out_clusters,
                    )
                    .await?;
                    if let Some(exit) = exit {
                        tasks.abort_all();
                        return Ok(exit);
                    }
                }
                if last_check.elapsed() >= LEDGER_CHECK {
                    last_check = Instant::now();
                    let snapshot = ledger.read().await.map_err(failed)?;
                    if let Some(newer) =
                        ordering::superseded(generation, snapshot.environment.as_ref())
                    {
                        newest.store(generation + 1, Ordering::Relaxed);
                        tasks.abort_all();
                        return Err((Exit::Refused, superseded_message(request, &newer)));
                    }
                }
            }
        }
    }
}

fn superseded_message(request: &Request, newer: &str) -> String {
    format!(
        "superseded: {} now wants {newer}, newer than {}; this deploy stopped and touched nothing more",
        request.environment, request.revision
    )
}

/// Records the wave's clusters as Deploying, in one commit decided on a
/// snapshot where this deploy is still the newest; returns what each
/// cluster's previous deploy applied, for pruning.
async fn start_wave(
    request: &Request,
    ledger: &Ledger,
    prepared: &Prepared,
    wave: u32,
    clusters: &[String],
) -> Result<BTreeMap<String, Vec<ObjectRef>>, Failure> {
    let generation = prepared
        .releases
        .values()
        .next()
        .map_or(0, |r| r.generation);
    let (service, env) = (request.service.clone(), request.environment.clone());
    let (sha, label, by) = (
        prepared.commit.sha.clone(),
        request.revision.clone(),
        request.by.clone(),
    );
    let clusters = clusters.to_vec();
    let digests: BTreeMap<String, String> = prepared
        .releases
        .iter()
        .map(|(n, r)| (n.clone(), r.digest.clone()))
        .collect();
    let rollback = request.intent == Intent::RollbackTo;
    let decided = ledger
        .transact(move |snapshot| {
            if let Some(newer) = ordering::superseded(generation, snapshot.environment.as_ref()) {
                return Decision::Done(Err(newer));
            }
            let mut changes = Vec::new();
            let mut previous = BTreeMap::new();
            for name in &clusters {
                let old = snapshot.clusters.get(name);
                previous.insert(
                    name.clone(),
                    old.map(|o| o.applied.objects.clone()).unwrap_or_default(),
                );
                let (previous_revision, previous_label) = last_good(old, &sha);
                let record = ClusterRecord {
                    revision: sha.clone(),
                    label: label.clone(),
                    state: ClusterState::Deploying,
                    previous_revision,
                    previous_label,
                    generation,
                    applied: ledger::Applied {
                        digest: digests.get(name).cloned().unwrap_or_default(),
                        objects: old.map(|o| o.applied.objects.clone()).unwrap_or_default(),
                    },
                    updated_at: Timestamp::now().to_string(),
                    by: by.clone(),
                    message: None,
                    rollback,
                };
                match ledger::to_yaml(&record) {
                    Ok(text) => changes.push(Change::Put {
                        path: ledger::cluster_path(&service, &env, name),
                        text,
                    }),
                    Err(e) => return Decision::Done(Err(e.to_string())),
                }
            }
            let message = ledger::message(
                &service,
                &env,
                None,
                &format!("wave {wave}: Deploying {label} on {}", clusters.join(", ")),
            );
            Decision::Write {
                changes,
                message,
                value: Ok(previous),
            }
        })
        .await
        .map_err(failed)?;
    decided.map_err(|newer| (Exit::Refused, superseded_message(request, &newer)))
}

/// The revision a cluster ran before this deploy: its record's revision if
/// that was Healthy, else what that record remembered as its last good one.
fn last_good(old: Option<&ClusterRecord>, mine: &str) -> (Option<String>, Option<String>) {
    match old {
        Some(o) if o.state == ClusterState::Healthy && o.revision != mine => {
            (Some(o.revision.clone()), Some(o.label.clone()))
        }
        Some(o) => (o.previous_revision.clone(), o.previous_label.clone()),
        None => (None, None),
    }
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    event: Event,
    request: &Request,
    ledger: &Ledger,
    prepared: &Prepared,
    say: &(dyn Fn(&str) + Sync),
    report: &mut Report,
    standing: &mut BTreeMap<String, Standing>,
    applied: &mut BTreeMap<String, Applied>,
    started: &BTreeMap<String, Instant>,
    timed_out: &mut Vec<String>,
) -> Result<Option<Exit>, Failure> {
    let wave_of = |name: &str| prepared.releases.get(name).map_or(0, |r| r.cluster.wave);
    match event {
        Event::Applied {
            cluster,
            applied: done,
        } => {
            let entry = report.cluster(&cluster, wave_of(&cluster));
            entry.pruned = done.pruned.iter().map(ToString::to_string).collect();
            entry.yielded = done.yielded.clone();
            let mut line = format!(
                "[wave {}] {cluster}: applied {} objects",
                wave_of(&cluster),
                done.objects.len()
            );
            if !done.pruned.is_empty() {
                line.push_str(&format!(", pruned {}", entry.pruned.join(", ")));
            }
            if !done.yielded.is_empty() {
                line.push_str(&format!(
                    ", left to the controller: {}",
                    done.yielded.join(", ")
                ));
            }
            say(&line);
            applied.insert(cluster, done);
            Ok(None)
        }
        Event::Progress { cluster, detail } => {
            say(&format!("[wave {}] {cluster}: {detail}", wave_of(&cluster)));
            report.cluster(&cluster, wave_of(&cluster)).detail = detail;
            Ok(None)
        }
        Event::Finished { cluster, end } => {
            let seconds = started
                .get(&cluster)
                .map_or(0.0, |s| s.elapsed().as_secs_f64());
            let (state, message) = match &end {
                End::Healthy => (ClusterState::Healthy, None),
                End::Degraded(reason) => (ClusterState::Failed, Some(reason.clone())),
                End::TimedOut(last) => {
                    timed_out.push(cluster.clone());
                    (
                        ClusterState::Failed,
                        Some(format!(
                            "timed out after {}s: {last}",
                            request.timeout.as_secs()
                        )),
                    )
                }
                End::Error(message) => (ClusterState::Failed, Some(message.clone())),
                End::Superseded(generation) => {
                    return Err((
                        Exit::Refused,
                        format!(
                            "superseded: cluster {cluster} carries deploy generation {generation}, newer than this deploy's {}; stopped",
                            report.generation
                        ),
                    ));
                }
            };
            let objects = applied
                .get(&cluster)
                .map(|a| a.objects.clone())
                .unwrap_or_default();
            record_end(
                request,
                ledger,
                prepared,
                &cluster,
                state,
                message.clone(),
                objects,
            )
            .await?;
            let entry = report.cluster(&cluster, wave_of(&cluster));
            entry.state = state.to_string();
            entry.seconds = seconds;
            match message {
                Some(message) => {
                    say(&format!(
                        "[wave {}] {cluster}: Failed: {message}",
                        wave_of(&cluster)
                    ));
                    entry.detail = message;
                    standing.insert(cluster, Standing::Failed);
                }
                None => {
                    say(&format!(
                        "[wave {}] {cluster}: Healthy at {} after {seconds:.1}s",
                        wave_of(&cluster),
                        request.revision
                    ));
                    entry.detail = format!("Healthy at {}", request.revision);
                    standing.insert(
                        cluster,
                        Standing::Healthy {
                            since: Timestamp::now(),
                        },
                    );
                }
            }
            Ok(None)
        }
    }
}

/// A cluster's final state in this deploy, written only over a record of
/// this deploy's generation or older: a newer deploy's record is never
/// overwritten.
async fn record_end(
    request: &Request,
    ledger: &Ledger,
    prepared: &Prepared,
    cluster: &str,
    state: ClusterState,
    message: Option<String>,
    objects: Vec<ObjectRef>,
) -> Result<(), Failure> {
    let Some(release) = prepared.releases.get(cluster) else {
        return Ok(());
    };
    let (service, env, name) = (
        request.service.clone(),
        request.environment.clone(),
        cluster.to_owned(),
    );
    let (generation, sha, label, by) = (
        release.generation,
        release.revision.clone(),
        release.label.clone(),
        request.by.clone(),
    );
    let digest = release.digest.clone();
    let rollback = request.intent == Intent::RollbackTo;
    ledger
        .transact(move |snapshot| {
            let old = snapshot.clusters.get(&name);
            if old.is_some_and(|o| o.generation > generation) {
                return Decision::Done(());
            }
            let (previous_revision, previous_label) = match old {
                Some(o) if o.revision == sha => {
                    (o.previous_revision.clone(), o.previous_label.clone())
                }
                other => last_good(other, &sha),
            };
            let record = ClusterRecord {
                revision: sha.clone(),
                label: label.clone(),
                state,
                previous_revision,
                previous_label,
                generation,
                applied: ledger::Applied {
                    digest: digest.clone(),
                    objects: if objects.is_empty() {
                        old.map(|o| o.applied.objects.clone()).unwrap_or_default()
                    } else {
                        objects.clone()
                    },
                },
                updated_at: Timestamp::now().to_string(),
                by: by.clone(),
                message: message.clone(),
                rollback,
            };
            let Ok(text) = ledger::to_yaml(&record) else {
                return Decision::Done(());
            };
            let mut subject = format!("{state} {label}");
            if let Some(m) = &message {
                subject.push_str(&format!(": {m}"));
            }
            Decision::Write {
                changes: vec![Change::Put {
                    path: ledger::cluster_path(&service, &env, &name),
                    text,
                }],
                message: ledger::message(&service, &env, Some(&name), &subject),
                value: (),
            }
        })
        .await
        .map_err(failed)
}

/// Ctrl-C or SIGTERM: every cluster this deploy left Deploying becomes
/// Interrupted, so the next deploy knows where it stopped.
async fn record_interrupted(ledger: &Ledger, request: &Request, report: &mut Report) {
    let generation = report.generation;
    let (service, env, by) = (
        request.service.clone(),
        request.environment.clone(),
        request.by.clone(),
    );
    let result = ledger
        .transact(move |snapshot| {
            let mut changes = Vec::new();
            let mut names = Vec::new();
            for (name, record) in &snapshot.clusters {
                if record.state != ClusterState::Deploying || record.generation != generation {
                    continue;
                }
                let mut record = record.clone();
                record.state = ClusterState::Interrupted;
                record.updated_at = Timestamp::now().to_string();
                record.by = by.clone();
                record.message = Some("the deploy was interrupted (Ctrl-C or SIGTERM)".into());
                if let Ok(text) = ledger::to_yaml(&record) {
                    changes.push(Change::Put {
                        path: ledger::cluster_path(&service, &env, name),
                        text,
                    });
                    names.push(name.clone());
                }
            }
            if changes.is_empty() {
                return Decision::Done(names);
            }
            let message = ledger::message(
                &service,
                &env,
                None,
                &format!("Interrupted on {}", names.join(", ")),
            );
            Decision::Write {
                changes,
                message,
                value: names,
            }
        })
        .await;
    match result {
        Ok(names) => {
            for name in names {
                if let Some(entry) = report.clusters.iter_mut().find(|c| c.name == name) {
                    entry.state = ClusterState::Interrupted.to_string();
                }
            }
            report.message =
                "interrupted: the ledger records where it stopped; deploy again to finish".into();
        }
        Err(e) => report.message = format!("interrupted, and the ledger could not record it: {e}"),
    }
}

/// One cluster: apply, then look at its health until it is final, the
/// timeout passes, or a newer deploy takes over.
async fn cluster_task<T: ClusterTarget>(
    target: Arc<T>,
    release: Release,
    previous: Vec<ObjectRef>,
    events: mpsc::Sender<Event>,
    timeout: Duration,
    poll: Duration,
    newest: Arc<AtomicU64>,
) {
    let cluster = release.cluster.name.clone();
    let finish = |end: End| Event::Finished {
        cluster: cluster.clone(),
        end,
    };
    let applied = match target.apply(&release, &previous).await {
        Ok(applied) => applied,
        Err(e) => {
            let _ = events.send(finish(End::Error(e.to_string()))).await;
            return;
        }
    };
    if let Some(generation) = applied.superseded_by {
        let _ = events.send(finish(End::Superseded(generation))).await;
        return;
    }
    let _ = events
        .send(Event::Applied {
            cluster: cluster.clone(),
            applied,
        })
        .await;
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        if newest.load(Ordering::Relaxed) > release.generation {
            return;
        }
        let end = match target.health(&release).await {
            Ok(Health::Healthy) => Some(End::Healthy),
            Ok(Health::Degraded { reason }) => Some(End::Degraded(reason)),
            Ok(Health::Superseded { generation }) => Some(End::Superseded(generation)),
            Ok(Health::Overwritten { .. }) => {
                // Only this, the newer deploy, writes again.
                if let Err(e) = target.apply(&release, &[]).await {
                    last = e.to_string();
                }
                None
            }
            Ok(Health::Progressing { detail }) => {
                if detail != last {
                    let _ = events
                        .send(Event::Progress {
                            cluster: cluster.clone(),
                            detail: detail.clone(),
                        })
                        .await;
                    last = detail;
                }
                None
            }
            // A read that failed says nothing about the rollout: look again.
            Err(e) => {
                last = e.to_string();
                None
            }
        };
        if let Some(end) = end {
            let _ = events.send(finish(end)).await;
            return;
        }
        if Instant::now() >= deadline {
            let _ = events.send(finish(End::TimedOut(last))).await;
            return;
        }
        tokio::time::sleep(poll).await;
    }
}

/// The waves of an environment, for reports.
pub fn plan_waves(environment: &Environment) -> Vec<Wave> {
    waves::waves(&environment.clusters)
}
