//! Decisions per second for a 10-step canary, on one thread.
//! Target: at least 200,000 per second. Run: `cargo bench --bench engine`.

use std::hint::black_box;
use std::time::Instant;

use conductor::crd::rollout::*;
use conductor::engine::{self, AnalysisPhase, AnalysisRunState, Observed, ReplicaSetState};
use k8s_openapi::api::core::v1::PodTemplateSpec;

fn spec() -> RolloutSpec {
    let step = |i: usize| match i % 3 {
        0 => CanaryStep {
            set_weight: Some(10 * (i as i32 + 1)),
            ..Default::default()
        },
        1 => CanaryStep {
            pause: Some(RolloutPause {
                duration: Some(
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("30s".into()),
                ),
            }),
            ..Default::default()
        },
        _ => CanaryStep {
            analysis: Some(RolloutAnalysis {
                templates: vec![AnalysisTemplateRef {
                    template_name: "error-rate".into(),
                    cluster_scope: None,
                }],
                template_name: None,
                args: vec![],
                ..Default::default()
            }),
            ..Default::default()
        },
    };
    RolloutSpec {
        replicas: Some(10),
        template: Some(PodTemplateSpec::default()),
        strategy: RolloutStrategy {
            canary: Some(CanaryStrategy {
                steps: (0..10).map(step).collect(),
                ..Default::default()
            }),
            blue_green: None,
        },
        ..Default::default()
    }
}

fn main() {
    let spec = spec();
    let now: jiff::Timestamp = "2026-11-24T10:00:00Z"
        .parse()
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let rs = |hash: &str, replicas: i32, revision: u64| ReplicaSetState {
        hash: hash.into(),
        label: hash.into(),
        revision,
        template: None,
        created_at: None,
        replicas,
        ready: replicas,
        available: replicas,
        scale_down_at: None,
    };
    let observed = Observed {
        name: "helpdesk".into(),
        generation: 2,
        template_hash: "v2".into(),
        template_label: "v2".into(),
        replica_sets: vec![rs("v1", 7, 1), rs("v2", 3, 2)],
        analysis_runs: vec![AnalysisRunState {
            name: "helpdesk-v2-step2".into(),
            phase: AnalysisPhase::Running,
            message: None,
        }],
        ..Default::default()
    };
    // Walk the rollout into its steps, then decide there repeatedly: a
    // rollout waiting on a step is what a controller re-decides most.
    let mut status = RolloutStatus {
        stable_rs: Some("v1".into()),
        current_pod_hash: Some("v1".into()),
        ..Default::default()
    };
    for _ in 0..3 {
        status = engine::decide(&spec, &status, &observed, now).status;
    }
    let waiting = status.message.clone().unwrap_or_default();
    let mut decisions = 0u64;
    let start = Instant::now();
    while start.elapsed().as_millis() < 2_000 {
        for _ in 0..1_000 {
            black_box(engine::decide(
                black_box(&spec),
                black_box(&status),
                black_box(&observed),
                now,
            ));
        }
        decisions += 1_000;
    }
    let per_second = decisions as f64 / start.elapsed().as_secs_f64();
    println!(
        "engine: {per_second:.0} decisions/s on one thread for a 10-step canary ({waiting}); target >= 200000"
    );
}
