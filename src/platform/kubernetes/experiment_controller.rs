//! The Experiment controller: one reconcile is read (the experiment's
//! ReplicaSets and analysis runs) → decide (`crate::experiment`) → apply
//! → status, and Events for what was decided.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use kube::api::{ListParams, ObjectMeta};
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType as KubeEventType};
use kube::runtime::watcher::{self, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::warn;

use super::analysis_runs::Templates;
use super::events::Events;
use super::metrics::Metrics;
use super::refusals::Refusals;
use super::watch_backoff::backed_off;
use super::writes::{self, ReplicaSetScale};
use super::{EXPERIMENT_LABEL, HASH_LABEL, KubeError};
use crate::crd::analysis::{AnalysisArg, AnalysisPhase, AnalysisRun};
use crate::crd::experiment::{Experiment, ExperimentAnalysis, ExperimentTemplate};
use crate::engine::EventType;
use crate::experiment::{
    self, ExperimentDecision, ExperimentObserved, RunState, TemplateState, replica_set_name,
    run_name, substitute_hashes,
};

const NAME: &str = "experiment";

pub struct ExperimentControllerState {
    pub client: Client,
    pub templates: Templates,
    pub events: Events,
    pub metrics: Arc<Metrics>,
    pub refusals: Refusals,
}

pub fn controller(
    experiments: Api<Experiment>,
    replica_sets: Api<ReplicaSet>,
    runs: Api<AnalysisRun>,
    ctx: Arc<ExperimentControllerState>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> impl std::future::Future<Output = ()> {
    let (store, experiments) = super::cache::reflect(experiments);
    Controller::for_stream(experiments, store)
        .with_config(kube::runtime::controller::Config::default().concurrency(super::CONCURRENCY))
        .trigger_backoff(super::watch_backoff::NoPause)
        .owns_stream(owned(replica_sets))
        .owns_stream(owned(runs))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| {
            if let Err(error) = result {
                tracing::debug!(%error, "experiment reconcile");
            }
            std::future::ready(())
        })
}

/// The objects an experiment owns, as triggers. Its own backoff: the
/// controller does not pause on its errors (see `watch_backoff`).
fn owned<K: super::cache::Cacheable>(
    api: Api<K>,
) -> impl futures_util::Stream<Item = Result<K, watcher::Error>> + Send + 'static {
    backed_off(watcher(
        api,
        watcher::Config::default().labels(EXPERIMENT_LABEL),
    ))
    .touched_objects()
}

fn error_policy(
    experiment: Arc<Experiment>,
    error: &KubeError,
    ctx: Arc<ExperimentControllerState>,
) -> Action {
    ctx.refusals.retry_after(experiment.as_ref(), error)
}

async fn reconcile(
    experiment: Arc<Experiment>,
    ctx: Arc<ExperimentControllerState>,
) -> Result<Action, KubeError> {
    let result = ctx
        .metrics
        .reconcile(NAME, reconcile_inner(&experiment, &ctx))
        .await;
    ctx.refusals
        .observe(experiment.as_ref(), &result, &ctx.events)
        .await;
    result
}

async fn reconcile_inner(
    experiment: &Experiment,
    ctx: &ExperimentControllerState,
) -> Result<Action, KubeError> {
    if experiment.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    if !ctx.templates.listed() {
        return Err(KubeError::NotSynced("AnalysisTemplate"));
    }
    let name = experiment.name_any();
    let namespace = experiment.namespace().unwrap_or_default();
    let status = experiment.status.clone().unwrap_or_default();
    let mine = ListParams::default().labels(&format!("{EXPERIMENT_LABEL}={name}"));
    let replica_sets = Api::<ReplicaSet>::namespaced(ctx.client.clone(), &namespace)
        .list(&mine)
        .await?
        .items;
    let runs = Api::<AnalysisRun>::namespaced(ctx.client.clone(), &namespace)
        .list(&mine)
        .await?
        .items;
    let observed = ExperimentObserved {
        name: name.clone(),
        created_at: experiment.meta().creation_timestamp.as_ref().map(|t| t.0),
        templates: experiment
            .spec
            .templates
            .iter()
            .filter_map(|t| template_state(&name, t, &replica_sets))
            .collect(),
        runs: runs
            .iter()
            .filter_map(|run| {
                let analysis = run.name_any().strip_prefix(&format!("{name}-"))?.to_owned();
                let status = run.status.as_ref();
                Some(RunState {
                    analysis,
                    phase: status.and_then(|s| s.phase).unwrap_or_default(),
                    message: status.and_then(|s| s.message.clone()),
                })
            })
            .collect(),
        missing_template: ctx
            .templates
            .first_missing(&namespace, &experiment.spec.analyses),
    };
    let mut decision = experiment::decide(&experiment.spec, &status, &observed, Timestamp::now());
    let mut writes = apply_replica_sets(ctx, experiment, &decision, &replica_sets).await?;
    writes += start_runs(ctx, experiment, &observed, &mut decision).await?;
    for analysis in &decision.stop_runs {
        let run = run_name(&name, analysis);
        writes += usize::from(writes::terminate_analysis_run(&ctx.client, &namespace, &run).await?);
    }
    if decision.status != status {
        writes::apply_experiment_status(&ctx.client, experiment, &decision.status).await?;
        writes += 1;
    }
    publish_events(ctx, experiment, &decision).await;
    ctx.metrics.wrote(NAME, writes as u64);
    Ok(match decision.requeue_after_ms {
        Some(ms) => Action::requeue(Duration::from_millis(ms.max(1).unsigned_abs())),
        None => Action::await_change(),
    })
}

/// A template's pod template as its ReplicaSet runs it: the experiment's
/// label on its pods, and a hash of its own, so the experiment's pods are
/// told apart from the rollout's running the same template.
fn pod_template(experiment: &str, template: &ExperimentTemplate) -> (String, ExperimentTemplate) {
    let mut template = template.clone();
    let labels = template
        .template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(BTreeMap::new);
    labels.insert(EXPERIMENT_LABEL.to_owned(), experiment.to_owned());
    let hash = crate::platform::template_hash(Some(&template.template));
    if let Some(labels) = template
        .template
        .metadata
        .as_mut()
        .and_then(|m| m.labels.as_mut())
    {
        labels.insert(HASH_LABEL.to_owned(), hash.clone());
    }
    template
        .selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(HASH_LABEL.to_owned(), hash.clone());
    (hash, template)
}

fn template_state(
    experiment: &str,
    template: &ExperimentTemplate,
    replica_sets: &[ReplicaSet],
) -> Option<TemplateState> {
    let rs_name = replica_set_name(experiment, &template.name);
    let rs = replica_sets.iter().find(|rs| rs.name_any() == rs_name)?;
    Some(TemplateState {
        name: template.name.clone(),
        pod_template_hash: rs.labels().get(HASH_LABEL).cloned().unwrap_or_default(),
        replicas: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
        available: rs
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0),
    })
}

async fn apply_replica_sets(
    ctx: &ExperimentControllerState,
    experiment: &Experiment,
    decision: &ExperimentDecision,
    existing: &[ReplicaSet],
) -> Result<usize, KubeError> {
    let name = experiment.name_any();
    let namespace = experiment.namespace().unwrap_or_default();
    let mut writes = 0;
    for (template, (_, replicas)) in experiment.spec.templates.iter().zip(&decision.replicas) {
        let rs_name = replica_set_name(&name, &template.name);
        match existing.iter().find(|rs| rs.name_any() == rs_name) {
            Some(rs) => {
                if rs.spec.as_ref().and_then(|s| s.replicas) == Some(*replicas) {
                    continue;
                }
                let scale = ReplicaSetScale {
                    replicas: *replicas,
                    revision: None,
                    scale_down_at: None,
                };
                writes += usize::from(
                    writes::scale_replica_set(&ctx.client, &namespace, &rs_name, &scale).await?,
                );
            }
            None if *replicas > 0 => {
                let rs = build(experiment, template, *replicas)?;
                writes += usize::from(writes::create_replica_set(&ctx.client, &rs).await?);
            }
            None => {}
        }
    }
    Ok(writes)
}

fn build(
    experiment: &Experiment,
    template: &ExperimentTemplate,
    replicas: i32,
) -> Result<ReplicaSet, KubeError> {
    let name = experiment.name_any();
    let (hash, template_as_run) = pod_template(&name, template);
    let owner = experiment
        .controller_owner_ref(&())
        .ok_or_else(|| KubeError::Invalid("the experiment has no uid yet".into()))?;
    Ok(ReplicaSet {
        metadata: ObjectMeta {
            name: Some(replica_set_name(&name, &template.name)),
            namespace: experiment.namespace(),
            labels: Some(
                [
                    (EXPERIMENT_LABEL.to_owned(), name.clone()),
                    (HASH_LABEL.to_owned(), hash),
                ]
                .into(),
            ),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: template.min_ready_seconds,
            selector: template_as_run.selector,
            template: Some(template_as_run.template),
        }),
        status: None,
    })
}

/// Makes the runs the decision starts; a run that cannot be made (its
/// template unusable, or deleted since the experiment waited for it) ends
/// the experiment as an Error.
async fn start_runs(
    ctx: &ExperimentControllerState,
    experiment: &Experiment,
    observed: &ExperimentObserved,
    decision: &mut ExperimentDecision,
) -> Result<usize, KubeError> {
    let name = experiment.name_any();
    let mut writes = 0;
    for analysis in std::mem::take(&mut decision.start_runs) {
        let run = match run(ctx, experiment, observed, &analysis) {
            Ok(run) => run,
            Err(problem) => {
                decision.status.phase = Some(AnalysisPhase::Error);
                decision.status.message = Some(problem.to_string());
                decision.requeue_after_ms = None;
                decision.events.push(crate::engine::Event {
                    type_: EventType::Warning,
                    reason: "ExperimentError",
                    message: format!("experiment {name}: {problem}"),
                });
                return Ok(writes);
            }
        };
        writes += usize::from(writes::create_analysis_run(&ctx.client, &run).await?);
    }
    Ok(writes)
}

fn run(
    ctx: &ExperimentControllerState,
    experiment: &Experiment,
    observed: &ExperimentObserved,
    analysis: &ExperimentAnalysis,
) -> Result<AnalysisRun, crate::crd::problem::SpecProblem> {
    let name = experiment.name_any();
    let namespace = experiment.namespace().unwrap_or_default();
    let index = experiment
        .spec
        .analyses
        .iter()
        .position(|a| a.name == analysis.name)
        .unwrap_or(0);
    let args: Vec<AnalysisArg> = analysis
        .args
        .iter()
        .map(|arg| AnalysisArg {
            value: arg
                .value
                .as_deref()
                .map(|v| substitute_hashes(v, &observed.templates)),
            ..arg.clone()
        })
        .collect();
    let spec = ctx.templates.run_spec(
        &namespace,
        &[analysis.template()],
        &[format!("spec.analyses[{index}].templateName")],
        &args,
    )?;
    let owner = experiment.controller_owner_ref(&()).ok_or_else(|| {
        crate::crd::problem::SpecProblem::new("metadata.uid", "the experiment has no uid yet")
    })?;
    Ok(AnalysisRun {
        metadata: ObjectMeta {
            name: Some(run_name(&name, &analysis.name)),
            namespace: Some(namespace),
            labels: Some([(EXPERIMENT_LABEL.to_owned(), name)].into()),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec,
        status: None,
    })
}

async fn publish_events(
    ctx: &ExperimentControllerState,
    experiment: &Experiment,
    decision: &ExperimentDecision,
) {
    let reference = experiment.object_ref(&());
    for event in &decision.events {
        let kube_event = KubeEvent {
            type_: match event.type_ {
                EventType::Normal => KubeEventType::Normal,
                EventType::Warning => KubeEventType::Warning,
            },
            reason: event.reason.to_owned(),
            note: Some(event.message.clone()),
            action: event.reason.to_owned(),
            secondary: None,
        };
        if let Err(error) = ctx.events.publish(&kube_event, &reference).await {
            warn!(%error, "publishing event");
        }
    }
}
