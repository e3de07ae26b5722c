//! `conductor render`: the manifests helm renders for one cluster.

use std::path::Path;
use std::process::ExitCode;

use crate::config;
use crate::render::{self, Helm};

#[derive(Debug, clap::Args)]
pub struct Args {
    service: String,
    #[arg(long = "env")]
    environment: String,
    #[arg(long)]
    cluster: String,
    #[arg(long)]
    revision: Option<String>,
}

pub async fn run(repo: &Path, args: Args) -> Result<ExitCode, String> {
    let service = config::load_service(repo, &args.service).map_err(|e| e.to_string())?;
    let environment = service
        .environment(&args.environment)
        .map_err(|e| e.to_string())?;
    let cluster = environment
        .cluster(&service.file, &args.cluster)
        .map_err(|e| e.to_string())?;
    let helm = Helm::locate(repo).await.map_err(|e| e.to_string())?;
    let rendered = render::render_cluster(
        &helm,
        repo,
        &service,
        &environment.name,
        cluster,
        args.revision.as_deref(),
    )
    .await
    .map_err(|e| e.to_string())?;
    print!("{}", rendered.manifest);
    Ok(ExitCode::SUCCESS)
}
