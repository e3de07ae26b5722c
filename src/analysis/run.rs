//! Driving a run: measuring what is due, recording, and reporting status.

use jiff::Timestamp;

use super::evaluate;
use super::plan::MetricPlan;
use super::providers::Provider;
use crate::crd::analysis::{AnalysisPhase, AnalysisRunStatus, MetricResult};

#[derive(Debug, Clone)]
pub struct Run {
    pub plans: Vec<MetricPlan>,
    pub results: Vec<MetricResult>,
    pub started: Timestamp,
    terminated: bool,
}

impl Run {
    pub fn new(plans: Vec<MetricPlan>, started: Timestamp) -> Self {
        let results = plans.iter().map(evaluate::new_result).collect();
        Self {
            plans,
            results,
            started,
            terminated: false,
        }
    }

    /// Picks a run up where its recorded status left it: a controller
    /// restarted mid-run neither repeats nor skips a measurement.
    pub fn resume(plans: Vec<MetricPlan>, status: &AnalysisRunStatus, now: Timestamp) -> Self {
        let results = plans
            .iter()
            .map(|plan| {
                status
                    .metric_results
                    .iter()
                    .find(|r| r.name == plan.name)
                    .cloned()
                    .unwrap_or_else(|| evaluate::new_result(plan))
            })
            .collect();
        let started = status
            .started_at
            .as_deref()
            .and_then(|t| t.parse().ok())
            .unwrap_or(now);
        Self {
            plans,
            results,
            started,
            terminated: false,
        }
    }

    pub fn phase(&self) -> (AnalysisPhase, String) {
        evaluate::run_phase(&self.plans, &self.results)
    }

    pub fn is_finished(&self) -> bool {
        self.phase().0.is_final()
    }

    /// When the next measurement is due, or `None` when the run is over.
    pub fn next_due(&self) -> Option<Timestamp> {
        if self.is_finished() {
            return None;
        }
        self.plans
            .iter()
            .zip(&self.results)
            .filter_map(|(p, r)| evaluate::next_measurement(p, r, self.started))
            .min()
    }

    /// Takes every measurement due at `now`, concurrently, and records them.
    pub async fn measure_due(&mut self, provider: &dyn Provider, now: Timestamp) {
        if self.is_finished() {
            return;
        }
        let due: Vec<usize> = (0..self.plans.len())
            .filter(|&i| {
                evaluate::next_measurement(&self.plans[i], &self.results[i], self.started)
                    .is_some_and(|at| at <= now)
            })
            .collect();
        let plans = &self.plans;
        let measurements = futures_util::future::join_all(due.iter().map(|&i| async move {
            let started = Timestamp::now();
            let outcome = provider.measure(&plans[i]).await;
            evaluate::judge(&plans[i], outcome, started, Timestamp::now())
        }))
        .await;
        for (i, measurement) in due.into_iter().zip(measurements) {
            evaluate::record(&self.plans[i], &mut self.results[i], measurement);
        }
    }

    /// Stops measuring: the rollout no longer needs this run.
    pub fn terminate(&mut self) {
        self.terminated = true;
        evaluate::terminate(&self.plans, &mut self.results);
    }

    pub fn status(&self) -> AnalysisRunStatus {
        let (phase, message) = self.phase();
        AnalysisRunStatus {
            phase: Some(phase),
            message: Some(if self.terminated && phase == AnalysisPhase::Successful {
                format!("terminated: {message}")
            } else {
                message
            }),
            started_at: Some(self.started.to_string()),
            metric_results: self.results.clone(),
            run_summary: Some(evaluate::summary(&self.results)),
        }
    }

    /// Runs until finished, sleeping between measurements in real time;
    /// `progress` sees the run after each round.
    pub async fn run_to_end(&mut self, provider: &dyn Provider, mut progress: impl FnMut(&Run)) {
        while let Some(due) = self.next_due() {
            let wait = due.as_millisecond() - Timestamp::now().as_millisecond();
            if wait > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(wait.unsigned_abs())).await;
            }
            self.measure_due(provider, Timestamp::now()).await;
            progress(self);
        }
    }
}
