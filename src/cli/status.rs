//! `conductor status`: what the ledger says runs where; `--live` adds what
//! each cluster's Rollouts say now.

use std::path::Path;
use std::process::ExitCode;

use kube::Api;
use kube::config::Kubeconfig;
use serde::Serialize;

use super::output::{Output, serialize};
use crate::config::{self, Cluster};
use crate::crd::rollout::Rollout;
use crate::deploy::kubernetes::client_for;
use crate::engine;
use crate::gitops::ledger::{ClusterRecord, EnvironmentRecord};
use crate::gitops::store::LedgerStore;

#[derive(Debug, clap::Args)]
pub struct Args {
    service: String,
    /// One environment; every environment when absent.
    #[arg(long = "env")]
    environment: Option<String>,
    /// Also ask each cluster how its Rollouts are doing now.
    #[arg(long)]
    live: bool,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvironmentStatus {
    name: String,
    intended: Option<EnvironmentRecord>,
    clusters: Vec<ClusterStatus>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterStatus {
    name: String,
    wave: u32,
    record: Option<ClusterRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<String>,
}

pub async fn run(repo: &Path, args: Args) -> Result<ExitCode, String> {
    let service = config::load_service(repo, &args.service).map_err(|e| e.to_string())?;
    let names: Vec<String> = match &args.environment {
        Some(name) => vec![
            service
                .environment(name)
                .map_err(|e| e.to_string())?
                .name
                .clone(),
        ],
        None => service.environments.keys().cloned().collect(),
    };
    let location = crate::gitops::location::LedgerLocation::of_service(repo, &service.ledger);
    let service_name = service.name.clone();
    let wanted = names.clone();
    let snapshots = tokio::task::spawn_blocking(move || {
        let mut store = LedgerStore::open(&location)?;
        wanted
            .iter()
            .map(|env| store.read(&service_name, env))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("ledger: {e}"))?;
    let kubeconfig = if args.live {
        Kubeconfig::read().ok()
    } else {
        None
    };
    let mut environments = Vec::new();
    for (name, snapshot) in names.iter().zip(snapshots) {
        let mut clusters = Vec::new();
        for cluster in &service.environments[name].clusters {
            let record = snapshot.clusters.get(&cluster.name).cloned();
            let live = match (&kubeconfig, args.live) {
                (Some(kubeconfig), true) => Some(live(kubeconfig, cluster, record.as_ref()).await),
                (None, true) => Some("no kubeconfig".to_owned()),
                _ => None,
            };
            clusters.push(ClusterStatus {
                name: cluster.name.clone(),
                wave: cluster.wave,
                record,
                live,
            });
        }
        environments.push(EnvironmentStatus {
            name: name.clone(),
            intended: snapshot.environment,
            clusters,
        });
    }
    match args.output {
        Output::Text => print!("{}", table(&environments)),
        other => print!("{}", serialize(&environments, other)?),
    }
    Ok(ExitCode::SUCCESS)
}

fn table(environments: &[EnvironmentStatus]) -> String {
    let mut text = format!(
        "{:<12} {:<20} {:>4}  {:<12} {:<11} {:<25} {}\n",
        "ENVIRONMENT", "CLUSTER", "WAVE", "REVISION", "STATE", "UPDATED", "BY"
    );
    for env in environments {
        if let Some(intended) = &env.intended {
            text.push_str(&format!(
                "{:<12} {:<20} {:>4}  {:<12} {:<11} {:<25} {}\n",
                env.name,
                "(intended)",
                "",
                intended.label,
                if intended.rollback { "rollback" } else { "" },
                intended.updated_at,
                intended.by
            ));
        }
        for c in &env.clusters {
            let (revision, state, updated, by) = match &c.record {
                Some(r) => (
                    r.label.clone(),
                    r.state.to_string(),
                    r.updated_at.clone(),
                    r.by.clone(),
                ),
                None => ("-".into(), "never".into(), "-".into(), "-".into()),
            };
            text.push_str(&format!(
                "{:<12} {:<20} {:>4}  {:<12} {:<11} {:<25} {}\n",
                env.name, c.name, c.wave, revision, state, updated, by
            ));
            if let Some(live) = &c.live {
                text.push_str(&format!("{:<12} {:<20}       live: {live}\n", "", ""));
            }
            if let Some(message) = c.record.as_ref().and_then(|r| r.message.as_ref()) {
                text.push_str(&format!("{:<12} {:<20}       {message}\n", "", ""));
            }
        }
    }
    text
}

/// Each recorded Rollout's outcome, as `name: Healthy at 3f2a9c1`.
async fn live(
    kubeconfig: &Kubeconfig,
    cluster: &Cluster,
    record: Option<&ClusterRecord>,
) -> String {
    let client = match client_for(kubeconfig, cluster).await {
        Ok(client) => client,
        Err(e) => return format!("unreachable: {e}"),
    };
    let rollouts: Vec<_> = record
        .map(|r| {
            r.applied
                .objects
                .iter()
                .filter(|o| o.kind == "Rollout")
                .collect()
        })
        .unwrap_or_default();
    if rollouts.is_empty() {
        return "no Rollout recorded".into();
    }
    let mut parts = Vec::new();
    for object in rollouts {
        let ns = object.namespace.as_deref().unwrap_or(&cluster.namespace);
        let api: Api<Rollout> = Api::namespaced(client.clone(), ns);
        let text = match api.get_opt(&object.name).await {
            Ok(Some(r)) => {
                engine::outcome(r.metadata.generation, &r.spec, r.status.as_ref()).to_string()
            }
            Ok(None) => "not found".into(),
            Err(e) => format!("unreachable: {e}"),
        };
        parts.push(format!("{}: {text}", object.name));
    }
    parts.join("; ")
}
