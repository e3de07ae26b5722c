//! The AnalysisRun controller: measures what is due, records it in the
//! run's status and comes back at the next measurement time. The status
//! is the run's whole memory, so any replica can pick a run up.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use jiff::Timestamp;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::{Api, Resource, ResourceExt};
use tracing::warn;

use super::events::Events;
use super::metric_jobs::MetricJobs;
use super::metrics::Metrics;
use super::refusals::Refusals;
use super::{KubeError, secrets, writes};
use crate::analysis::args::resolve;
use crate::analysis::plan::plan_metrics;
use crate::analysis::providers::{Clients, Providers};
use crate::analysis::run::Run;
use crate::crd::analysis::{AnalysisPhase, AnalysisRun, AnalysisRunStatus, AnalysisTemplateSpec};
use crate::crd::problem::joined;
use crate::engine::blocker;

const NAME: &str = "analysisrun";

/// The analysis controller's shared state: what every AnalysisRun
/// reconcile measures and writes through.
pub struct AnalysisControllerState {
    pub client: kube::Client,
    /// The controller's own namespace (see [`super::controller::Options`]).
    pub home_namespace: String,
    /// Trusting the controller's CA bundle (see [`super::controller::Options`]).
    pub http: Clients,
    pub events: Events,
    pub metrics: Arc<Metrics>,
    pub refusals: Refusals,
}

pub fn controller(
    runs: Api<AnalysisRun>,
    ctx: Arc<AnalysisControllerState>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> impl std::future::Future<Output = ()> {
    let (store, runs) = super::cache::reflect(runs);
    Controller::for_stream(runs, store)
        .with_config(kube::runtime::controller::Config::default().concurrency(super::CONCURRENCY))
        .trigger_backoff(super::watch_backoff::NoPause)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| {
            if let Err(error) = result {
                tracing::debug!(%error, "analysis run reconcile");
            }
            std::future::ready(())
        })
}

fn error_policy(
    run: Arc<AnalysisRun>,
    error: &KubeError,
    ctx: Arc<AnalysisControllerState>,
) -> Action {
    ctx.refusals.retry_after(run.as_ref(), error)
}

async fn reconcile(
    run: Arc<AnalysisRun>,
    ctx: Arc<AnalysisControllerState>,
) -> Result<Action, KubeError> {
    let result = ctx
        .metrics
        .reconcile(NAME, reconcile_inner(&run, &ctx))
        .await;
    ctx.refusals
        .observe(run.as_ref(), &result, &ctx.events)
        .await;
    result
}

fn is_running(status: &AnalysisRunStatus) -> bool {
    status.phase.is_none_or(|phase| !phase.is_final())
}

async fn reconcile_inner(
    run: &AnalysisRun,
    ctx: &AnalysisControllerState,
) -> Result<Action, KubeError> {
    let status = run.status.clone().unwrap_or_default();
    if run.meta().deletion_timestamp.is_some() || !is_running(&status) {
        return Ok(Action::await_change());
    }
    let now = Timestamp::now();
    let fetched = Arc::new(secrets::prefetch(&ctx.client, run, &ctx.home_namespace).await?);
    if run.spec.terminate != Some(true)
        && let Some(missing) = fetched.missing_secret(run, &ctx.home_namespace)
    {
        return wait_for_secret(ctx, run, &status, &missing.to_string(), now).await;
    }
    let template = AnalysisTemplateSpec::of_run(&run.spec);
    let resumed = resolve(&run.spec.args, fetched.as_ref())
        .map_err(|problems| joined(&problems, "; "))
        .and_then(|args| {
            plan_metrics(&run.name_any(), &template, &args)
                .map_err(|problems| joined(&problems, "; "))
        })
        .and_then(|plans| Run::resume(plans, &status, now).map_err(|p| p.to_string()));
    let mut state = match resumed {
        Ok(state) => state,
        Err(problems) => {
            let next = AnalysisRunStatus {
                phase: Some(AnalysisPhase::Error),
                message: Some(problems),
                started_at: status.started_at.clone().or_else(|| Some(now.to_string())),
                ..status.clone()
            };
            finish(ctx, run, &status, &next).await?;
            return Ok(Action::await_change());
        }
    };
    if run.spec.terminate == Some(true) {
        state.terminate();
    } else {
        let jobs = Arc::new(MetricJobs::new(ctx.client.clone(), run));
        let providers =
            Providers::with_clients(ctx.http.clone(), fetched.clone(), fetched).with_jobs(jobs);
        state.measure_due(&providers, now).await;
    }
    let next = state.status();
    finish(ctx, run, &status, &next).await?;
    Ok(match state.next_due() {
        Some(due) => {
            let wait = due.as_millisecond() - Timestamp::now().as_millisecond();
            Action::requeue(Duration::from_millis(wait.max(0).unsigned_abs()))
        }
        None => Action::await_change(),
    })
}

/// A Secret the run needs is not there (yet): the run stays Pending and
/// says so, and looks again after as long as it has waited (5 s, 10 s,
/// ... 5 min, from its creation); the rollout shows the wait and fails it
/// at its progress deadline.
async fn wait_for_secret(
    ctx: &AnalysisControllerState,
    run: &AnalysisRun,
    status: &AnalysisRunStatus,
    message: &str,
    now: Timestamp,
) -> Result<Action, KubeError> {
    let next = AnalysisRunStatus {
        phase: Some(AnalysisPhase::Pending),
        message: Some(message.to_owned()),
        ..status.clone()
    };
    if next != *status {
        writes::apply_analysis_run_status(&ctx.client, run, &next).await?;
        ctx.metrics.wrote(NAME, 1);
        let event = KubeEvent {
            type_: EventType::Normal,
            reason: blocker::WAITING_FOR_REFERENCE.into(),
            note: Some(message.to_owned()),
            action: "Analysis".into(),
            secondary: None,
        };
        if let Err(error) = ctx.events.publish(&event, &run.object_ref(&())).await {
            warn!(%error, "publishing event");
        }
    }
    let created = run.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let waited = created.map_or(0, |t| now.as_millisecond() - t.as_millisecond());
    let wait = blocker::retry_after(waited);
    Ok(Action::requeue(Duration::from_millis(wait.unsigned_abs())))
}

/// Writes the status when it changed, and an Event when the run ends.
async fn finish(
    ctx: &AnalysisControllerState,
    run: &AnalysisRun,
    before: &AnalysisRunStatus,
    after: &AnalysisRunStatus,
) -> Result<(), KubeError> {
    if before == after {
        return Ok(());
    }
    writes::apply_analysis_run_status(&ctx.client, run, after).await?;
    ctx.metrics.wrote(NAME, 1);
    if is_running(before) && !is_running(after) {
        let phase = after.phase.unwrap_or_default();
        let event = KubeEvent {
            type_: if phase == AnalysisPhase::Successful {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: format!("Analysis{phase}"),
            note: after.message.clone(),
            action: "Analysis".into(),
            secondary: None,
        };
        if let Err(error) = ctx.events.publish(&event, &run.object_ref(&())).await {
            warn!(%error, "publishing event");
        }
    }
    Ok(())
}
