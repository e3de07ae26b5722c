//! The orchestrator: ordering, preflight, waves, the ledger's
//! transitions, and the exit code a CI job acts on. Decisions are the
//! pure parts' (`gitops::ordering`, [`waves`]); this file only sequences
//! them and carries out what they say.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::task::JoinSet;

use super::exit::{Exit, Failure, bad_input, failed};
use super::hooks;
use super::ledger::{Ledger, record_interrupted, write_intent};
use super::notify::{self, Event, Outbox};
use super::prepared::Prepared;
use super::report::Report;
use super::request::Request;
use super::target::{ClusterTarget, Release};
use super::walk::run_waves;
use crate::config::{Environment, Service};
use crate::gitops::GitError;
use crate::gitops::ledger::{self, EnvironmentRecord};
use crate::gitops::ordering::{self, Intent, Verdict};
use crate::gitops::source::{Commit, SourceRepo};
use crate::gitops::store::LedgerStore;
use crate::render::{self, Helm};

/// Runs one deploy to its end and says how it went. `targets` are the
/// environment's clusters, in any order; `say` receives progress lines,
/// `outbox` the events the notification targets are told about.
pub async fn deploy<T: ClusterTarget>(
    request: &Request,
    service: &Service,
    targets: Vec<Arc<T>>,
    store: LedgerStore,
    say: &(dyn Fn(&str) + Sync),
    outbox: &Outbox,
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
        .map(|t| (t.name().to_owned(), t))
        .collect();
    tokio::pin!(cancelled);
    let result = tokio::select! {
        result = orchestrate(request, service, &targets, &ledger, say, outbox, &mut report) => result,
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
    outbox.send(ending(exit, &report.message));
    report
}

/// The last event of a deploy: how it ended, or why it was refused.
fn ending(exit: Exit, message: &str) -> Event {
    let outcome = match exit {
        Exit::Refused => {
            return Event::Refused {
                reason: message.to_owned(),
            };
        }
        Exit::Deployed => notify::Outcome::Deployed,
        Exit::Failed | Exit::BadInput => notify::Outcome::Failed,
        Exit::TimedOut => notify::Outcome::TimedOut,
        Exit::Interrupted => notify::Outcome::Interrupted,
    };
    Event::Finished {
        outcome,
        message: message.to_owned(),
    }
}

async fn orchestrate<T: ClusterTarget>(
    request: &Request,
    service: &Service,
    targets: &BTreeMap<String, Arc<T>>,
    ledger: &Ledger,
    say: &(dyn Fn(&str) + Sync),
    outbox: &Outbox,
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
    outbox.begin(notify::deploy_context(
        request,
        &environment,
        &source,
        &commit,
        &snapshot,
    ));
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

    let prepared = prepare(
        request,
        service,
        &environment,
        commit.clone(),
        snapshot.environment.clone(),
        outbox.clone(),
    )
    .await?;
    say(&format!(
        "rendered {} cluster(s); checking every cluster before touching any",
        prepared.releases.len()
    ));
    let not_run: BTreeSet<String> = prepared
        .releases
        .values()
        .flat_map(|r| hooks::not_run(&r.hooks))
        .map(ToString::to_string)
        .collect();
    for hook in not_run {
        say(&format!(
            "hook {hook} is not run: a deploy runs pre-install, pre-upgrade and pre-rollback hooks only"
        ));
    }
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
    // A resumed deploy skips the clusters the intent's snapshot has
    // Healthy at this revision already.
    let (generation, already_healthy) = write_intent(request, ledger, &source, &commit).await?;
    report.generation = generation;
    outbox.send(Event::Started { generation });
    let mut prepared = prepared;
    for release in prepared.releases.values_mut() {
        release.generation = generation;
    }
    run_waves(
        request,
        targets,
        ledger,
        &prepared,
        &already_healthy,
        say,
        report,
    )
    .await
}

async fn prepare(
    request: &Request,
    service: &Service,
    environment: &Environment,
    commit: Commit,
    previous_intent: Option<EnvironmentRecord>,
    outbox: Outbox,
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
                let split = match hooks::split(cluster.objects) {
                    Ok(split) => split,
                    Err(found) => {
                        let name = &cluster.cluster.name;
                        problems.extend(found.iter().map(|p| format!("cluster {name}: {p}")));
                        continue;
                    }
                };
                releases.insert(
                    cluster.cluster.name.clone(),
                    Release {
                        service: service.name.clone(),
                        environment: environment.name.clone(),
                        revision: commit.sha.clone(),
                        label: request.revision.clone(),
                        generation: 0,
                        rollback: request.intent == Intent::RollbackTo,
                        digest: ledger::digest(&cluster.manifest),
                        cluster: cluster.cluster,
                        objects: split.objects,
                        hooks: split.hooks,
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
            previous_intent,
            service: service.clone(),
            helm,
            outbox,
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
