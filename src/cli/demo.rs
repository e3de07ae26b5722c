//! `conductor demo`: the embedded default, a deploy through three local clusters in two waves.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::output::{Output, serialize};
use super::runtime::interrupted;
use crate::demo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Speed {
    Fast,
    Normal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Good,
    Bad,
    Both,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `fast` uses the demo values' 2 s analysis windows; `normal` 10 s.
    #[arg(long, value_enum, default_value_t = Speed::Fast)]
    speed: Speed,
    #[arg(long, value_enum, default_value_t = Scenario::Both)]
    scenario: Scenario,
    /// Requests per second the users of each cluster send through its proxy.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Analyse with a real Prometheus (started on a free port) instead of scraping the pods.
    #[arg(long)]
    prometheus: bool,
    /// Keep the demo's source repository and ledger, and say where.
    #[arg(long)]
    keep: bool,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub async fn run(repo: PathBuf, args: Args) -> Result<ExitCode, String> {
    let options = demo::Options {
        repo,
        slow: args.speed == Speed::Normal,
        releases: demo::releases(
            args.scenario != Scenario::Bad,
            args.scenario != Scenario::Good,
        ),
        rate: args.rate,
        live: args.output == Output::Text,
        prometheus: args.prometheus,
        keep: args.keep,
    };
    // Ctrl-C or SIGTERM drops the demo, which stops every process it started.
    let report = tokio::select! {
        report = demo::run(options) => report.map_err(|e| e.to_string())?,
        _ = interrupted() => return Err("interrupted: every process the demo started is stopped".into()),
    };
    match args.output {
        Output::Text => print!("{}", report.summary()),
        other => print!("{}", serialize(&report, other)?),
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
