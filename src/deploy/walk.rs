//! The wave loop: asks the planner what next, starts clusters, and turns
//! what the cluster tasks report into ledger records and progress lines.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::cluster_task::{End, Event, cluster_task};
use super::exit::{Exit, Failure, failed, superseded_message};
use super::ledger::{ClusterEnd, Ledger, record_ends, start_wave};
use super::notify::Event as Notice;
use super::prepared::Prepared;
use super::report::Report;
use super::request::{OnFailure, Request};
use super::rollback::rollback;
use super::target::{Applied, ClusterTarget};
use super::waves::{self, Next, Standing};
use crate::gitops::ledger::ClusterState;
use crate::gitops::ordering;

/// How often a waiting deploy re-reads the ledger to learn it was superseded.
pub(super) const LEDGER_CHECK: Duration = Duration::from_secs(1);

pub(super) async fn run_waves<T: ClusterTarget>(
    request: &Request,
    targets: &BTreeMap<String, Arc<T>>,
    ledger: &Ledger,
    prepared: &Prepared,
    already_healthy: &BTreeSet<String>,
    say: &(dyn Fn(&str) + Sync),
    report: &mut Report,
) -> Result<Exit, Failure> {
    let plan = waves::waves(&prepared.environment.clusters);
    let bake = SignedDuration::from_millis(prepared.environment.bake_ms);
    let generation = report.generation;
    let mut walk = Walk::default();
    for wave in &plan {
        for name in &wave.clusters {
            let entry = report.cluster(name, wave.number);
            if already_healthy.contains(name) {
                walk.standing.insert(name.clone(), Standing::AlreadyHealthy);
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
    let mut tasks = JoinSet::new();
    let mut last_check = Instant::now();
    loop {
        match waves::next(&plan, &walk.standing, bake, Timestamp::now()) {
            Next::Done => return Ok(Exit::Deployed),
            Next::Stop { failed } => {
                report.message = format!("failed in {}", failed.join(", "));
                if request.on_failure == OnFailure::Rollback {
                    rollback(
                        request,
                        targets,
                        ledger,
                        prepared,
                        &walk.applied,
                        say,
                        report,
                    )
                    .await?;
                }
                // Exit 4 only when every failure was a timeout.
                let only_timeouts = failed.iter().all(|name| walk.timed_out.contains(name));
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
                    walk.standing.insert(name.clone(), Standing::Deploying);
                    report.cluster(&name, wave).state = "Deploying".into();
                    tasks.spawn(cluster_task(
                        target.clone(),
                        release.clone(),
                        previous.get(&name).cloned().unwrap_or_default(),
                        events.clone(),
                        request.timeout,
                        request.poll,
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
                    let mut events = vec![event];
                    while let Ok(more) = inbox.try_recv() {
                        events.push(more);
                    }
                    handle(events, request, ledger, prepared, say, report, &mut walk).await?;
                    for wave in waves::done(&plan, &walk.standing) {
                        if walk.announced.insert(wave.number) {
                            prepared.outbox.send(Notice::WaveDone {
                                wave: wave.number,
                                clusters: wave.clusters.clone(),
                            });
                        }
                    }
                }
                if last_check.elapsed() >= LEDGER_CHECK {
                    last_check = Instant::now();
                    let snapshot = ledger.read().await.map_err(failed)?;
                    if let Some(newer) =
                        ordering::superseded(generation, snapshot.environment.as_ref())
                    {
                        tasks.abort_all();
                        return Err((Exit::Refused, superseded_message(request, &newer)));
                    }
                }
            }
        }
    }
}

/// Where every cluster of this deploy stands, as the wave loop learns it.
#[derive(Default)]
pub(super) struct Walk {
    standing: BTreeMap<String, Standing>,
    applied: BTreeMap<String, Applied>,
    timed_out: Vec<String>,
    /// Waves whose `WaveDone` was sent.
    announced: BTreeSet<u32>,
}

/// Handles what the cluster tasks reported since the last look: progress
/// at once, and every end in one ledger commit.
pub(super) async fn handle(
    events: Vec<Event>,
    request: &Request,
    ledger: &Ledger,
    prepared: &Prepared,
    say: &(dyn Fn(&str) + Sync),
    report: &mut Report,
    walk: &mut Walk,
) -> Result<(), Failure> {
    let wave_of = |name: &str| prepared.releases.get(name).map_or(0, |r| r.cluster.wave);
    let mut ends = Vec::new();
    for event in events {
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
                walk.applied.insert(cluster, done);
            }
            Event::Progress { cluster, detail } => {
                say(&format!("[wave {}] {cluster}: {detail}", wave_of(&cluster)));
                report.cluster(&cluster, wave_of(&cluster)).detail = detail;
            }
            Event::Finished {
                cluster,
                end,
                seconds,
            } => {
                let mut measurement = None;
                let message = match &end {
                    End::Healthy => None,
                    End::Degraded {
                        reason,
                        measurement: found,
                    } => {
                        measurement = found.clone();
                        Some(reason.clone())
                    }
                    End::TimedOut(last) => {
                        walk.timed_out.push(cluster.clone());
                        Some(format!(
                            "timed out after {}s: {last}",
                            request.timeout.as_secs()
                        ))
                    }
                    End::Error(message) => Some(message.clone()),
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
                let state = match message {
                    None => ClusterState::Healthy,
                    Some(_) => ClusterState::Failed,
                };
                let entry = report.cluster(&cluster, wave_of(&cluster));
                entry.state = state.to_string();
                entry.seconds = seconds;
                match &message {
                    Some(message) => {
                        let analysis = measurement
                            .as_ref()
                            .map(|m| format!(" (analysis: {m})"))
                            .unwrap_or_default();
                        say(&format!(
                            "[wave {}] {cluster}: Failed: {message}{analysis}",
                            wave_of(&cluster)
                        ));
                        entry.detail = message.clone();
                        entry.measurement = measurement.clone();
                        walk.standing.insert(cluster.clone(), Standing::Failed);
                        prepared.outbox.send(Notice::ClusterFailed {
                            cluster: cluster.clone(),
                            wave: wave_of(&cluster),
                            reason: message.clone(),
                            measurement,
                        });
                    }
                    None => {
                        say(&format!(
                            "[wave {}] {cluster}: Healthy at {} after {seconds:.1}s",
                            wave_of(&cluster),
                            request.revision
                        ));
                        entry.detail = format!("Healthy at {}", request.revision);
                        let since = Timestamp::now();
                        walk.standing
                            .insert(cluster.clone(), Standing::Healthy { since });
                    }
                }
                if let Some(release) = prepared.releases.get(&cluster) {
                    ends.push(ClusterEnd {
                        release: release.clone(),
                        state,
                        message,
                        objects: walk
                            .applied
                            .get(&cluster)
                            .map(|a| a.objects.clone())
                            .unwrap_or_default(),
                    });
                }
            }
        }
    }
    record_ends(request, ledger, ends).await
}
