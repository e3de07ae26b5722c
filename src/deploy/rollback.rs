//! `--on-failure rollback`: the clusters this deploy moved go back to the
//! revision each ran before, under a new generation recorded as a
//! rollback, so the ordering rule and the fences treat it as the newest
//! intent.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::mpsc;

use super::cluster_task::{End, Event, cluster_task};
use super::exit::{Failure, failed};
use super::hooks;
use super::ledger::{ClusterEnd, Ledger, record_ends, write_environment};
use super::prepared::Prepared;
use super::report::Report;
use super::request::Request;
use super::target::{Applied, ClusterTarget, Release};
use crate::gitops::ledger::{self, ClusterState, EnvironmentRecord};
use crate::gitops::transact::Decision;
use crate::render;

pub(super) async fn rollback<T: ClusterTarget>(
    request: &Request,
    targets: &BTreeMap<String, Arc<T>>,
    ledger: &Ledger,
    prepared: &Prepared,
    applied: &BTreeMap<String, Applied>,
    say: &(dyn Fn(&str) + Sync),
    report: &mut Report,
) -> Result<(), Failure> {
    let Some(previous) = prepared.previous_intent.clone() else {
        say("rollback: this was the environment's first deploy; there is nothing to return to");
        return Ok(());
    };
    let generation = report.generation + 1;
    if !write_rollback_intent(request, ledger, &previous, report.generation, generation).await? {
        say("rollback: a newer deploy took over; it decides what runs now");
        return Ok(());
    }
    let snapshot = ledger.read().await.map_err(failed)?;
    let (events, mut inbox) = mpsc::channel::<Event>(64);
    let mut tasks = tokio::task::JoinSet::new();
    let mut releases = BTreeMap::new();
    for (name, moved) in applied {
        let (Some(record), Some(target), Some(release)) = (
            snapshot.clusters.get(name),
            targets.get(name),
            prepared.releases.get(name),
        ) else {
            continue;
        };
        let (Some(revision), Some(label)) = (&record.previous_revision, &record.previous_label)
        else {
            say(&format!(
                "rollback: {name} has no previous revision to return to"
            ));
            continue;
        };
        let rendered = render::render_cluster(
            &prepared.helm,
            &request.repo,
            &prepared.service,
            &request.environment,
            &release.cluster,
            Some(label),
        )
        .await
        .map_err(failed)?;
        let split = hooks::split(rendered.objects).map_err(|found| {
            let problems: Vec<String> = found.iter().map(ToString::to_string).collect();
            failed(format!("rollback of {name}: {}", problems.join("; ")))
        })?;
        let back = Release {
            revision: revision.clone(),
            label: label.clone(),
            generation,
            rollback: true,
            digest: ledger::digest(&rendered.manifest),
            objects: split.objects,
            hooks: split.hooks,
            ..release.clone()
        };
        say(&format!("rollback: {name} back to {label}"));
        tasks.spawn(cluster_task(
            target.clone(),
            back.clone(),
            moved.objects.clone(),
            events.clone(),
            request.timeout,
            request.poll,
        ));
        releases.insert(name.clone(), (back, release.label.clone()));
    }
    drop(events);
    let mut objects: BTreeMap<String, Vec<_>> = BTreeMap::new();
    while let Some(event) = inbox.recv().await {
        let Event::Finished { cluster, end, .. } = event else {
            if let Event::Applied { cluster, applied } = event {
                objects.insert(cluster, applied.objects);
            }
            continue;
        };
        let Some((release, from)) = releases.get(&cluster) else {
            continue;
        };
        let (state, message) = match end {
            End::Healthy => (
                ClusterState::RolledBack,
                format!("rolled back from {from} to {}", release.label),
            ),
            other => (
                ClusterState::Failed,
                format!("rollback to {} failed: {other}", release.label),
            ),
        };
        say(&format!("rollback: {cluster}: {message}"));
        let end = ClusterEnd {
            release: release.clone(),
            state,
            message: Some(message.clone()),
            objects: objects.remove(&cluster).unwrap_or_default(),
        };
        record_ends(request, ledger, vec![end]).await?;
        let entry = report.cluster(&cluster, release.cluster.wave);
        entry.state = state.to_string();
        entry.detail = message;
    }
    Ok(())
}

/// The environment wants its previous revision again, unless a newer
/// deploy has taken over since this one started.
async fn write_rollback_intent(
    request: &Request,
    ledger: &Ledger,
    previous: &EnvironmentRecord,
    mine: u64,
    generation: u64,
) -> Result<bool, Failure> {
    let record = EnvironmentRecord {
        generation,
        updated_at: Timestamp::now().to_string(),
        by: request.by.clone(),
        rollback: true,
        ..previous.clone()
    };
    let (service, env, from) = (
        request.service.clone(),
        request.environment.clone(),
        request.revision.clone(),
    );
    ledger
        .transact(move |snapshot| {
            if snapshot.environment.as_ref().map(|e| e.generation) != Some(mine) {
                return Decision::Done(false);
            }
            write_environment(
                &service,
                &env,
                &record,
                &format!("rolls back from {from} to {}", record.label),
                true,
                |_| false,
            )
        })
        .await
        .map_err(failed)
}
