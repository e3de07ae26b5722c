//! Command-line interface: one file per command, each a short function
//! over the library. Errors are formatted here, at the edge.

mod analyze;
mod controller;
mod convert;
mod crds;
mod dashboard;
mod demo;
mod deploy;
mod history;
mod output;
mod plan;
mod render;
pub mod rollout;
mod rollout_describe;
mod rollout_images;
mod rollout_terminate;
mod rollout_wait;
mod runtime;
mod status;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use output::Output;
use runtime::kube_client;

#[derive(Debug, Parser)]
#[command(
    name = "conductor",
    version,
    about = "Progressive delivery for Kubernetes, driven from Git"
)]
pub struct Cli {
    /// Repository holding conductor-config/ and charts/.
    #[arg(long, global = true, default_value = ".", env = "CONDUCTOR_REPO")]
    pub repo: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions, or write one file each into a folder.
    Crds(crds::Args),
    /// Check every service, environment, cluster, values file and chart render.
    Validate,
    /// Show what each cluster of an environment will get.
    Plan(plan::Args),
    /// Take a revision through every cluster of an environment, wave by wave, recorded in the Git ledger.
    #[command(after_help = deploy::AFTER_HELP)]
    Deploy(deploy::Args),
    /// What the ledger says runs in every environment and cluster.
    Status(status::Args),
    /// A cluster's (or an environment's) deploys, from the ledger's history.
    History(history::Args),
    /// Run an AnalysisTemplate from a file against its real providers and show every measurement.
    Analyze(analyze::Args),
    /// Run a real canary of the helpdesk on this machine: a good release is promoted, a bad one rolled back.
    Demo(demo::Args),
    /// Run the operator: the Rollout and AnalysisRun controllers (in-cluster config or KUBECONFIG).
    Controller(controller::Args),
    /// Act on a Rollout in a cluster: status, get, promote, abort, retry, undo, restart.
    Rollout {
        #[arg(long, short = 'n', global = true, env = "CONDUCTOR_NAMESPACE")]
        namespace: Option<String>,
        #[command(subcommand)]
        action: rollout::RolloutCommand,
    },
    /// Print the manifests helm renders for one cluster.
    Render(render::Args),
    /// Turn Argo Rollouts manifests into Conductor's, naming every field that does not carry over.
    Convert(convert::Args),
    /// Serve a web dashboard: every cluster's version from the ledger, rollouts live, and (with a token file) promote, abort, retry.
    Dashboard(dashboard::Args),
}

pub async fn run(cli: Cli) -> ExitCode {
    match execute(cli).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> Result<ExitCode, String> {
    let repo = cli.repo;
    match cli.command {
        Command::Crds(args) => crds::run(args),
        Command::Validate => validate::run(&repo).await,
        Command::Plan(args) => plan::run(&repo, args).await,
        Command::Deploy(args) => deploy::run(&repo, args).await,
        Command::Status(args) => status::run(&repo, args).await,
        Command::History(args) => history::run(&repo, args),
        Command::Analyze(args) => analyze::run(args).await,
        Command::Demo(args) => demo::run(repo, args).await,
        Command::Render(args) => render::run(&repo, args).await,
        Command::Convert(args) => convert::run(args),
        Command::Controller(args) => controller::run(args).await,
        Command::Dashboard(args) => dashboard::run(&repo, args).await,
        Command::Rollout { namespace, action } => {
            let client = kube_client(None).await?;
            let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_owned());
            let mut out = std::io::stdout();
            let code = rollout::execute(client, &namespace, action, &mut out)
                .await
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::from(code))
        }
    }
}
