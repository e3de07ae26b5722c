//! `conductor rollout ...` (also `kubectl conductor ...`): what people and
//! CI do to a Rollout in a cluster. Requests go through the
//! `conductor.dev/request` annotation and are confirmed by the
//! controller's `status.lastRequest`, so "promoted" is only printed once it
//! happened.

use std::fmt::Write as _;
use std::time::Duration;

use clap::Subcommand;
use futures_util::StreamExt;
use jiff::Timestamp;
use kube::runtime::watcher::{self, watch_object};
use kube::{Api, Client, ResourceExt};

use super::rollout_describe::{self, phase};
use super::rollout_images::{self, ImageError};
use super::rollout_terminate::{self, TerminateError};
use super::rollout_wait::{ACK_TIMEOUT, until};
use crate::crd::rollout::Rollout;
use crate::engine::{self, Outcome, Request};
use crate::platform::kubernetes::requests::{action_name, encode};
use crate::platform::kubernetes::writes;

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Print the rollout's phase; with --watch, follow it until Healthy (exit 0) or Degraded (exit 1).
    Status {
        name: String,
        #[arg(long)]
        watch: bool,
        /// Give up watching after this long (`90s`, `10m`); exit 3.
        #[arg(long, default_value = "10m")]
        timeout: String,
    },
    /// Show the rollout, its ReplicaSets, analysis runs and experiments; with --watch, again on every change.
    Get {
        name: String,
        #[arg(long, short = 'w')]
        watch: bool,
    },
    /// Go to the next step (or, in blue-green, switch now); --full skips every remaining step.
    /// A rollout held by `pause` is resumed where it stands instead.
    Promote {
        name: String,
        #[arg(long)]
        full: bool,
    },
    /// Stop the rollout and send all traffic back to the stable revision.
    Abort { name: String },
    /// Start an aborted rollout's steps again.
    Retry { name: String },
    /// Roll the template back to the previous revision.
    Undo { name: String },
    /// Restart every pod of the rollout, one at a time.
    Restart { name: String },
    /// Hold the rollout where it stands (spec.paused): no step, weight or scale changes until `promote`.
    Pause { name: String },
    /// End an analysis run or experiment now: what it measured stands, and a rollout waiting on it goes on.
    Terminate {
        #[command(subcommand)]
        what: rollout_terminate::TerminateCommand,
    },
    /// Change the rollout's pod template: `set image NAME CONTAINER=IMAGE...` starts a new revision.
    Set {
        #[command(subcommand)]
        what: SetCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SetCommand {
    /// Set container images (`*=IMAGE` sets every container's), as `kubectl set image` does.
    Image {
        name: String,
        #[arg(required = true, value_name = "CONTAINER=IMAGE")]
        images: Vec<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RolloutCliError {
    #[error("rollout {name} not found in namespace {namespace}")]
    NotFound { name: String, namespace: String },
    #[error("kubernetes api: {0}")]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Terminate(#[from] TerminateError),
    #[error(
        "rollout {name}: the controller has not acted on `{action}` within {seconds}s; is `conductor controller` running?"
    )]
    NotAcknowledged {
        name: String,
        action: &'static str,
        seconds: u64,
    },
}

/// Runs one command; returns the exit code and writes what it shows to `out`.
pub async fn execute(
    client: Client,
    namespace: &str,
    command: RolloutCommand,
    out: &mut (dyn std::io::Write + Send),
) -> Result<u8, RolloutCliError> {
    let api: Api<Rollout> = Api::namespaced(client.clone(), namespace);
    let not_found = |name: &str| RolloutCliError::NotFound {
        name: name.to_owned(),
        namespace: namespace.to_owned(),
    };
    match command {
        RolloutCommand::Status {
            name,
            watch,
            timeout,
        } => {
            let timeout = crate::engine::duration::parse_millis(&timeout)
                .map(|ms| Duration::from_millis(ms.max(0).unsigned_abs()))
                .map_err(|e| RolloutCliError::Usage(format!("--timeout: {e}")))?;
            let rollout = api.get_opt(&name).await?.ok_or_else(|| not_found(&name))?;
            if !watch {
                let _ = writeln!(out, "{}", status_line(&rollout));
                return Ok(u8::from(matches!(
                    outcome(&rollout),
                    Outcome::Degraded { .. }
                )));
            }
            follow_status(&api, &name, timeout, out).await
        }
        RolloutCommand::Get { name, watch } => {
            let rollout = api.get_opt(&name).await?.ok_or_else(|| not_found(&name))?;
            let _ = write!(
                out,
                "{}",
                rollout_describe::describe(&client, &rollout).await?
            );
            if watch {
                let mut changes = watch_object(api.clone(), &name).boxed();
                while let Some(change) = changes.next().await {
                    match change {
                        Ok(Some(rollout)) => {
                            let _ = write!(
                                out,
                                "\n{}",
                                rollout_describe::describe(&client, &rollout).await?
                            );
                            let _ = out.flush();
                        }
                        Ok(None) => return Err(not_found(&name)),
                        Err(watcher::Error::WatchError(e)) => {
                            return Err(RolloutCliError::Usage(e.to_string()));
                        }
                        Err(_) => continue,
                    }
                }
            }
            Ok(0)
        }
        RolloutCommand::Promote { name, full } => {
            let rollout = api.get_opt(&name).await?.ok_or_else(|| not_found(&name))?;
            if rollout.spec.paused == Some(true) {
                let resumed = writes::set_paused(&api, &name, false).await?;
                if !full {
                    return Box::pin(observed(&api, &resumed, "resume", out)).await;
                }
            }
            let request = if full {
                Request::PromoteFull
            } else {
                Request::Promote
            };
            ask_and_wait(&api, &name, request, out).await
        }
        RolloutCommand::Abort { name } => request_and_wait(&api, &name, Request::Abort, out).await,
        RolloutCommand::Retry { name } => request_and_wait(&api, &name, Request::Retry, out).await,
        RolloutCommand::Undo { name } => request_and_wait(&api, &name, Request::Undo, out).await,
        RolloutCommand::Restart { name } => {
            api.get_opt(&name).await?.ok_or_else(|| not_found(&name))?;
            let now = Timestamp::now().to_string();
            writes::request_restart(&api, &name, &now).await?;
            let _ = writeln!(out, "rollout {name}: restarting pods created before {now}");
            Ok(0)
        }
        RolloutCommand::Pause { name } => {
            let rollout = api.get_opt(&name).await?.ok_or_else(|| not_found(&name))?;
            let paused = if rollout.spec.paused == Some(true) {
                rollout
            } else {
                writes::set_paused(&api, &name, true).await?
            };
            Box::pin(observed(&api, &paused, "pause", out)).await
        }
        RolloutCommand::Terminate { what } => {
            Ok(Box::pin(rollout_terminate::terminate(&client, namespace, what, out)).await?)
        }
        RolloutCommand::Set {
            what: SetCommand::Image { name, images },
        } => {
            let images = images
                .iter()
                .map(|arg| rollout_images::parse(arg))
                .collect::<Result<Vec<_>, _>>()?;
            let rollout = api.get_opt(&name).await?.ok_or_else(|| not_found(&name))?;
            let change = rollout_images::change(&rollout, &images)?;
            if change.changed.is_empty() {
                let _ = writeln!(out, "rollout {name}: every image is already set");
                return Ok(0);
            }
            let patch = serde_json::from_value(change.patch)
                .map_err(|e| RolloutCliError::Usage(format!("an image patch: {e}")))?;
            writes::set_images(&api, &name, patch).await?;
            for (container, before, after) in &change.changed {
                let _ = writeln!(out, "rollout {name}: {container} {before} -> {after}");
            }
            Ok(0)
        }
    }
}

/// Waits until the controller has acted on `changed`'s generation, then
/// prints where the rollout stands.
async fn observed(
    api: &Api<Rollout>,
    changed: &Rollout,
    action: &'static str,
    out: &mut (dyn std::io::Write + Send),
) -> Result<u8, RolloutCliError> {
    let name = changed.name_any();
    let generation = changed.metadata.generation.unwrap_or_default();
    let seen = |rollout: &Rollout| {
        rollout
            .status
            .as_ref()
            .and_then(|s| s.observed_generation)
            .is_some_and(|g| g >= generation)
            .then(|| rollout.clone())
    };
    let acted = match seen(changed) {
        Some(rollout) => Some(rollout),
        None => until(api.clone(), &name, seen).await,
    };
    match acted {
        Some(rollout) => {
            let _ = writeln!(out, "{action}: {}", status_line(&rollout));
            Ok(0)
        }
        None => Err(RolloutCliError::NotAcknowledged {
            name,
            action,
            seconds: ACK_TIMEOUT.as_secs(),
        }),
    }
}

pub fn status_line(rollout: &Rollout) -> String {
    let status = rollout.status.clone().unwrap_or_default();
    let mut line = format!("rollout {}: {}", rollout.name_any(), phase(rollout));
    if let Some(step) = status.current_step_index {
        let _ = write!(line, ", step {step}");
    }
    if let Some(weights) = status.canary.as_ref().and_then(|c| c.weights.as_ref()) {
        let _ = write!(line, ", canary weight {}%", weights.canary);
    }
    if let Some(message) = status.message.filter(|m| !m.is_empty()) {
        let _ = write!(line, " ({message})");
    }
    line
}

/// Where the rollout stands for its current spec; a status written for an
/// older generation never counts.
fn outcome(rollout: &Rollout) -> Outcome {
    engine::outcome(
        rollout.metadata.generation,
        &rollout.spec,
        rollout.status.as_ref(),
    )
}

async fn follow_status(
    api: &Api<Rollout>,
    name: &str,
    timeout: Duration,
    out: &mut (dyn std::io::Write + Send),
) -> Result<u8, RolloutCliError> {
    let mut changes = watch_object(api.clone(), name).boxed();
    let mut last = String::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let change = tokio::select! {
            change = changes.next() => change,
            () = tokio::time::sleep_until(deadline) => {
                let _ = writeln!(out, "rollout {name}: still {last:?} after {}s", timeout.as_secs());
                return Ok(3);
            }
        };
        let rollout = match change {
            Some(Ok(Some(rollout))) => rollout,
            Some(Ok(None)) => return Ok(1),
            Some(Err(_)) => continue,
            None => return Ok(3),
        };
        let line = status_line(&rollout);
        if line != last {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
            last = line;
        }
        match outcome(&rollout) {
            Outcome::Healthy { .. } => return Ok(0),
            Outcome::Degraded { .. } => return Ok(1),
            Outcome::Progressing { .. } | Outcome::Paused { .. } => {}
        }
    }
}

async fn request_and_wait(
    api: &Api<Rollout>,
    name: &str,
    request: Request,
    out: &mut (dyn std::io::Write + Send),
) -> Result<u8, RolloutCliError> {
    if api.get_opt(name).await?.is_none() {
        return Err(RolloutCliError::NotFound {
            name: name.to_owned(),
            namespace: api.namespace().unwrap_or_default().to_owned(),
        });
    }
    ask_and_wait(api, name, request, out).await
}

/// [`request_and_wait`] for a rollout already known to exist.
async fn ask_and_wait(
    api: &Api<Rollout>,
    name: &str,
    request: Request,
    out: &mut (dyn std::io::Write + Send),
) -> Result<u8, RolloutCliError> {
    let id = format!(
        "{}-{}",
        Timestamp::now().as_nanosecond(),
        std::process::id()
    );
    let value = encode(request, &id);
    writes::request_action(api, name, &value).await?;
    let acknowledged = until(api.clone(), name, |rollout: &Rollout| {
        let last = rollout
            .status
            .as_ref()
            .and_then(|s| s.last_request.as_deref());
        (last == Some(value.as_str())).then(|| rollout.clone())
    })
    .await;
    match acknowledged {
        Some(rollout) => {
            let _ = writeln!(out, "{}: {}", action_name(request), status_line(&rollout));
            Ok(0)
        }
        None => Err(RolloutCliError::NotAcknowledged {
            name: name.to_owned(),
            action: action_name(request),
            seconds: ACK_TIMEOUT.as_secs(),
        }),
    }
}
