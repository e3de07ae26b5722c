//! Pure measurement scheduling and judgement: when each metric measures
//! next, what one measurement means, and what the run's phase is. The
//! phase depends only on the sequence of measurements, never on timing.

use jiff::{SignedDuration, Timestamp};

use super::plan::MetricPlan;
use super::value::MetricValue;
use crate::crd::analysis::{AnalysisPhase, Measurement, MetricResult, NoDataPolicy, RunSummary};

/// What a provider returned for one measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// `None`: no data (empty result, NaN).
    pub value: Option<MetricValue>,
    /// Requests in the window, for the minimum-traffic guard.
    pub traffic: Option<f64>,
    /// The query as sent, secrets masked.
    pub query: String,
    /// What the provider saw besides the value (a Job's name and why it
    /// failed), kept in the measurement's message.
    pub detail: Option<String>,
}

/// A measurement that could not be taken: the query as shown and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct MeasureError {
    pub query: String,
    pub reason: String,
}

impl MeasureError {
    pub fn new(query: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            reason: reason.into(),
        }
    }
}

/// A metric's result before its first measurement.
pub fn new_result(plan: &MetricPlan) -> MetricResult {
    MetricResult {
        name: plan.name.clone(),
        phase: AnalysisPhase::Pending,
        dry_run: plan.dry_run.then_some(true),
        ..Default::default()
    }
}

/// Judges one measurement.
pub fn judge(
    plan: &MetricPlan,
    outcome: Result<Observation, MeasureError>,
    started: Timestamp,
    finished: Timestamp,
) -> Measurement {
    let condition = match (&plan.success, &plan.failure) {
        (Some(s), Some(f)) => Some(format!("success: {}; failure: {}", s.source(), f.source())),
        (Some(s), None) => Some(s.source().to_owned()),
        (None, Some(f)) => Some(format!("failure: {}", f.source())),
        (None, None) => None,
    };
    let mut measurement = Measurement {
        phase: AnalysisPhase::Error,
        condition,
        started_at: Some(started.to_string()),
        finished_at: Some(finished.to_string()),
        ..Default::default()
    };
    let observation = match outcome {
        Ok(o) => o,
        Err(MeasureError { query, reason }) => {
            measurement.query = Some(query);
            measurement.message = Some(reason);
            return measurement;
        }
    };
    measurement.query = Some(observation.query.clone());
    let (phase, message) = match (
        &observation.value,
        &plan.minimum_traffic,
        observation.traffic,
    ) {
        (_, Some(guard), Some(traffic)) if traffic < guard.min => (
            AnalysisPhase::Inconclusive,
            Some(format!(
                "only {traffic} requests in the window, under minimumTraffic {}: too little traffic to judge",
                guard.min
            )),
        ),
        (_, Some(guard), None) => (
            AnalysisPhase::Inconclusive,
            Some(format!(
                "no request count for the minimumTraffic guard ({})",
                guard.min
            )),
        ),
        (None, _, _) => match plan.no_data {
            NoDataPolicy::Fail => (
                AnalysisPhase::Failed,
                Some("no data: noDataPolicy is fail".to_owned()),
            ),
            NoDataPolicy::Inconclusive => (
                AnalysisPhase::Inconclusive,
                Some("no data (empty or NaN result): noDataPolicy is inconclusive".to_owned()),
            ),
            NoDataPolicy::Ignore => (
                AnalysisPhase::Successful,
                Some("no data: ignored as noDataPolicy says".to_owned()),
            ),
        },
        (Some(value), _, _) => conditions(plan, value),
    };
    measurement.value = observation.value.as_ref().map(ToString::to_string);
    measurement.phase = phase;
    measurement.message = match (observation.detail, message) {
        (Some(detail), Some(message)) => Some(format!("{detail}: {message}")),
        (detail, message) => detail.or(message),
    };
    measurement
}

fn conditions(plan: &MetricPlan, value: &MetricValue) -> (AnalysisPhase, Option<String>) {
    let eval = |c: &super::condition::Condition| c.evaluate(value);
    if let Some(failure) = &plan.failure {
        match eval(failure) {
            Ok(true) => {
                return (
                    AnalysisPhase::Failed,
                    Some(format!(
                        "{value}: failureCondition `{}` holds",
                        failure.source()
                    )),
                );
            }
            Ok(false) => {}
            Err(e) => return (AnalysisPhase::Error, Some(format!("failureCondition: {e}"))),
        }
    }
    match &plan.success {
        Some(success) => match eval(success) {
            Ok(true) => (AnalysisPhase::Successful, None),
            Ok(false) if plan.failure.is_some() => (
                AnalysisPhase::Inconclusive,
                Some(format!(
                    "{value}: neither successCondition nor failureCondition holds"
                )),
            ),
            Ok(false) => (
                AnalysisPhase::Failed,
                Some(format!(
                    "{value}: successCondition `{}` does not hold",
                    success.source()
                )),
            ),
            Err(e) => (AnalysisPhase::Error, Some(format!("successCondition: {e}"))),
        },
        None => (AnalysisPhase::Successful, None),
    }
}

/// Records a measurement and updates the metric's counters and phase.
pub fn record(plan: &MetricPlan, result: &mut MetricResult, measurement: Measurement) {
    result.count += 1;
    match measurement.phase {
        AnalysisPhase::Successful => {
            result.successful += 1;
            result.consecutive_success += 1;
            result.consecutive_error = 0;
        }
        AnalysisPhase::Failed => {
            result.failed += 1;
            result.consecutive_success = 0;
            result.consecutive_error = 0;
        }
        AnalysisPhase::Inconclusive => {
            result.inconclusive += 1;
            result.consecutive_success = 0;
            result.consecutive_error = 0;
        }
        _ => {
            result.error += 1;
            result.consecutive_error += 1;
            result.consecutive_success = 0;
        }
    }
    result.measurements.push(measurement);
    let excess = result.measurements.len().saturating_sub(plan.retention);
    result.measurements.drain(..excess);
    let (phase, message) = metric_phase(plan, result, false);
    result.phase = phase;
    result.message = message;
}

/// A metric's phase from its counters; `terminated` ends a metric that
/// would otherwise keep measuring.
pub fn metric_phase(
    plan: &MetricPlan,
    r: &MetricResult,
    terminated: bool,
) -> (AnalysisPhase, Option<String>) {
    if r.consecutive_error > plan.consecutive_error_limit {
        return (
            AnalysisPhase::Error,
            Some(format!(
                "{} consecutive errors, over consecutiveErrorLimit {}{}",
                r.consecutive_error,
                plan.consecutive_error_limit,
                last_message(r)
            )),
        );
    }
    if r.failed > plan.failure_limit {
        return (
            AnalysisPhase::Failed,
            Some(format!(
                "{} of {} measurements failed, over failureLimit {}{}",
                r.failed,
                r.count,
                plan.failure_limit,
                last_message(r)
            )),
        );
    }
    if r.inconclusive > plan.inconclusive_limit {
        return (
            AnalysisPhase::Inconclusive,
            Some(format!(
                "{} inconclusive measurements, over inconclusiveLimit {}{}",
                r.inconclusive,
                plan.inconclusive_limit,
                last_message(r)
            )),
        );
    }
    let early = plan
        .consecutive_success_limit
        .is_some_and(|n| n > 0 && r.consecutive_success >= n);
    let done = early || terminated || plan.count.is_some_and(|c| r.count >= c);
    if !done {
        return (
            if r.count == 0 {
                AnalysisPhase::Pending
            } else {
                AnalysisPhase::Running
            },
            None,
        );
    }
    if r.successful == 0 {
        // Never pass on nothing: a run with no successful measurement
        // (no data counts only when noDataPolicy says ignore) is not a pass.
        return (
            AnalysisPhase::Inconclusive,
            Some(format!("no successful measurement in {}", r.count)),
        );
    }
    (AnalysisPhase::Successful, None)
}

fn last_message(r: &MetricResult) -> String {
    r.measurements
        .last()
        .and_then(|m| m.message.as_deref())
        .map(|m| format!("; last: {m}"))
        .unwrap_or_default()
}

/// When the metric measures next, or `None` when it is finished.
pub fn next_measurement(
    plan: &MetricPlan,
    result: &MetricResult,
    run_started: Timestamp,
) -> Option<Timestamp> {
    if !matches!(
        result.phase,
        AnalysisPhase::Pending | AnalysisPhase::Running
    ) {
        return None;
    }
    let last = result
        .measurements
        .last()
        .and_then(|m| m.finished_at.as_deref())
        // Written by `judge`, or checked by `Run::resume` when read back.
        .and_then(|t| t.parse::<Timestamp>().ok());
    let (from, wait) = match last {
        Some(at) if result.count > 0 => (at, plan.interval_ms.unwrap_or(0)),
        _ => (run_started, plan.initial_delay_ms),
    };
    from.checked_add(SignedDuration::from_millis(wait)).ok()
}

/// The run's phase and message from its metrics; dry-run metrics never
/// decide. Precedence: Failed, Error, Inconclusive, still running, Successful.
pub fn run_phase(plans: &[MetricPlan], results: &[MetricResult]) -> (AnalysisPhase, String) {
    let deciding: Vec<(&MetricPlan, &MetricResult)> = plans
        .iter()
        .zip(results)
        .filter(|(p, _)| !p.dry_run)
        .collect();
    for phase in [
        AnalysisPhase::Failed,
        AnalysisPhase::Error,
        AnalysisPhase::Inconclusive,
    ] {
        if let Some((plan, result)) = deciding.iter().find(|(_, r)| r.phase == phase) {
            let why = result.message.clone().unwrap_or_default();
            return (
                phase,
                format!(
                    "metric {} {}: {why}",
                    plan.name,
                    phase.as_str().to_lowercase()
                ),
            );
        }
    }
    let waiting: Vec<&str> = deciding
        .iter()
        .filter(|(_, r)| r.phase != AnalysisPhase::Successful)
        .map(|(p, _)| p.name.as_str())
        .collect();
    if !waiting.is_empty() {
        let any_measured = deciding.iter().any(|(_, r)| r.count > 0);
        let phase = if any_measured {
            AnalysisPhase::Running
        } else {
            AnalysisPhase::Pending
        };
        return (phase, format!("measuring {}", waiting.join(", ")));
    }
    let dry_waiting = plans.iter().zip(results).any(|(p, r)| {
        p.dry_run && matches!(r.phase, AnalysisPhase::Pending | AnalysisPhase::Running)
    });
    if deciding.is_empty() && dry_waiting {
        return (AnalysisPhase::Running, "measuring dry-run metrics".into());
    }
    (
        AnalysisPhase::Successful,
        format!("{} metric(s) passed", deciding.len()),
    )
}

/// Totals over every metric.
pub fn summary(results: &[MetricResult]) -> RunSummary {
    results.iter().fold(RunSummary::default(), |mut s, r| {
        s.count += r.count;
        s.successful += r.successful;
        s.failed += r.failed;
        s.inconclusive += r.inconclusive;
        s.error += r.error;
        s
    })
}

/// Ends every metric still measuring, for a run the rollout no longer needs.
pub fn terminate(plans: &[MetricPlan], results: &mut [MetricResult]) {
    for (plan, result) in plans.iter().zip(results.iter_mut()) {
        if matches!(
            result.phase,
            AnalysisPhase::Pending | AnalysisPhase::Running
        ) {
            let (phase, message) = metric_phase(plan, result, true);
            result.phase = phase;
            result.message =
                message.or_else(|| Some("terminated: the rollout no longer needs it".into()));
        }
    }
}
