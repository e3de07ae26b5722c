//! `conductor plan`: what each cluster of an environment will get.

use std::path::Path;
use std::process::ExitCode;

use super::output::{Output, serialize};
use crate::plan::{self, PlanRequest};

#[derive(Debug, clap::Args)]
pub struct Args {
    service: String,
    #[arg(long = "env")]
    environment: String,
    #[arg(long)]
    cluster: Option<String>,
    /// Revision (git sha or tag) to render into the chart.
    #[arg(long)]
    revision: Option<String>,
    /// Show, for each values key, which file set it.
    #[arg(long)]
    explain: bool,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub async fn run(repo: &Path, args: Args) -> Result<ExitCode, String> {
    let request = PlanRequest {
        repo,
        service: &args.service,
        environment: &args.environment,
        cluster: args.cluster.as_deref(),
        revision: args.revision.as_deref(),
        explain: args.explain,
    };
    let report = plan::plan(&request).await.map_err(|e| e.to_string())?;
    let text = match args.output {
        Output::Text => plan::to_text(&report),
        other => serialize(&report, other)?,
    };
    print!("{text}");
    if report.problems.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if args.output != Output::Text {
        for problem in &report.problems {
            eprintln!("{problem}");
        }
    }
    Ok(ExitCode::FAILURE)
}
