//! `conductor deploy`: what a CI job runs after a merge.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, ValueEnum};
use kube::config::Kubeconfig;

use super::output::{Output, serialize};
use super::runtime::{TlsArgs, interrupted};
use crate::config;
use crate::deploy::kubernetes::KubeCluster;
use crate::deploy::notify::{self, FLUSH_BOUND, INTERRUPTED_FLUSH_BOUND};
use crate::deploy::{self, OnFailure, Request};
use crate::gitops::LedgerLocation;
use crate::gitops::ordering::Intent;
use crate::gitops::store::LedgerStore;

pub const AFTER_HELP: &str = "\
Exit codes:
  0    deployed: every cluster is Healthy at the revision
  1    failed: a cluster's rollout was rolled back or degraded, or a preflight check failed (which cluster, why)
  2    bad input: unknown service or environment, a revision that does not resolve, a chart that does not render
  3    refused or superseded: an older revision than the environment's, or a newer deploy took over (names it)
  4    timed out: a cluster did not become Healthy within --timeout
  130  interrupted (Ctrl-C, SIGTERM): the ledger records where it stopped; deploy again to finish";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailurePolicy {
    /// Leave every cluster where it is.
    Stop,
    /// Also return the clusters this deploy already moved to their previous revision.
    Rollback,
}

#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("target").required(true).args(["revision", "rollback_to"])))]
pub struct Args {
    /// The service, as named in conductor-config/<service>.yaml.
    service: String,
    /// The environment whose clusters receive the revision.
    #[arg(long = "env")]
    environment: String,
    /// The revision to deploy: a commit, tag or branch of the source repository, rendered into the chart as given.
    #[arg(long)]
    revision: Option<String>,
    /// Step back on purpose to an older revision; the ledger records it as a rollback.
    #[arg(long)]
    rollback_to: Option<String>,
    /// The service's source repository, where revisions are resolved; default the repository root.
    #[arg(long)]
    source: Option<PathBuf>,
    /// Deploy a revision whose history is unrelated to the one the environment wants.
    #[arg(long)]
    force: bool,
    #[arg(long, value_enum, default_value_t = FailurePolicy::Stop)]
    on_failure: FailurePolicy,
    /// How long each cluster may take to become Healthy (`90s`, `15m`).
    #[arg(long, default_value = "15m")]
    timeout: String,
    /// Who deploys, for the ledger; default the CI job's URL, else user@host.
    #[arg(long)]
    by: Option<String>,
    /// `json` prints one result document on stdout (progress goes to stderr).
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// How often each cluster's rollout is looked at.
    #[arg(long, default_value = "1s", hide = true)]
    poll: String,
    #[command(flatten)]
    tls: TlsArgs,
}

impl Args {
    /// The service, as given (for tools that check command lines).
    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn environment(&self) -> &str {
        &self.environment
    }
}

pub async fn run(repo: &Path, args: Args) -> Result<ExitCode, String> {
    let bad_input = |message: String| {
        eprintln!("error: {message}");
        Ok(ExitCode::from(deploy::Exit::BadInput.code()))
    };
    let service = match config::load_service(repo, &args.service) {
        Ok(service) => service,
        Err(e) => return bad_input(e.to_string()),
    };
    let environment = match service.environment(&args.environment) {
        Ok(environment) => environment.clone(),
        Err(e) => return bad_input(e.to_string()),
    };
    let (revision, intent) = match (&args.revision, &args.rollback_to) {
        (_, Some(back)) => (back.clone(), Intent::RollbackTo),
        (Some(revision), None) if args.force => (revision.clone(), Intent::Force),
        (Some(revision), None) => (revision.clone(), Intent::Deploy),
        (None, None) => return bad_input("give --revision or --rollback-to".into()),
    };
    let duration = |flag: &str, text: &str| {
        crate::engine::duration::parse_millis(text)
            .map(|ms| Duration::from_millis(ms.max(0).unsigned_abs()))
            .map_err(|e| format!("--{flag}: {e}"))
    };
    let (timeout, poll) = match (
        duration("timeout", &args.timeout),
        duration("poll", &args.poll),
    ) {
        (Ok(t), Ok(p)) => (t, p),
        (Err(e), _) | (_, Err(e)) => return bad_input(e),
    };
    let request = Request {
        repo: repo.to_path_buf(),
        service: service.name.clone(),
        environment: environment.name.clone(),
        revision,
        source: args.source.clone().unwrap_or_else(|| repo.to_path_buf()),
        intent,
        on_failure: match args.on_failure {
            FailurePolicy::Stop => OnFailure::Stop,
            FailurePolicy::Rollback => OnFailure::Rollback,
        },
        timeout,
        by: args.by.clone().unwrap_or_else(who),
        poll,
    };
    let trust = match args.tls.trust() {
        Ok(trust) => trust,
        Err(e) => return bad_input(e),
    };
    let location = LedgerLocation::of_service(repo, &service.ledger);
    let store = match tokio::task::spawn_blocking(move || LedgerStore::open(&location)).await {
        Ok(Ok(store)) => store,
        Ok(Err(e)) => return Err(format!("ledger: {e}")),
        Err(e) => return Err(format!("ledger: {e}")),
    };
    let kubeconfig = Kubeconfig::read();
    let mut targets = Vec::new();
    for cluster in &environment.clusters {
        targets.push(std::sync::Arc::new(match &kubeconfig {
            Ok(kubeconfig) => KubeCluster::connect(kubeconfig, cluster).await,
            Err(e) => KubeCluster::unreachable(cluster, format!("no kubeconfig: {e}")),
        }));
    }
    let json = args.output == Output::Json;
    let say = |line: &str| {
        // Progress goes where a person looks; stdout stays one JSON document.
        if json {
            eprintln!("{line}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    };
    // Notifications go out while the deploy works; a target that cannot
    // be used is a warning, never a reason to stop.
    let (outbox, notifier) = notify::start(&service.notifications, &environment.name, &trust);
    for skipped in notifier.skipped() {
        say(&format!(
            "warning: notification target {} skipped: {}",
            skipped.target, skipped.detail
        ));
    }
    let mut report = deploy::deploy(
        &request,
        &service,
        targets,
        store,
        &say,
        &outbox,
        interrupted(),
    )
    .await;
    let bound = match report.exit {
        deploy::Exit::Interrupted => INTERRUPTED_FLUSH_BOUND,
        _ => FLUSH_BOUND,
    };
    report.notifications = notifier.finish(&outbox, bound).await;
    match args.output {
        Output::Text => print!("{}", report.table()),
        other => print!("{}", serialize(&report, other)?),
    }
    Ok(ExitCode::from(report.exit.code()))
}

/// The CI job's URL from the usual CI variables, else `user@host`.
fn who() -> String {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let (Some(server), Some(repository), Some(run)) = (
        var("GITHUB_SERVER_URL"),
        var("GITHUB_REPOSITORY"),
        var("GITHUB_RUN_ID"),
    ) {
        return format!("{server}/{repository}/actions/runs/{run}");
    }
    for name in [
        "CI_JOB_URL",
        "BUILDKITE_BUILD_URL",
        "BUILD_URL",
        "CIRCLE_BUILD_URL",
    ] {
        if let Some(url) = var(name) {
            return url;
        }
    }
    let user = var("USER").unwrap_or_else(|| "someone".into());
    let host = var("HOSTNAME").unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}
