//! Driving a run: measuring what is due, recording, and reporting status.

use jiff::Timestamp;

use super::evaluate;
use super::plan::MetricPlan;
use super::providers::Provider;
use crate::crd::analysis::{AnalysisPhase, AnalysisRunStatus, MetricResult};
use crate::crd::time::{self, UnreadableTime};

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
    /// restarted mid-run neither repeats nor skips a measurement. The
    /// times it schedules from must be readable: a guess would do either.
    pub fn resume(
        plans: Vec<MetricPlan>,
        status: &AnalysisRunStatus,
        now: Timestamp,
    ) -> Result<Self, UnreadableTime> {
        check_measurement_times(status)?;
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
        let started = match status.started_at.as_deref() {
            Some(text) => time::parse("status.startedAt", text)?,
            None => now,
        };
        Ok(Self {
            plans,
            results,
            started,
            terminated: false,
        })
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

/// Every measurement time the scheduler reads back must parse.
fn check_measurement_times(status: &AnalysisRunStatus) -> Result<(), UnreadableTime> {
    for (i, result) in status.metric_results.iter().enumerate() {
        for (j, m) in result.measurements.iter().enumerate() {
            let at = |field: &str| format!("status.metricResults[{i}].measurements[{j}].{field}");
            if let Some(text) = &m.started_at {
                time::parse(at("startedAt"), text)?;
            }
            if let Some(text) = &m.finished_at {
                time::parse(at("finishedAt"), text)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::analysis::Measurement;

    #[test]
    fn a_recorded_run_with_an_unreadable_time_is_reported_not_restarted() {
        let now: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        let fresh = AnalysisRunStatus::default();
        assert_eq!(Run::resume(vec![], &fresh, now).unwrap().started, now);
        let bad_start = AnalysisRunStatus {
            started_at: Some("soon".into()),
            ..Default::default()
        };
        assert_eq!(
            Run::resume(vec![], &bad_start, now)
                .unwrap_err()
                .to_string(),
            r#"status.startedAt: "soon" is not an RFC 3339 time"#
        );
        let bad_measurement = AnalysisRunStatus {
            started_at: Some(now.to_string()),
            metric_results: vec![MetricResult {
                name: "error-rate".into(),
                measurements: vec![Measurement {
                    started_at: Some(now.to_string()),
                    finished_at: Some("later".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            Run::resume(vec![], &bad_measurement, now)
                .unwrap_err()
                .to_string(),
            r#"status.metricResults[0].measurements[0].finishedAt: "later" is not an RFC 3339 time"#
        );
    }
}
