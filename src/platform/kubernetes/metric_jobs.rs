//! The `job` metric provider in a cluster: each measurement creates a Job
//! from the metric's spec, owned by its AnalysisRun, waits for it to
//! complete or fail, and deletes it (with its pods) once its verdict is
//! read. Should the controller stop mid-measurement, the owner reference
//! lets the garbage collector take the Job with its run.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::api::ObjectMeta;
use kube::{Client, Resource, ResourceExt};

use super::writes;
use crate::analysis::providers::{JobEnd, JobRunner};
use crate::crd::analysis::{AnalysisRun, JobMetric};

/// Labels every measurement Job with the run that made it.
pub const ANALYSIS_RUN_LABEL: &str = "conductor.dev/analysisrun";
/// Without `activeDeadlineSeconds`, a Job gets this long to end.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);
const POLL_EVERY: Duration = Duration::from_millis(250);

pub struct MetricJobs {
    client: Client,
    run: AnalysisRun,
}

impl MetricJobs {
    pub fn new(client: Client, run: &AnalysisRun) -> Self {
        Self {
            client,
            run: run.clone(),
        }
    }

    fn job(&self, metric: &str, spec: &JobMetric) -> Result<Job, String> {
        let owner = self
            .run
            .controller_owner_ref(&())
            .ok_or("the analysis run has no uid yet")?;
        let run_name = self.run.name_any();
        let metadata = spec.metadata.clone().unwrap_or_default();
        let mut labels = metadata.labels;
        labels.insert(ANALYSIS_RUN_LABEL.to_owned(), label_value(&run_name));
        let mut job_spec = spec.spec.clone();
        // A measurement is one attempt at an answer, as in Argo Rollouts.
        job_spec.backoff_limit.get_or_insert(0);
        Ok(Job {
            metadata: ObjectMeta {
                generate_name: Some(generate_name(&run_name, metric)),
                namespace: self.run.namespace(),
                labels: Some(labels),
                annotations: (!metadata.annotations.is_empty()).then_some(metadata.annotations),
                owner_references: Some(vec![owner]),
                ..ObjectMeta::default()
            },
            spec: Some(job_spec),
            status: None,
        })
    }

    async fn run_to_end(&self, metric: &str, spec: &JobMetric) -> Result<JobEnd, String> {
        let namespace = self.run.namespace().unwrap_or_default();
        let job = self.job(metric, spec)?;
        let created = writes::create_metric_job(&self.client, &namespace, &job)
            .await
            .map_err(|e| format!("creating the Job: {e}"))?;
        let name = created.name_any();
        let deadline = spec
            .spec
            .active_deadline_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(DEFAULT_DEADLINE, |s| Duration::from_secs(s + 30));
        let end = tokio::time::timeout(deadline, self.wait(&namespace, &name)).await;
        // Read or not, its verdict is taken: the Job and its pods go.
        if let Err(error) = writes::delete_metric_job(&self.client, &namespace, &name).await {
            tracing::warn!(%error, job = %name, "deleting a measurement Job");
        }
        match end {
            Ok(end) => end,
            Err(_) => Err(format!(
                "job {name} did not end within {}s",
                deadline.as_secs()
            )),
        }
    }

    async fn wait(&self, namespace: &str, name: &str) -> Result<JobEnd, String> {
        let api: kube::Api<Job> = kube::Api::namespaced(self.client.clone(), namespace);
        loop {
            let job = api
                .get_opt(name)
                .await
                .map_err(|e| format!("reading job {name}: {e}"))?
                .ok_or_else(|| format!("job {name} was deleted before it ended"))?;
            if let Some(end) = ended(name, &job) {
                return Ok(end);
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

/// The Job's end, from the conditions its controller writes.
fn ended(name: &str, job: &Job) -> Option<JobEnd> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    let holds = |kind: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == kind && c.status == "True")
    };
    if holds("Complete").is_some() {
        return Some(JobEnd::Completed {
            job: name.to_owned(),
        });
    }
    let failed = holds("Failed")?;
    let reason = [failed.reason.as_deref(), failed.message.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    Some(JobEnd::Failed {
        job: name.to_owned(),
        reason: if reason.is_empty() {
            "failed".to_owned()
        } else {
            reason
        },
    })
}

/// `<run>-<metric>-`, cut so the server's random suffix still fits a name.
fn generate_name(run: &str, metric: &str) -> String {
    let mut prefix = format!("{run}-{metric}");
    prefix.truncate(57);
    format!("{}-", prefix.trim_end_matches('-'))
}

/// A label value holds at most 63 characters.
fn label_value(name: &str) -> String {
    name.chars().take(63).collect()
}

impl JobRunner for MetricJobs {
    fn run<'a>(
        &'a self,
        metric: &'a str,
        job: &'a JobMetric,
    ) -> Pin<Box<dyn Future<Output = Result<JobEnd, String>> + Send + 'a>> {
        Box::pin(self.run_to_end(metric, job))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_leave_room_for_the_suffix() {
        let name = generate_name(&"r".repeat(50), "error-rate");
        assert!(name.len() <= 58 && name.ends_with('-'), "{name}");
        assert_eq!(generate_name("web", "smoke"), "web-smoke-");
    }
}
