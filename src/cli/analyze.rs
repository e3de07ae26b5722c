//! `conductor analyze`: an AnalysisTemplate run now, measurement by measurement.

use std::path::PathBuf;
use std::process::ExitCode;

use super::output::{Output, serialize};
use super::runtime::TlsArgs;
use crate::analyze;
use crate::crd::analysis::AnalysisPhase;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// YAML file holding the template (a rendered chart is fine).
    file: PathBuf,
    /// Which template, when the file holds several.
    #[arg(long)]
    template: Option<String>,
    /// Argument values, `name=value`.
    #[arg(long = "arg")]
    args: Vec<String>,
    /// Base URL of a pod to scrape for podScrape metrics (repeatable).
    #[arg(long = "endpoint")]
    endpoints: Vec<String>,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(flatten)]
    tls: TlsArgs,
}

pub async fn run(args: Args) -> Result<ExitCode, String> {
    let (name, spec) =
        analyze::load_template(&args.file, args.template.as_deref()).map_err(|e| e.to_string())?;
    let arguments = args
        .args
        .iter()
        .map(|a| analyze::parse_arg(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--arg {e}"))?;
    let trust = args.tls.trust()?;
    let live = args.output == Output::Text;
    let mut printed: Vec<i32> = Vec::new();
    let run = analyze::analyze(&name, &spec, &arguments, &trust, args.endpoints, |run| {
        if !live {
            return;
        }
        printed.resize(run.results.len(), 0);
        for (result, seen) in run.results.iter().zip(printed.iter_mut()) {
            let new = usize::try_from(result.count - *seen).unwrap_or(0);
            for m in result.measurements.iter().rev().take(new).rev() {
                eprintln!(
                    "{} {}: {} value={} {}",
                    m.finished_at.as_deref().unwrap_or(""),
                    result.name,
                    m.phase,
                    m.value.as_deref().unwrap_or("-"),
                    m.message.as_deref().unwrap_or("")
                );
            }
            *seen = result.count;
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    let status = run.status();
    let text = match args.output {
        Output::Text => crate::analysis::table::render(&name, &status),
        other => serialize(&status, other)?,
    };
    print!("{text}");
    Ok(if status.phase == Some(AnalysisPhase::Successful) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
