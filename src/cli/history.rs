//! `conductor history`: a cluster's (or an environment's) deploys, from
//! the ledger's log.

use std::path::Path;
use std::process::ExitCode;

use super::output::{Output, serialize};
use crate::config;
use crate::gitops::ledger::{Record, short};
use crate::gitops::store::LedgerStore;

#[derive(Debug, clap::Args)]
pub struct Args {
    service: String,
    #[arg(long = "env")]
    environment: String,
    #[arg(long)]
    cluster: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    commit: String,
    time: String,
    subject: String,
}

pub fn run(repo: &Path, args: Args) -> Result<ExitCode, String> {
    let service = config::load_service(repo, &args.service).map_err(|e| e.to_string())?;
    let environment = service
        .environment(&args.environment)
        .map_err(|e| e.to_string())?;
    if let Some(cluster) = &args.cluster {
        environment
            .cluster(&service.file, cluster)
            .map_err(|e| e.to_string())?;
    }
    let location = crate::gitops::location::LedgerLocation::of_service(repo, &service.ledger);
    let mut store = LedgerStore::open(&location).map_err(|e| format!("ledger: {e}"))?;
    let entries = store
        .history(&service.name, &environment.name, args.cluster.as_deref())
        .map_err(|e| format!("ledger: {e}"))?;
    let lines: Vec<Line> = entries
        .iter()
        .map(|e| Line {
            commit: e.commit.clone(),
            time: jiff::Timestamp::from_second(e.time)
                .map(|t| t.to_string())
                .unwrap_or_default(),
            subject: e.subject.clone(),
        })
        .collect();
    if args.output != Output::Text {
        print!("{}", serialize(&lines, args.output)?);
        return Ok(ExitCode::SUCCESS);
    }
    for (line, entry) in lines.iter().zip(&entries) {
        println!("{}  {}  {}", short(&line.commit), line.time, line.subject);
        for change in &entry.changes {
            if let Some(Record::Cluster(r)) = &change.record
                && let Some(message) = &r.message
            {
                println!("           {message}");
            }
        }
    }
    if lines.is_empty() {
        println!("no deploys of {} to {} yet", service.name, environment.name);
    }
    Ok(ExitCode::SUCCESS)
}
