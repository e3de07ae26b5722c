//! `conductor rollout terminate analysisrun|experiment NAME`: ends one now,
//! as `kubectl argo rollouts terminate` does; what it measured stands and
//! a rollout waiting on it goes on.

use clap::Subcommand;
use kube::{Api, Client};

use super::rollout_wait::{ACK_TIMEOUT, until};
use crate::crd::analysis::{AnalysisPhase, AnalysisRun};
use crate::crd::experiment::Experiment;
use crate::platform::kubernetes::writes;

#[derive(Debug, thiserror::Error)]
pub enum TerminateError {
    #[error("{kind} {name} not found in namespace {namespace}")]
    NotFound {
        kind: &'static str,
        name: String,
        namespace: String,
    },
    #[error("kubernetes api: {0}")]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Refused(String),
    #[error(
        "{kind} {name}: the controller has not ended it within {seconds}s; is `conductor controller` running?"
    )]
    NotEnded {
        kind: &'static str,
        name: String,
        seconds: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum TerminateCommand {
    /// `terminate analysisrun NAME`
    Analysisrun { name: String },
    /// `terminate experiment NAME`
    Experiment { name: String },
}

/// Sets `spec.terminate` and waits for the controller to end the run or
/// experiment.
pub async fn terminate(
    client: &Client,
    namespace: &str,
    what: TerminateCommand,
    out: &mut (dyn std::io::Write + Send),
) -> Result<u8, TerminateError> {
    let (kind, name) = match &what {
        TerminateCommand::Analysisrun { name } => ("analysisrun", name.clone()),
        TerminateCommand::Experiment { name } => ("experiment", name.clone()),
    };
    let missing = || TerminateError::NotFound {
        kind,
        name: name.clone(),
        namespace: namespace.to_owned(),
    };
    let ended = |phase: Option<AnalysisPhase>, message: Option<String>| {
        phase
            .filter(|p| p.is_final())
            .map(|p| format!("{p} ({})", message.unwrap_or_default()))
    };
    // Both kinds share `spec.terminate` and an Argo-shaped status phase.
    let wait = async {
        match what {
            TerminateCommand::Analysisrun { .. } => {
                let api: Api<AnalysisRun> = Api::namespaced(client.clone(), namespace);
                api.get_opt(&name).await?.ok_or_else(missing)?;
                writes::terminate_analysis_run(client, namespace, &name)
                    .await
                    .map_err(|e| TerminateError::Refused(e.to_string()))?;
                Ok::<_, TerminateError>(
                    until(api, &name, |r: &AnalysisRun| {
                        let status = r.status.clone().unwrap_or_default();
                        ended(status.phase, status.message)
                    })
                    .await,
                )
            }
            TerminateCommand::Experiment { .. } => {
                let api: Api<Experiment> = Api::namespaced(client.clone(), namespace);
                api.get_opt(&name).await?.ok_or_else(missing)?;
                writes::terminate_experiment(client, namespace, &name)
                    .await
                    .map_err(|e| TerminateError::Refused(e.to_string()))?;
                Ok(until(api, &name, |e: &Experiment| {
                    let status = e.status.clone().unwrap_or_default();
                    ended(status.phase, status.message)
                })
                .await)
            }
        }
    };
    match wait.await? {
        Some(phase) => {
            let _ = writeln!(out, "terminate: {kind} {name}: {phase}");
            Ok(0)
        }
        None => Err(TerminateError::NotEnded {
            kind,
            name,
            seconds: ACK_TIMEOUT.as_secs(),
        }),
    }
}
