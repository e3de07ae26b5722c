//! `conductor dashboard`: serves the dashboard until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use super::runtime::interrupted;
use crate::dashboard::{ClusterClients, Dashboard, Tokens, serve};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to serve the dashboard.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Turns on promote, abort and retry for the people in this file: one
    /// `token,user` a line (Kubernetes' static token file format). Read-only without it.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The services' source repository, for the commits between revisions; default the repository root.
    #[arg(long)]
    source: Option<PathBuf>,
    /// The cluster (its name in the config) the dashboard runs in, reached
    /// with the pod's service account instead of a kubeconfig context.
    #[arg(long)]
    in_cluster: Option<String>,
}

pub async fn run(repo: &Path, args: Args) -> Result<ExitCode, String> {
    let clusters = ClusterClients::from_environment(args.in_cluster);
    let mut dashboard = Dashboard::new(repo.to_path_buf(), clusters)
        .with_source(args.source.unwrap_or_else(|| repo.to_path_buf()));
    let mode = match &args.token_file {
        Some(path) => {
            let tokens = Tokens::load(path).map_err(|e| e.to_string())?;
            let mode = format!("promote, abort and retry on for {} people", tokens.users());
            dashboard = dashboard.with_tokens(tokens);
            mode
        }
        None => "read-only; --token-file turns on promote, abort and retry".to_owned(),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("dashboard on http://{addr}/ ({mode})");
    serve(Arc::new(dashboard), listener, interrupted())
        .await
        .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}
