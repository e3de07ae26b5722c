//! The `job` provider: a measurement runs a Kubernetes Job and its verdict
//! is the Job's: 1 when it completes, 0 when it fails, with the Job's name
//! and reason in the measurement. Running Jobs is the platform's business
//! ([`JobRunner`]); on a platform with none, the measurement says so.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::provider::{Measured, Provider};
use crate::analysis::evaluate::{MeasureError, Observation};
use crate::analysis::plan::{MetricPlan, Query};
use crate::analysis::value::MetricValue;
use crate::crd::analysis::JobMetric;

/// How a measurement's Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    Completed { job: String },
    Failed { job: String, reason: String },
}

/// Runs one measurement's Job to its end and cleans it up.
pub trait JobRunner: Send + Sync {
    fn run<'a>(
        &'a self,
        metric: &'a str,
        job: &'a JobMetric,
    ) -> Pin<Box<dyn Future<Output = Result<JobEnd, String>> + Send + 'a>>;
}

pub struct Jobs {
    runner: Option<Arc<dyn JobRunner>>,
}

impl Jobs {
    pub fn new(runner: Option<Arc<dyn JobRunner>>) -> Self {
        Self { runner }
    }
}

impl Provider for Jobs {
    fn measure<'a>(&'a self, plan: &'a MetricPlan) -> Measured<'a> {
        Box::pin(async move {
            let shown = plan.query.shown();
            let Query::Job(job) = &plan.query else {
                return Err(MeasureError::new(shown, "not a Job metric"));
            };
            let runner = self.runner.as_ref().ok_or_else(|| {
                MeasureError::new(shown.clone(), "the job provider runs only in Kubernetes")
            })?;
            let end = runner
                .run(&plan.name, job)
                .await
                .map_err(|reason| MeasureError::new(shown.clone(), reason))?;
            let (value, detail) = match end {
                JobEnd::Completed { job } => (1.0, format!("job {job} completed")),
                JobEnd::Failed { job, reason } => (0.0, format!("job {job} failed: {reason}")),
            };
            Ok(Observation {
                value: Some(MetricValue::Scalar(value)),
                traffic: None,
                query: shown,
                detail: Some(detail),
            })
        })
    }
}
