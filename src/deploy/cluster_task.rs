//! One cluster's part of a deploy: its hooks, then apply, then watch its
//! health until it is final, the timeout passes, or a newer deploy takes
//! over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::hooks::{self, Hook, HookEvent};
use super::target::{Applied, ClusterTarget, FailedMeasurement, Health, HookStatus, Release};
use crate::gitops::ledger::ObjectRef;

/// What a cluster task reports to the orchestrator.
pub(super) enum Event {
    Applied {
        cluster: String,
        applied: Applied,
    },
    Progress {
        cluster: String,
        detail: String,
    },
    Finished {
        cluster: String,
        end: End,
        /// From the start of its apply to its end, as the cluster saw it
        /// (not when the orchestrator got round to it).
        seconds: f64,
    },
}

#[derive(Debug, Clone)]
pub(super) enum End {
    Healthy,
    Degraded {
        reason: String,
        measurement: Option<FailedMeasurement>,
    },
    TimedOut(String),
    Superseded(u64),
    Error(String),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Healthy => f.write_str("Healthy"),
            Self::Degraded { reason, .. } => write!(f, "degraded: {reason}"),
            Self::TimedOut(last) => write!(f, "timed out: {last}"),
            Self::Superseded(generation) => {
                write!(f, "superseded by deploy generation {generation}")
            }
            Self::Error(message) => f.write_str(message),
        }
    }
}

/// One cluster: run its hooks, apply, then look at its health until it is
/// final, the timeout passes (counted from the start), or a newer deploy
/// takes over.
pub(super) async fn cluster_task<T: ClusterTarget>(
    target: Arc<T>,
    release: Release,
    previous: Vec<ObjectRef>,
    events: mpsc::Sender<Event>,
    timeout: Duration,
    poll: Duration,
) {
    let cluster = release.cluster.name.clone();
    let started = Instant::now();
    let finish = |end: End| Event::Finished {
        cluster: cluster.clone(),
        end,
        seconds: started.elapsed().as_secs_f64(),
    };
    let deadline = started + timeout;
    let event = HookEvent::of_deploy(release.rollback, previous.is_empty());
    for hook in hooks::to_run(&release.hooks, event) {
        let progress = |detail: String| Event::Progress {
            cluster: cluster.clone(),
            detail,
        };
        let _ = events.send(progress(format!("hook {hook}: started"))).await;
        if let Some(end) = run_hook(target.as_ref(), &release, hook, deadline, poll).await {
            let _ = events.send(finish(end)).await;
            return;
        }
        let _ = events.send(progress(format!("hook {hook}: done"))).await;
    }
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
    let mut last = String::new();
    loop {
        let end = match target.health(&release).await {
            Ok(Health::Healthy) => Some(End::Healthy),
            Ok(Health::Degraded {
                reason,
                measurement,
            }) => Some(End::Degraded {
                reason,
                measurement,
            }),
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

/// How long a hook's object may be missing before its run counts as failed.
const HOOK_GONE_GRACE: Duration = Duration::from_secs(5);

/// Runs one hook to its end; how the cluster ends when it did not succeed.
async fn run_hook<T: ClusterTarget>(
    target: &T,
    release: &Release,
    hook: &Hook,
    deadline: Instant,
    poll: Duration,
) -> Option<End> {
    let not_applied = "nothing of the release was applied";
    match target.start_hook(release, hook).await {
        Ok(Some(generation)) => return Some(End::Superseded(generation)),
        Ok(None) => {}
        Err(e) => return Some(End::Error(format!("hook {hook}: {e}; {not_applied}"))),
    }
    if !hook.runs() {
        return None;
    }
    let mut gone_since: Option<Instant> = None;
    loop {
        let last = match target.hook_status(release, hook).await {
            Ok(HookStatus::Succeeded) => {
                // A hook object left behind is not worth failing a deploy over.
                let _ = target.finish_hook(release, hook, true).await;
                return None;
            }
            Ok(HookStatus::Failed { reason }) => {
                let _ = target.finish_hook(release, hook, false).await;
                return Some(End::Error(format!(
                    "hook {hook} failed: {reason}; {not_applied}"
                )));
            }
            Ok(HookStatus::Superseded { generation }) => {
                return Some(End::Superseded(generation));
            }
            Ok(HookStatus::Gone) => {
                // Long enough for a newer deploy to be seen taking over (the
                // orchestrator re-reads the ledger meanwhile), short of a
                // deploy's timeout.
                let since = *gone_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= HOOK_GONE_GRACE {
                    return Some(End::Error(format!(
                        "hook {hook} failed: it was deleted before it finished; {not_applied}"
                    )));
                }
                "deleted before it finished; waiting to see whether a newer deploy replaces it"
                    .to_owned()
            }
            Ok(HookStatus::Running { detail }) => {
                gone_since = None;
                detail
            }
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Some(End::TimedOut(format!(
                "hook {hook} still running ({last}); {not_applied}"
            )));
        }
        tokio::time::sleep(poll).await;
    }
}
