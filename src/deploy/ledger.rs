//! The deploy's ledger transitions, each decided on the snapshot it is
//! written on (compare-and-swap through `gitops::transact`): the intended
//! revision, a wave's clusters Deploying, a cluster's end, an interruption.
//! None ever overwrites a newer deploy's record.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;

use super::exit::{Exit, Failure, bad_input, failed, superseded_message};
use super::prepared::Prepared;
use super::report::Report;
use super::request::Request;
use super::target::Release;
use crate::gitops::GitError;
use crate::gitops::ledger::{self, ClusterRecord, ClusterState, EnvironmentRecord, ObjectRef};
use crate::gitops::ordering::{self, Intent, Verdict};
use crate::gitops::source::{Commit, SourceRepo};
use crate::gitops::store::{Change, LedgerStore, Snapshot};
use crate::gitops::transact::Decision;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("the ledger task stopped: {0}")]
    Task(String),
}

/// The ledger, used from async code: every Git operation blocks, so it
/// runs on the blocking pool, one at a time.
#[derive(Clone)]
pub(super) struct Ledger {
    pub store: Arc<std::sync::Mutex<LedgerStore>>,
    pub service: String,
    pub environment: String,
}

impl Ledger {
    pub(super) async fn read(&self) -> Result<Snapshot, DeployError> {
        self.blocking(|store, service, env| store.read(service, env))
            .await
    }

    pub(super) async fn transact<T: Send + 'static>(
        &self,
        decide: impl FnMut(&Snapshot) -> Decision<T> + Send + 'static,
    ) -> Result<T, DeployError> {
        self.blocking(move |store, service, env| {
            store.transact(service, env, decide).map(|o| o.value)
        })
        .await
    }

    /// Runs Git work on the blocking pool, one operation at a time.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut LedgerStore, &str, &str) -> Result<T, GitError> + Send + 'static,
    ) -> Result<T, DeployError> {
        let (store, service, env) = (
            self.store.clone(),
            self.service.clone(),
            self.environment.clone(),
        );
        tokio::task::spawn_blocking(move || {
            // Git work never panics halfway through a write of ours, so a
            // poisoned lock still guards a usable store.
            let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
            work(&mut store, &service, &env)
        })
        .await
        .map_err(|e| DeployError::Task(e.to_string()))?
        .map_err(DeployError::from)
    }
}

/// Writes the environment's intended revision, as one commit.
pub(super) fn write_environment<T>(
    service: &str,
    env: &str,
    record: &EnvironmentRecord,
    what: &str,
    value: T,
    unwritable: impl FnOnce(String) -> T,
) -> Decision<T> {
    match ledger::to_yaml(record) {
        Ok(text) => Decision::Write {
            changes: vec![Change::Put {
                path: ledger::environment_path(service, env),
                text,
            }],
            message: ledger::message(service, env, None, what),
            value,
        },
        Err(e) => Decision::Done(unwritable(e.to_string())),
    }
}

pub(super) async fn write_intent(
    request: &Request,
    ledger: &Ledger,
    source: &SourceRepo,
    commit: &Commit,
) -> Result<(u64, BTreeSet<String>), Failure> {
    /// What the decision on one snapshot says.
    enum Intended {
        /// The generation, and (resuming) the clusters already Healthy at it.
        Generation(u64, BTreeSet<String>),
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
                        let healthy = snapshot
                            .clusters
                            .iter()
                            .filter(|(_, r)| {
                                r.state == ClusterState::Healthy
                                    && r.revision == sha
                                    && r.generation == generation
                            })
                            .map(|(name, _)| name.clone())
                            .collect();
                        return Decision::Done(Intended::Generation(generation, healthy));
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
                write_environment(
                    &service,
                    &env,
                    &record,
                    &format!("wants {label} (generation {generation})"),
                    Intended::Generation(generation, BTreeSet::new()),
                    Intended::Broken,
                )
            })
            .await
            .map_err(failed)?;
        match decided {
            Intended::Generation(generation, healthy) => return Ok((generation, healthy)),
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

/// Records the wave's clusters as Deploying, in one commit decided on a
/// snapshot where this deploy is still the newest; returns what each
/// cluster's previous deploy applied, for pruning.
pub(super) async fn start_wave(
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
pub(super) fn last_good(
    old: Option<&ClusterRecord>,
    mine: &str,
) -> (Option<String>, Option<String>) {
    match old {
        Some(o) if o.state == ClusterState::Healthy && o.revision != mine => {
            (Some(o.revision.clone()), Some(o.label.clone()))
        }
        Some(o) => (o.previous_revision.clone(), o.previous_label.clone()),
        None => (None, None),
    }
}

/// One cluster's end in this deploy.
pub(super) struct ClusterEnd {
    pub release: Release,
    pub state: ClusterState,
    pub message: Option<String>,
    /// What was applied; empty keeps what the ledger had.
    pub objects: Vec<ObjectRef>,
}

/// Clusters' final states, written only over records of this deploy's
/// generation or older: a newer deploy's record is never overwritten.
/// Ends that arrive together are one commit: with a wave of many clusters
/// becoming Healthy at once, one push each would queue them behind each
/// other for a second or more.
pub(super) async fn record_ends(
    request: &Request,
    ledger: &Ledger,
    ends: Vec<ClusterEnd>,
) -> Result<(), Failure> {
    if ends.is_empty() {
        return Ok(());
    }
    let (service, env, by) = (
        request.service.clone(),
        request.environment.clone(),
        request.by.clone(),
    );
    ledger
        .transact(move |snapshot| {
            let mut changes = Vec::new();
            let mut subjects = Vec::new();
            for end in &ends {
                let release = &end.release;
                let name = &release.cluster.name;
                let old = snapshot.clusters.get(name);
                if old.is_some_and(|o| o.generation > release.generation) {
                    continue;
                }
                let (previous_revision, previous_label) = match old {
                    Some(o) if o.revision == release.revision => {
                        (o.previous_revision.clone(), o.previous_label.clone())
                    }
                    other => last_good(other, &release.revision),
                };
                let objects = if end.objects.is_empty() {
                    old.map(|o| o.applied.objects.clone()).unwrap_or_default()
                } else {
                    end.objects.clone()
                };
                let record = ClusterRecord {
                    revision: release.revision.clone(),
                    label: release.label.clone(),
                    state: end.state,
                    previous_revision,
                    previous_label,
                    generation: release.generation,
                    applied: ledger::Applied {
                        digest: release.digest.clone(),
                        objects,
                    },
                    updated_at: Timestamp::now().to_string(),
                    by: by.clone(),
                    message: end.message.clone(),
                    rollback: release.rollback,
                };
                let Ok(text) = ledger::to_yaml(&record) else {
                    continue;
                };
                changes.push(Change::Put {
                    path: ledger::cluster_path(&service, &env, name),
                    text,
                });
                let mut subject = format!("{name}: {} {}", end.state, release.label);
                if let Some(m) = &end.message {
                    subject.push_str(&format!(" ({m})"));
                }
                subjects.push(subject);
            }
            if changes.is_empty() {
                return Decision::Done(());
            }
            Decision::Write {
                changes,
                message: ledger::message(&service, &env, None, &subjects.join("; ")),
                value: (),
            }
        })
        .await
        .map_err(failed)
}

/// Ctrl-C or SIGTERM: every cluster this deploy left Deploying becomes
/// Interrupted, so the next deploy knows where it stopped.
pub(super) async fn record_interrupted(ledger: &Ledger, request: &Request, report: &mut Report) {
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
