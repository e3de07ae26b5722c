//! How a release is doing in one cluster: its Rollouts through the
//! engine's own notion of done, its Deployments as `kubectl rollout status`
//! judges them. Everything else is done once applied.

use k8s_openapi::api::apps::v1::Deployment;
use kube::{Api, Resource};

use super::cluster::KubeCluster;
use super::marks::deploy_generation;
use crate::crd::analysis::{AnalysisPhase, AnalysisRun, AnalysisRunStatus};
use crate::crd::rollout::Rollout;
use crate::deploy::target::{FailedMeasurement, Health, Release, TargetError};
use crate::engine::{self, Outcome};

pub async fn health(cluster: &KubeCluster, release: &Release) -> Result<Health, TargetError> {
    let client = cluster.client()?.clone();
    let namespace = &release.cluster.namespace;
    let mut waiting = Vec::new();
    for object in &release.objects {
        let ns = object
            .manifest
            .pointer("/metadata/namespace")
            .and_then(serde_json::Value::as_str)
            .unwrap_or(namespace);
        let name = &object.name;
        let health = match object.kind.as_str() {
            "Rollout" if object.api_version.starts_with("conductor.dev/") => {
                let api: Api<Rollout> = Api::namespaced(client.clone(), ns);
                let rollout = api
                    .get_opt(name)
                    .await
                    .map_err(|e| cluster.error(format!("reading Rollout {ns}/{name}: {e}")))?;
                match rollout {
                    Some(rollout) => rollout_health(&client, release, &rollout).await,
                    None => Health::Progressing {
                        detail: format!("Rollout {name} not found yet"),
                    },
                }
            }
            "Deployment" if object.api_version == "apps/v1" => {
                let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
                let deployment = api
                    .get_opt(name)
                    .await
                    .map_err(|e| cluster.error(format!("reading Deployment {ns}/{name}: {e}")))?;
                match deployment {
                    Some(d) => deployment_health(release, &d),
                    None => Health::Progressing {
                        detail: format!("Deployment {name} not found yet"),
                    },
                }
            }
            _ => Health::Healthy,
        };
        match health {
            Health::Healthy => {}
            Health::Progressing { detail } => waiting.push(detail),
            final_answer => return Ok(final_answer),
        }
    }
    if waiting.is_empty() {
        Ok(Health::Healthy)
    } else {
        Ok(Health::Progressing {
            detail: waiting.join("; "),
        })
    }
}

/// Superseded, or still carrying an older deploy's spec, before anything
/// the status says counts.
fn fence<K: Resource>(release: &Release, object: &K, what: &str) -> Option<Health> {
    match deploy_generation(object) {
        Some(g) if g > release.generation => Some(Health::Superseded { generation: g }),
        Some(g) if g == release.generation => None,
        Some(g) => Some(Health::Overwritten { generation: g }),
        None => Some(Health::Progressing {
            detail: format!("{what} does not carry this deploy's spec yet"),
        }),
    }
}

async fn rollout_health(client: &kube::Client, release: &Release, rollout: &Rollout) -> Health {
    let name = rollout.metadata.name.clone().unwrap_or_default();
    if let Some(answer) = fence(release, rollout, &format!("Rollout {name}")) {
        return answer;
    }
    let outcome = engine::outcome(
        rollout.metadata.generation,
        &rollout.spec,
        rollout.status.as_ref(),
    );
    // Read only what the answer shows: values while it runs, the failed
    // measurement once it has failed.
    let analysis = match outcome {
        Outcome::Progressing { .. } => analysis_values(client, rollout).await,
        _ => None,
    };
    let measurement = match outcome {
        Outcome::Degraded { .. } => failed_run(client, rollout).await,
        _ => None,
    };
    Health::of_rollout(&name, &outcome, &release.label, analysis, measurement)
}

/// The latest measurement of each metric of the rollout's running
/// analysis, e.g. `error-rate=0.012`.
async fn analysis_values(client: &kube::Client, rollout: &Rollout) -> Option<String> {
    let status = rollout.status.as_ref()?;
    let canary = status.canary.as_ref()?;
    let run_name = canary
        .current_step_analysis_run
        .as_ref()
        .or(canary.current_background_analysis_run.as_ref())?;
    let namespace = rollout.metadata.namespace.clone()?;
    let runs: Api<AnalysisRun> = Api::namespaced(client.clone(), &namespace);
    let run = runs.get_opt(run_name).await.ok()??;
    let values: Vec<String> = run
        .status?
        .metric_results
        .iter()
        .filter_map(|m| {
            let value = m.measurements.last()?.value.clone()?;
            Some(format!("{}={value}", m.name))
        })
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The measurement that failed the rollout's analysis, read from the
/// AnalysisRun the status names (the controller terminates runs, never
/// deletes them, so a failed one stays readable).
async fn failed_run(client: &kube::Client, rollout: &Rollout) -> Option<FailedMeasurement> {
    let status = rollout.status.as_ref()?;
    let namespace = rollout.metadata.namespace.clone()?;
    let canary = status.canary.as_ref();
    let blue_green = status.blue_green.as_ref();
    let names = [
        canary.and_then(|c| c.current_step_analysis_run.as_ref()),
        canary.and_then(|c| c.current_background_analysis_run.as_ref()),
        blue_green.and_then(|b| b.pre_promotion_analysis_run.as_ref()),
        blue_green.and_then(|b| b.post_promotion_analysis_run.as_ref()),
    ];
    let runs: Api<AnalysisRun> = Api::namespaced(client.clone(), &namespace);
    for name in names.into_iter().flatten() {
        let Ok(Some(run)) = runs.get_opt(name).await else {
            continue;
        };
        if let Some(found) = run
            .status
            .as_ref()
            .and_then(|status| failed_measurement(name, status))
        {
            return Some(found);
        }
    }
    None
}

/// The measurement that decided a failed run: the last Failed (else
/// Error) measurement of the first metric that failed, dry-run metrics
/// aside (they never fail a run).
pub(crate) fn failed_measurement(
    run: &str,
    status: &AnalysisRunStatus,
) -> Option<FailedMeasurement> {
    let failed =
        |phase: AnalysisPhase| matches!(phase, AnalysisPhase::Failed | AnalysisPhase::Error);
    if !status.phase.is_some_and(failed) {
        return None;
    }
    let metric = status
        .metric_results
        .iter()
        .filter(|m| m.dry_run != Some(true))
        .find(|m| failed(m.phase))?;
    let measurement = metric
        .measurements
        .iter()
        .rev()
        .find(|m| m.phase == AnalysisPhase::Failed)
        .or_else(|| metric.measurements.iter().rev().find(|m| failed(m.phase)));
    Some(FailedMeasurement {
        analysis_run: run.to_owned(),
        metric: metric.name.clone(),
        value: measurement.and_then(|m| m.value.clone()),
        condition: measurement.and_then(|m| m.condition.clone()),
        message: measurement
            .and_then(|m| m.message.clone())
            .or_else(|| metric.message.clone()),
    })
}

fn deployment_health(release: &Release, deployment: &Deployment) -> Health {
    let name = deployment.metadata.name.clone().unwrap_or_default();
    if let Some(answer) = fence(release, deployment, &format!("Deployment {name}")) {
        return answer;
    }
    let spec_replicas = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let status = deployment.status.clone().unwrap_or_default();
    let stalled = status.conditions.iter().flatten().any(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if stalled {
        return Health::Degraded {
            reason: format!("Deployment {name} exceeded its progress deadline"),
            measurement: None,
        };
    }
    let observed =
        status.observed_generation.unwrap_or(0) >= deployment.metadata.generation.unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    if observed && updated >= spec_replicas && total <= updated && available >= updated {
        Health::Healthy
    } else {
        Health::Progressing {
            detail: format!(
                "Deployment {name}: {updated}/{spec_replicas} updated, {available} available"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::analysis::{Measurement, MetricResult};

    fn measurement(phase: AnalysisPhase, value: &str) -> Measurement {
        Measurement {
            phase,
            value: Some(value.into()),
            condition: Some("success: result <= 0.05; failure: result > 0.05".into()),
            message: Some(format!("{value}: failureCondition `result > 0.05` holds")),
            ..Default::default()
        }
    }

    fn run(phase: AnalysisPhase, metrics: Vec<MetricResult>) -> AnalysisRunStatus {
        AnalysisRunStatus {
            phase: Some(phase),
            metric_results: metrics,
            ..Default::default()
        }
    }

    #[test]
    fn the_failed_metrics_last_failed_measurement_decides() {
        let status = run(
            AnalysisPhase::Failed,
            vec![
                MetricResult {
                    name: "latency".into(),
                    phase: AnalysisPhase::Successful,
                    measurements: vec![measurement(AnalysisPhase::Successful, "0.1")],
                    ..Default::default()
                },
                MetricResult {
                    name: "errors-dry".into(),
                    phase: AnalysisPhase::Failed,
                    dry_run: Some(true),
                    ..Default::default()
                },
                MetricResult {
                    name: "error-rate".into(),
                    phase: AnalysisPhase::Failed,
                    measurements: vec![
                        measurement(AnalysisPhase::Failed, "0.3"),
                        measurement(AnalysisPhase::Failed, "0.5"),
                        measurement(AnalysisPhase::Error, "none"),
                    ],
                    ..Default::default()
                },
            ],
        );
        let found = failed_measurement("shop-abc-1", &status).unwrap();
        assert_eq!(found.analysis_run, "shop-abc-1");
        assert_eq!(found.metric, "error-rate");
        assert_eq!(found.value.as_deref(), Some("0.5"));
        assert_eq!(
            found.to_string(),
            "error-rate = 0.5 (success: result <= 0.05; failure: result > 0.05)"
        );
    }

    #[test]
    fn a_run_that_did_not_fail_decides_nothing() {
        let status = run(AnalysisPhase::Running, vec![]);
        assert_eq!(failed_measurement("r", &status), None);
        let errored = run(
            AnalysisPhase::Error,
            vec![MetricResult {
                name: "error-rate".into(),
                phase: AnalysisPhase::Error,
                message: Some("cannot connect".into()),
                ..Default::default()
            }],
        );
        let found = failed_measurement("r", &errored).unwrap();
        assert_eq!(
            (found.value, found.message.as_deref()),
            (None, Some("cannot connect"))
        );
    }
}
