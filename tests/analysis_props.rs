//! Properties of analysis evaluation: the phase follows from the sequence
//! of measurements alone, failureLimit counts exactly, dry runs never decide.

use conductor::analysis::args::ArgValue;
use conductor::analysis::evaluate::{self, Observation};
use conductor::analysis::plan::{MetricPlan, plan_metrics};
use conductor::analysis::value::MetricValue;
use conductor::crd::analysis::*;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::*;

fn metric(name: &str, failure_limit: i32, count: Option<i32>) -> Metric {
    Metric {
        name: name.into(),
        interval: Some("1s".into()),
        count: count.map(IntOrString::Int),
        failure_limit: Some(IntOrString::Int(failure_limit)),
        inconclusive_limit: Some(IntOrString::Int(2)),
        success_condition: Some("result <= 0.05".into()),
        failure_condition: Some("result > 0.2".into()),
        provider: MetricProvider {
            web: Some(WebMetric {
                url: "http://127.0.0.1:1/x".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn plans(metrics: Vec<Metric>, dry_run: &[&str]) -> Vec<MetricPlan> {
    let spec = AnalysisTemplateSpec {
        metrics,
        dry_run: dry_run
            .iter()
            .map(|m| DryRun {
                metric_name: (*m).into(),
            })
            .collect(),
        ..Default::default()
    };
    plan_metrics("t", &spec, &[] as &[ArgValue]).unwrap()
}

/// What a provider might answer: a value (good, middling, bad), no data, or an error.
fn outcome_strategy() -> impl Strategy<Value = Option<Option<f64>>> {
    prop_oneof![
        Just(Some(Some(0.01))),
        Just(Some(Some(0.1))),
        Just(Some(Some(0.5))),
        Just(Some(Some(f64::NAN))),
        Just(Some(None)),
        Just(None),
    ]
}

fn observe(value: &Option<Option<f64>>) -> Result<Observation, evaluate::MeasureError> {
    match value {
        Some(v) => Ok(Observation {
            detail: None,
            value: v.and_then(MetricValue::scalar),
            traffic: None,
            query: "q".into(),
        }),
        None => Err(evaluate::MeasureError::new("q", "connection refused")),
    }
}

/// Records `sequence` until the metric finishes, with measurements
/// `spacing_ms` apart; returns the phase after each measurement.
fn play(
    plan: &MetricPlan,
    sequence: &[Option<Option<f64>>],
    spacing_ms: i64,
) -> Vec<AnalysisPhase> {
    let start: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
    let mut result = evaluate::new_result(plan);
    let mut phases = Vec::new();
    for (i, value) in sequence.iter().enumerate() {
        if evaluate::next_measurement(plan, &result, start).is_none() {
            break;
        }
        let at = start
            .checked_add(SignedDuration::from_millis(spacing_ms * i as i64))
            .unwrap();
        let m = evaluate::judge(plan, observe(value), at, at);
        evaluate::record(plan, &mut result, m);
        phases.push(result.phase);
    }
    phases
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn phase_is_a_function_of_the_measurements(
        sequence in proptest::collection::vec(outcome_strategy(), 0..25),
        limit in 0..4i32,
        count in proptest::option::of(1..12i32),
        a in 1..5000i64,
        b in 1..5000i64,
    ) {
        let plan = &plans(vec![metric("m", limit, count)], &[])[0];
        prop_assert_eq!(play(plan, &sequence, a), play(plan, &sequence, b));
    }

    #[test]
    fn failure_limit_fails_on_exactly_the_next_failure(
        failures in proptest::collection::vec(any::<bool>(), 1..30),
        limit in 0..5i32,
    ) {
        let plan = &plans(vec![metric("m", limit, None)], &[])[0];
        let sequence: Vec<_> = failures.iter().map(|f| Some(Some(if *f { 0.5 } else { 0.01 }))).collect();
        let phases = play(plan, &sequence, 1000);
        let nth_failure = failures.iter().enumerate().filter(|(_, f)| **f).nth(limit as usize).map(|(i, _)| i);
        let first_failed = phases.iter().position(|p| *p == AnalysisPhase::Failed);
        prop_assert_eq!(first_failed, nth_failure);
    }

    #[test]
    fn dry_run_metrics_never_change_the_phase(
        deciding in proptest::collection::vec(outcome_strategy(), 0..12),
        dry in proptest::collection::vec(outcome_strategy(), 0..12),
    ) {
        let both = plans(vec![metric("decides", 1, Some(6)), metric("watches", 0, Some(6))], &["watches"]);
        let alone = plans(vec![metric("decides", 1, Some(6))], &[]);
        let start: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        let mut results: Vec<_> = both.iter().map(evaluate::new_result).collect();
        let mut alone_results: Vec<_> = alone.iter().map(evaluate::new_result).collect();
        for (i, value) in deciding.iter().enumerate() {
            let at = start.checked_add(SignedDuration::from_secs(i as i64)).unwrap();
            if evaluate::next_measurement(&both[0], &results[0], start).is_some() {
                evaluate::record(&both[0], &mut results[0], evaluate::judge(&both[0], observe(value), at, at));
                evaluate::record(&alone[0], &mut alone_results[0], evaluate::judge(&alone[0], observe(value), at, at));
            }
        }
        for (i, value) in dry.iter().enumerate() {
            let at = start.checked_add(SignedDuration::from_secs(i as i64)).unwrap();
            if evaluate::next_measurement(&both[1], &results[1], start).is_some() {
                evaluate::record(&both[1], &mut results[1], evaluate::judge(&both[1], observe(value), at, at));
            }
        }
        prop_assert_eq!(evaluate::run_phase(&both, &results).0, evaluate::run_phase(&alone, &alone_results).0);
    }
}

#[test]
fn no_data_never_passes_unless_ignored() {
    let mut m = metric("m", 0, Some(3));
    m.inconclusive_limit = Some(IntOrString::Int(5));
    for (policy, expected) in [
        (NoDataPolicy::Inconclusive, AnalysisPhase::Inconclusive),
        (NoDataPolicy::Fail, AnalysisPhase::Failed),
        (NoDataPolicy::Ignore, AnalysisPhase::Successful),
    ] {
        m.no_data_policy = Some(policy);
        let plan = &plans(vec![m.clone()], &[])[0];
        let phases = play(plan, &[Some(Some(f64::NAN)), Some(None), Some(None)], 1000);
        assert_eq!(phases.last().copied(), Some(expected), "{policy:?}");
    }
}

#[test]
fn consecutive_errors_past_the_limit_make_an_error_never_a_success() {
    let plan = &plans(vec![metric("m", 0, None)], &[])[0];
    let phases = play(
        plan,
        &[None, None, None, None, None, Some(Some(0.01))],
        1000,
    );
    assert_eq!(
        phases,
        [
            AnalysisPhase::Running,
            AnalysisPhase::Running,
            AnalysisPhase::Running,
            AnalysisPhase::Running,
            AnalysisPhase::Error
        ]
    );
}

#[test]
fn minimum_traffic_makes_thin_windows_inconclusive() {
    let mut m = metric("m", 0, Some(1));
    m.minimum_traffic = Some(MinimumTraffic {
        query: Some("sum(requests)".into()),
        min: 20.0,
    });
    let plan = &plans(vec![m], &[])[0];
    let at: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
    let thin = Observation {
        detail: None,
        value: MetricValue::scalar(0.0),
        traffic: Some(3.0),
        query: "q".into(),
    };
    let measured = evaluate::judge(plan, Ok(thin), at, at);
    assert_eq!(measured.phase, AnalysisPhase::Inconclusive);
    assert!(measured.message.unwrap().contains("only 3 requests"));
}

#[test]
fn bad_templates_name_template_metric_and_field() {
    let mut bad = metric("error-rate", 0, Some(3));
    bad.success_condition = Some("result <= ".into());
    bad.failure_condition = Some("reslt > 1".into());
    bad.interval = Some("5 minutes".into());
    let spec = AnalysisTemplateSpec {
        metrics: vec![bad],
        ..Default::default()
    };
    let problems = conductor::analysis::plan::check_template("helpdesk-error-rate", &spec);
    let all = conductor::crd::problem::joined(&problems, "\n");
    assert!(all.contains("AnalysisTemplate helpdesk-error-rate: metrics[0] (error-rate): successCondition: line 1, column"), "{all}");
    assert!(
        all.contains("failureCondition: unknown variable `reslt`"),
        "{all}"
    );
    assert!(all.contains("interval: `5 minutes`"), "{all}");
}
