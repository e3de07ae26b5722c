//! Scenarios named after Argo Rollouts' end-to-end cases, played through
//! the pure engine on a simulated platform.

#[path = "support/world.rs"]
mod world;

use conductor::crd::rollout::*;
use conductor::engine::{
    AnalysisPhase, Blocker, EventType, Refusal, RefusalReason, Request, RunKind, decide,
};
use world::*;

fn weights(world: &World) -> i32 {
    world
        .status
        .canary
        .as_ref()
        .and_then(|c| c.weights.as_ref())
        .map_or(0, |w| w.canary)
}

#[test]
fn first_deploy_becomes_healthy_without_steps() {
    let mut world = World::new(canary_spec(4, vec![set_weight(20), pause(None)]));
    world.settle();
    assert_eq!(world.phase(), "Healthy");
    assert_eq!(world.replicas("v1"), 4);
    assert_eq!(world.status.stable_revision.as_deref(), Some("v1"));
    assert_eq!(world.step_index(), 2);
    assert!(world.has_event("RolloutCreated"));
    assert_eq!(world.condition("Healthy").unwrap().status.as_str(), "True");
    assert_eq!(world.status.selector.as_deref(), Some("app=helpdesk"));
}

#[test]
fn canary_runs_every_step_and_promotes() {
    let steps = vec![
        set_weight(20),
        pause(Some("30s")),
        analysis_step("error-rate"),
        set_weight(60),
        pause(Some("1m")),
    ];
    let mut world = World::healthy(canary_spec(5, steps));
    world.update("v2");
    world.settle();
    // setWeight 20 by replica ratio: 1 canary pod of 5, stable down to 4.
    assert_eq!((world.phase(), world.step_index()), ("Paused", 1));
    assert_eq!(
        (world.replicas("v2"), world.replicas("v1"), world.weight),
        (1, 4, 20)
    );
    world.advance(31);
    world.settle();
    // analysis passed, setWeight 60, paused again
    assert_eq!((world.phase(), world.step_index()), ("Paused", 4));
    assert_eq!((world.replicas("v2"), world.replicas("v1")), (3, 2));
    assert!(world.has_event("AnalysisRunSuccessful"));
    world.advance(61);
    world.settle();
    assert_eq!(world.phase(), "Healthy");
    assert_eq!(world.status.stable_revision.as_deref(), Some("v2"));
    assert_eq!(
        (world.replicas("v2"), world.replicas("v1"), world.weight),
        (5, 0, 0)
    );
    assert!(world.has_event("RolloutCompleted"));
}

#[test]
fn abort_retry_promote() {
    let mut world = World::healthy(canary_spec(4, vec![set_weight(50), pause(None)]));
    world.update("v2");
    world.settle();
    assert_eq!((world.phase(), world.replicas("v2")), ("Paused", 2));
    world.request(Request::Abort);
    let decision = world.step();
    assert_eq!(decision.desired.canary_weight, 0);
    world.settle();
    assert_eq!(world.phase(), "Degraded");
    assert_eq!(world.status.abort, Some(true));
    assert_eq!(
        (world.replicas("v2"), world.replicas("v1"), weights(&world)),
        (0, 4, 0)
    );
    assert_eq!(
        world.condition("Progressing").unwrap().reason.as_deref(),
        Some("RolloutAborted")
    );
    world.request(Request::Retry);
    world.settle();
    assert_eq!(
        (world.phase(), world.step_index(), world.replicas("v2")),
        ("Paused", 1, 2)
    );
    world.request(Request::Promote);
    world.settle();
    assert_eq!(world.phase(), "Healthy");
    assert_eq!(world.status.stable_revision.as_deref(), Some("v2"));
}

/// The hashes the stable and canary Services select, as last decided.
fn selected(world: &World) -> (String, String) {
    let desired = &world.last.as_ref().unwrap().desired;
    (
        desired.stable_hash.clone().unwrap_or_default(),
        desired.canary_hash.clone().unwrap_or_default(),
    )
}

#[test]
fn services_select_pods_that_are_ready_in_every_phase() {
    let pair = |stable: &str, canary: &str| (stable.to_owned(), canary.to_owned());
    let mut world = World::healthy(canary_spec(4, vec![set_weight(50), pause(None)]));
    assert_eq!(selected(&world), pair("h-v1", "h-v1"));
    // The canary's pods are not ready yet: its Service stays on stable's.
    world.unready.insert("h-v2".into(), 2);
    world.update("v2");
    world.settle();
    assert_eq!(world.replicas("v2"), 2);
    assert_eq!(selected(&world), pair("h-v1", "h-v1"));
    world.unready.clear();
    world.settle();
    assert_eq!(
        (world.phase(), selected(&world)),
        ("Paused", pair("h-v1", "h-v2"))
    );
    // Aborted: the canary's pods take no traffic, not even through its Service.
    world.request(Request::Abort);
    world.step();
    assert_eq!(selected(&world), pair("h-v1", "h-v1"));
    world.settle();
    assert_eq!(selected(&world), pair("h-v1", "h-v1"));

    // At 100% by replica ratio the stable side has no pods: the stable
    // Service follows the traffic to the canary's until it completes.
    let mut world = World::healthy(canary_spec(2, vec![set_weight(100), pause(None)]));
    world.update("v2");
    world.settle();
    assert_eq!((world.phase(), world.replicas("v1")), ("Paused", 0));
    assert_eq!(world.status.stable_rs.as_deref(), Some("h-v1"));
    assert_eq!(selected(&world), pair("h-v2", "h-v2"));
    // Aborted there, stable's pods come back before its Service returns.
    world.request(Request::Abort);
    world.step();
    assert_eq!(selected(&world), pair("h-v2", "h-v2"));
    world.settle();
    assert_eq!(
        (world.replicas("v1"), selected(&world)),
        (2, pair("h-v1", "h-v1"))
    );
}

#[test]
fn promote_full_skips_remaining_steps() {
    let steps = vec![
        set_weight(10),
        pause(None),
        set_weight(50),
        pause(None),
        analysis_step("error-rate"),
    ];
    let mut world = World::healthy(canary_spec(10, steps));
    world.update("v2");
    world.settle();
    assert_eq!(world.step_index(), 1);
    world.request(Request::PromoteFull);
    world.settle();
    assert_eq!(world.phase(), "Healthy");
    assert_eq!(world.replicas("v2"), 10);
    assert!(world.run_names(RunKind::Step(4)).is_empty());
    assert!(
        !world
            .events
            .iter()
            .any(|e| e.reason == "AnalysisRunStarted")
    );
}

#[test]
fn progress_deadline_exceeded_without_abort_degrades_and_recovers() {
    let mut spec = canary_spec(2, vec![set_weight(50), pause(Some("10s"))]);
    spec.progress_deadline_seconds = Some(60);
    let mut world = World::healthy(spec);
    world.update("v2");
    world.unready.insert("h-v2".into(), 1);
    world.settle();
    assert_eq!(world.phase(), "Progressing");
    world.advance(61);
    world.settle();
    assert_eq!(world.phase(), "Degraded");
    let progressing = world.condition("Progressing").unwrap();
    assert_eq!(
        (progressing.status.as_str(), progressing.reason.as_deref()),
        ("False", Some("ProgressDeadlineExceeded"))
    );
    assert!(world.has_event("ProgressDeadlineExceeded"));
    assert_ne!(world.status.abort, Some(true));
    // The pods come up: the rollout carries on.
    world.unready.clear();
    world.settle();
    assert_eq!(world.phase(), "Paused");
    world.advance(11);
    world.settle();
    assert_eq!(world.phase(), "Healthy");
}

#[test]
fn progress_deadline_exceeded_with_abort_rolls_back() {
    let mut spec = canary_spec(2, vec![set_weight(50), pause(None)]);
    spec.progress_deadline_seconds = Some(60);
    spec.progress_deadline_abort = Some(true);
    let mut world = World::healthy(spec);
    world.update("v2");
    world.unready.insert("h-v2".into(), 1);
    world.settle();
    world.advance(61);
    let decision = world.step();
    assert_eq!(decision.desired.canary_weight, 0);
    world.settle();
    assert_eq!(world.phase(), "Degraded");
    assert_eq!(world.status.abort, Some(true));
    assert!(
        world
            .status
            .message
            .as_deref()
            .unwrap()
            .contains("progress deadline exceeded")
    );
    assert_eq!(world.replicas("v2"), 0);
}

#[test]
fn scale_down_delay_keeps_old_stable_up_after_promotion() {
    let mut world = World::healthy(routed(canary_spec(3, vec![set_weight(50), pause(None)])));
    world.update("v2");
    world.settle();
    // Behind a router the stable side stays whole; the canary is extra.
    assert_eq!(
        (world.replicas("v1"), world.replicas("v2"), world.weight),
        (3, 2, 50)
    );
    world.request(Request::Promote);
    world.settle();
    assert_eq!(world.phase(), "Healthy");
    assert_eq!(
        (world.replicas("v2"), world.replicas("v1")),
        (3, 3),
        "old stable kept during the delay"
    );
    world.advance(29);
    world.settle();
    assert_eq!(world.replicas("v1"), 3);
    world.advance(2);
    world.settle();
    assert_eq!(world.replicas("v1"), 0);
}

/// `scaleDownDelayRevisionLimit: 1`: of the old ReplicaSets still up
/// when a release is promoted, only the newest waits out the delay.
#[test]
fn scale_down_delay_revision_limit_keeps_only_the_newest_old_revisions_up() {
    let mut spec = routed(canary_spec(2, vec![set_weight(50), pause(None)]));
    spec.strategy
        .canary
        .as_mut()
        .unwrap()
        .scale_down_delay_revision_limit = Some(1);
    let mut world = World::healthy(spec);
    for (release, stable) in [("v2", "v1"), ("v3", "v2")] {
        world.update(release);
        world.settle();
        world.request(Request::Promote);
        world.settle();
        assert_eq!(world.status.stable_revision.as_deref(), Some(release));
        assert_eq!(world.replicas(stable), 2, "{stable} waits out the delay");
    }
    // v1 was still in its delay when v2 was promoted: over the limit, it
    // went at once.
    assert_eq!(world.replicas("v1"), 0);
    world.advance(31);
    world.settle();
    assert_eq!((world.replicas("v3"), world.replicas("v2")), (2, 0));

    // A limit of 0: no old revision waits.
    let mut spec = routed(canary_spec(2, vec![set_weight(50), pause(None)]));
    spec.strategy
        .canary
        .as_mut()
        .unwrap()
        .scale_down_delay_revision_limit = Some(0);
    let mut world = World::healthy(spec);
    world.update("v2");
    world.settle();
    world.request(Request::Promote);
    world.settle();
    assert_eq!((world.replicas("v2"), world.replicas("v1")), (2, 0));
}

/// `minPodsPerReplicaSet: 2` behind a router: 10% of 5 pods would be one
/// canary pod; it gets two. Without a router it is not read, as in Argo.
#[test]
fn min_pods_per_replica_set_floors_the_canary_behind_a_router() {
    let with_min = |spec: RolloutSpec| {
        let mut spec = spec;
        spec.strategy
            .canary
            .as_mut()
            .unwrap()
            .min_pods_per_replica_set = Some(2);
        spec
    };
    let steps = vec![set_weight(10), pause(None), set_weight(60), pause(None)];
    let mut world = World::healthy(with_min(routed(canary_spec(5, steps.clone()))));
    world.update("v2");
    world.settle();
    assert_eq!(
        (world.replicas("v2"), world.replicas("v1"), world.weight),
        (2, 5, 10)
    );
    world.request(Request::Promote);
    world.settle();
    assert_eq!(
        (world.replicas("v2"), world.weight),
        (3, 60),
        "above the floor"
    );

    let mut world = World::healthy(with_min(canary_spec(5, steps)));
    world.update("v2");
    world.settle();
    assert_eq!((world.replicas("v2"), world.replicas("v1")), (1, 4));

    let mut spec = with_min(routed(canary_spec(5, vec![set_weight(10)])));
    spec.strategy
        .canary
        .as_mut()
        .unwrap()
        .min_pods_per_replica_set = Some(-1);
    let problem = conductor::engine::Settings::from_spec(&spec, None).unwrap_err();
    assert_eq!(
        problem.to_string(),
        "spec.strategy.canary.minPodsPerReplicaSet: -1 is negative"
    );
}

#[test]
fn scale_down_on_abort_waits_for_abort_delay() {
    let mut spec = routed(canary_spec(3, vec![set_weight(50), pause(None)]));
    spec.strategy
        .canary
        .as_mut()
        .unwrap()
        .abort_scale_down_delay_seconds = Some(10);
    let mut world = World::healthy(spec);
    world.update("v2");
    world.settle();
    world.request(Request::Abort);
    world.settle();
    assert_eq!(
        (world.weight, world.replicas("v2")),
        (0, 2),
        "pods wait while traffic drains"
    );
    world.advance(11);
    world.settle();
    assert_eq!(world.replicas("v2"), 0);

    // Without a router there is nothing to drain: the canary goes at once.
    let mut world = World::healthy(canary_spec(4, vec![set_weight(50), pause(None)]));
    world.update("v2");
    world.settle();
    world.request(Request::Abort);
    world.settle();
    assert_eq!((world.replicas("v2"), world.replicas("v1")), (0, 4));
}

#[test]
fn set_canary_scale() {
    let steps = vec![
        canary_scale(SetCanaryScale {
            replicas: Some(1),
            ..Default::default()
        }),
        set_weight(50),
        pause(None),
        canary_scale(SetCanaryScale {
            match_traffic_weight: Some(true),
            ..Default::default()
        }),
        set_weight(75),
        pause(None),
        canary_scale(SetCanaryScale {
            weight: Some(10),
            ..Default::default()
        }),
        pause(None),
    ];
    let mut world = World::healthy(routed(canary_spec(8, steps)));
    world.update("v2");
    world.settle();
    assert_eq!(
        (world.step_index(), world.replicas("v2"), world.weight),
        (2, 1, 50)
    );
    world.request(Request::Promote);
    world.settle();
    assert_eq!(
        (world.step_index(), world.replicas("v2"), world.weight),
        (5, 6, 75)
    );
    world.request(Request::Promote);
    world.settle();
    assert_eq!(
        (world.step_index(), world.replicas("v2"), world.weight),
        (7, 1, 75)
    );
    assert_eq!(world.replicas("v1"), 8);
}

#[test]
fn new_revision_supersedes_running_canary() {
    let mut world = World::healthy(canary_spec(
        4,
        vec![set_weight(25), pause(None), set_weight(50), pause(None)],
    ));
    world.update("v2");
    world.settle();
    world.request(Request::Promote);
    world.settle();
    assert_eq!((world.step_index(), world.replicas("v2")), (3, 2));
    world.update("v3");
    world.settle();
    assert!(world.has_event("Superseded"));
    assert_eq!(
        world.status.stable_revision.as_deref(),
        Some("v1"),
        "stable untouched"
    );
    assert_eq!(
        (
            world.step_index(),
            world.replicas("v3"),
            world.replicas("v2")
        ),
        (1, 1, 0)
    );
    assert_eq!(world.replicas("v1"), 3);
}

#[test]
fn rollback_inside_window_skips_steps() {
    let mut spec = canary_spec(2, vec![set_weight(50), pause(None)]);
    spec.rollback_window = Some(RollbackWindow { revisions: 1 });
    let mut world = World::healthy(spec);
    for label in ["v2", "v3"] {
        world.update(label);
        world.settle();
        world.request(Request::Promote);
        world.settle();
        assert_eq!(world.status.stable_revision.as_deref(), Some(label));
    }
    world.update("v2");
    world.settle();
    assert!(world.has_event("RollbackWithinWindow"));
    assert_eq!(
        (world.phase(), world.status.stable_revision.as_deref()),
        ("Healthy", Some("v2"))
    );

    // v1 is two revisions back: outside a window of 1, so the steps run.
    world.update("v1");
    world.settle();
    assert_eq!((world.phase(), world.step_index()), ("Paused", 1));
}

#[test]
fn undo_goes_back_to_the_previous_revision() {
    let mut world = World::healthy(canary_spec(2, vec![set_weight(50), pause(None)]));
    world.update("v2");
    world.settle();
    world.request(Request::Promote);
    world.settle();
    world.request(Request::Undo);
    let decision = world.step();
    assert_eq!(decision.desired.rollback_to.as_deref(), Some("h-v1"));
    assert_eq!(world.template.1, "v1");
}

#[test]
fn failed_step_analysis_aborts_with_weight_zero() {
    let mut world = World::healthy(canary_spec(
        4,
        vec![set_weight(25), analysis_step("error-rate"), set_weight(100)],
    ));
    world.outcomes.insert("step", AnalysisPhase::Failed);
    world.update("v2");
    world.settle();
    assert_eq!(world.phase(), "Degraded");
    assert_eq!(
        (world.weight, world.replicas("v2"), world.replicas("v1")),
        (0, 0, 4)
    );
    let event = world
        .events
        .iter()
        .find(|e| e.reason == "RolloutAborted")
        .unwrap();
    assert!(
        event
            .message
            .contains("analysis run helpdesk-h-v2-1-step1 failed"),
        "{event:?}"
    );
}

#[test]
fn background_analysis_inconclusive_pauses() {
    let mut spec = canary_spec(
        4,
        vec![
            set_weight(25),
            pause(Some("10s")),
            set_weight(50),
            pause(Some("10s")),
        ],
    );
    spec.strategy.canary.as_mut().unwrap().analysis = Some(BackgroundAnalysis {
        templates: analysis("error-rate").templates,
        template_name: None,
        args: vec![],
        starting_step: Some(1),
        ..Default::default()
    });
    let mut world = World::healthy(spec);
    world
        .outcomes
        .insert("background", AnalysisPhase::Inconclusive);
    world.update("v2");
    world.settle();
    world.advance(11);
    world.settle();
    assert_eq!(world.phase(), "Paused");
    assert!(
        world
            .status
            .pause_conditions
            .iter()
            .any(|p| p.reason == PauseReason::InconclusiveAnalysis)
    );
    assert_eq!(world.step_index(), 1, "held while inconclusive");
    assert!(world.has_event("AnalysisRunInconclusive"));
    world.advance(60);
    world.settle();
    assert_eq!(world.step_index(), 1, "time alone does not resume it");
    world.request(Request::Promote);
    world.settle();
    assert!(world.step_index() >= 2, "promote resumes it");
}

#[test]
fn with_spec_pause_nothing_moves_until_unpaused() {
    let mut world = World::healthy(canary_spec(2, vec![set_weight(50), pause(Some("5s"))]));
    world.spec.paused = Some(true);
    world.update("v2");
    world.settle();
    assert_eq!(world.phase(), "Paused");
    assert_eq!((world.replicas("v2"), world.replicas("v1")), (0, 2));
    world.spec.paused = None;
    world.settle();
    assert_eq!(world.replicas("v2"), 1);
}

fn bg_strategy() -> BlueGreenStrategy {
    BlueGreenStrategy {
        active_service: "helpdesk-active".into(),
        preview_service: Some("helpdesk-preview".into()),
        ..Default::default()
    }
}

#[test]
fn blue_green_manual_promotion_switches_at_once() {
    let mut world = World::healthy(blue_green_spec(
        3,
        BlueGreenStrategy {
            auto_promotion_enabled: Some(false),
            preview_replica_count: Some(1),
            ..bg_strategy()
        },
    ));
    world.update("v2");
    world.settle();
    assert_eq!(world.phase(), "Paused");
    let last = world.last.clone().unwrap();
    assert_eq!(
        (
            last.desired.stable_hash.as_deref(),
            last.desired.canary_hash.as_deref()
        ),
        (Some("h-v1"), Some("h-v2"))
    );
    assert_eq!((world.replicas("v1"), world.replicas("v2")), (3, 1));
    world.request(Request::Promote);
    world.settle();
    assert_eq!(world.phase(), "Healthy");
    let last = world.last.clone().unwrap();
    assert_eq!(last.desired.stable_hash.as_deref(), Some("h-v2"));
    assert!(world.has_event("Switched"));
    assert_eq!(
        (world.replicas("v2"), world.replicas("v1")),
        (3, 3),
        "old side kept for the delay"
    );
    world.advance(31);
    world.settle();
    assert_eq!(world.replicas("v1"), 0);
}

#[test]
fn blue_green_pre_promotion_failure_keeps_active() {
    let mut world = World::healthy(blue_green_spec(
        2,
        BlueGreenStrategy {
            pre_promotion_analysis: Some(analysis("error-rate")),
            abort_scale_down_delay_seconds: Some(0),
            ..bg_strategy()
        },
    ));
    world.outcomes.insert("pre", AnalysisPhase::Failed);
    world.update("v2");
    world.settle();
    assert_eq!(world.phase(), "Degraded");
    let last = world.last.clone().unwrap();
    assert_eq!(last.desired.stable_hash.as_deref(), Some("h-v1"));
    assert_eq!((world.replicas("v1"), world.replicas("v2")), (2, 0));
    assert!(!world.has_event("Switched"));
}

#[test]
fn blue_green_post_promotion_failure_switches_back() {
    let mut world = World::healthy(blue_green_spec(
        2,
        BlueGreenStrategy {
            post_promotion_analysis: Some(analysis("error-rate")),
            ..bg_strategy()
        },
    ));
    world.outcomes.insert("post", AnalysisPhase::Failed);
    world.update("v2");
    world.settle();
    assert!(world.has_event("Switched"));
    assert_eq!(world.phase(), "Degraded");
    let last = world.last.clone().unwrap();
    assert_eq!(
        last.desired.stable_hash.as_deref(),
        Some("h-v1"),
        "active back to the old side"
    );
    assert_eq!(world.status.stable_revision.as_deref(), Some("v1"));
    assert_eq!(world.replicas("v1"), 2);
}

#[test]
fn invalid_specs_are_reported_not_panicked_on() {
    let cases: Vec<(RolloutSpec, &str)> = vec![
        (
            canary_spec(2, vec![set_weight(150)]),
            "spec.strategy.canary.steps[0].setWeight: 150 is outside 0..=100",
        ),
        (
            {
                let mut s = canary_spec(2, vec![]);
                s.strategy.blue_green = Some(bg_strategy());
                s
            },
            "set either canary or blueGreen, not both",
        ),
        (
            canary_spec(2, vec![CanaryStep::default()]),
            "steps[0]: a step sets exactly one of",
        ),
        (
            canary_spec(
                2,
                vec![CanaryStep {
                    analysis: Some(RolloutAnalysis::default()),
                    ..Default::default()
                }],
            ),
            "steps[0].analysis.templates: name at least one",
        ),
        (
            canary_spec(2, vec![pause(Some("soon"))]),
            "steps[0].pause.duration",
        ),
        (
            canary_spec(
                2,
                vec![canary_scale(SetCanaryScale {
                    replicas: Some(1),
                    ..Default::default()
                })],
            ),
            "setCanaryScale: needs trafficRouting",
        ),
    ];
    for (spec, expected) in cases {
        let mut world = World::new(spec);
        world.settle();
        assert_eq!(world.phase(), "Degraded");
        let condition = world
            .condition("InvalidSpec")
            .expect("InvalidSpec condition");
        assert!(
            condition.message.as_deref().unwrap().contains(expected),
            "{:?} lacks {expected}",
            condition.message
        );
        assert!(
            world.replica_sets.is_empty(),
            "an invalid spec changes nothing"
        );
    }
}

fn at(seconds: i64) -> jiff::Timestamp {
    "2026-11-24T10:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .checked_add(jiff::SignedDuration::from_secs(seconds))
        .unwrap()
}

fn progressing(status: &RolloutStatus) -> conductor::crd::condition::Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .cloned()
        .expect("a Progressing condition")
}

fn reasons(decision: &conductor::engine::Decision) -> Vec<(&'static str, EventType)> {
    decision
        .events
        .iter()
        .map(|e| (e.reason, e.type_))
        .collect()
}

/// A template not there yet is waited for, not an invalid spec: nothing
/// is applied, the wait says what it waits for, it is looked at again
/// after 5 s, 5 s, 10 s..., and it fails only at the progress deadline;
/// once the template comes, the rollout goes on.
#[test]
fn a_missing_template_is_waited_for_until_the_progress_deadline() {
    let mut spec = canary_spec(2, vec![analysis_step("error-rat")]);
    spec.progress_deadline_seconds = Some(60);
    let mut observed = World::new(spec.clone()).observed();
    let known = |names: &[&str]| {
        names
            .iter()
            .map(|n| AnalysisTemplateRef {
                template_name: (*n).into(),
                cluster_scope: None,
            })
            .collect::<Vec<_>>()
    };
    observed.known_templates = Some(known(&["error-rate"]));
    let first = decide(&spec, &RolloutStatus::default(), &observed, at(0));
    let message = first.status.message.clone().unwrap();
    assert_eq!(
        message,
        "waiting for AnalysisTemplate error-rat (named by \
         spec.strategy.canary.steps[0].analysis.templates[0].templateName): not found"
    );
    assert_eq!(first.status.phase, Some(RolloutPhase::Progressing));
    let condition = progressing(&first.status);
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_deref()),
        ("True", Some("WaitingForReference"))
    );
    assert_eq!(
        reasons(&first),
        [("WaitingForReference", EventType::Normal)]
    );
    assert!(first.desired.replica_sets.is_empty(), "nothing is applied");
    assert!(matches!(first.blocker, Some(Blocker::Missing(_))));
    assert_eq!(first.desired.requeue_after_ms, Some(5_000));

    let again = decide(&spec, &first.status, &observed, at(0));
    assert_eq!(again.status, first.status);
    assert!(again.events.is_empty(), "{:?}", again.events);
    let later = decide(&spec, &first.status, &observed, at(20));
    assert_eq!(later.status, first.status, "a wait is not progress");
    assert_eq!(later.desired.requeue_after_ms, Some(20_000));
    // The retry never overshoots the deadline.
    assert_eq!(
        decide(&spec, &first.status, &observed, at(45))
            .desired
            .requeue_after_ms,
        Some(15_001)
    );

    let failed = decide(&spec, &later.status, &observed, at(61));
    assert_eq!(failed.status.phase, Some(RolloutPhase::Degraded));
    assert_eq!(
        failed.status.message.as_deref(),
        Some(format!("progress deadline exceeded: no progress for 60s; {message}").as_str())
    );
    let condition = progressing(&failed.status);
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_deref()),
        ("False", Some("ProgressDeadlineExceeded"))
    );
    assert_eq!(
        reasons(&failed),
        [("ProgressDeadlineExceeded", EventType::Warning)]
    );
    let still = decide(&spec, &failed.status, &observed, at(90));
    assert_eq!(still.status, failed.status);
    assert!(still.events.is_empty());

    observed.known_templates = Some(known(&["error-rate", "error-rat"]));
    let resumed = decide(&spec, &still.status, &observed, at(95));
    assert_eq!(resumed.blocker, None);
    assert!(!resumed.desired.replica_sets.is_empty(), "{resumed:?}");
    assert_ne!(resumed.status.phase, Some(RolloutPhase::Degraded));
}

/// A request the API server refuses holds the rollout with Argo's
/// `ReplicaSetCreateError` (Progressing False), one Warning, retries that
/// double, and goes on once the request goes through.
#[test]
fn a_refused_request_holds_the_rollout_and_retries_less_and_less_often() {
    let world = World::healthy(canary_spec(2, vec![set_weight(50), pause(None)]));
    let healthy = world.status.clone();
    let mut observed = world.observed();
    observed.template_hash = "h-v2".into();
    observed.template_label = "v2".into();
    let refusal = Refusal {
        reason: RefusalReason::ReplicaSetCreateError,
        message: "the API server refused to create ReplicaSet helpdesk-h-v2: 400 BadRequest: \
                  quantities must match the regular expression"
            .into(),
    };
    observed.blocker = Some(Blocker::Refused(refusal.clone()));
    let mut status = healthy.clone();
    let mut requeues = Vec::new();
    let mut events = Vec::new();
    let mut now = 0;
    for _ in 0..6 {
        let decision = decide(&world.spec, &status, &observed, at(now));
        events.extend(reasons(&decision));
        let wait = decision.desired.requeue_after_ms.unwrap();
        requeues.push(wait / 1000);
        now += wait / 1000;
        status = decision.status;
    }
    assert_eq!(requeues, [5, 5, 10, 20, 40, 80]);
    assert_eq!(events, [("ReplicaSetCreateError", EventType::Warning)]);
    assert_eq!(status.phase, Some(RolloutPhase::Progressing));
    assert_eq!(
        status.message.as_deref(),
        Some(format!("ReplicaSetCreateError: {}", refusal.message).as_str())
    );
    let condition = progressing(&status);
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_deref()),
        ("False", Some("ReplicaSetCreateError"))
    );
    assert_eq!(
        status.current_pod_hash, healthy.current_pod_hash,
        "the new revision is not taken while blocked"
    );

    observed.blocker = None;
    let unblocked = decide(&world.spec, &status, &observed, at(now));
    assert_eq!(unblocked.blocker, None);
    assert_eq!(unblocked.status.current_pod_hash.as_deref(), Some("h-v2"));
    assert_ne!(
        progressing(&unblocked.status).reason.as_deref(),
        Some("ReplicaSetCreateError")
    );
}

#[test]
fn condition_transition_time_moves_only_when_status_flips() {
    let mut world = World::healthy(canary_spec(2, vec![set_weight(50), pause(None)]));
    let healthy_since = world
        .condition("Healthy")
        .unwrap()
        .last_transition_time
        .clone();
    world.advance(100);
    world.settle();
    assert_eq!(
        world.condition("Healthy").unwrap().last_transition_time,
        healthy_since
    );
    world.update("v2");
    world.settle();
    let flipped = world.condition("Healthy").unwrap();
    assert_eq!(flipped.status.as_str(), "False");
    assert_ne!(flipped.last_transition_time, healthy_since);
}

#[test]
fn restart_replaces_pods_oldest_first_one_at_a_time_while_all_are_ready() {
    let mut world = World::healthy(canary_spec(3, vec![set_weight(50), pause(None)]));
    world.spec.restart_at = Some("2026-11-24T10:05:00Z".into());
    let at: jiff::Timestamp = "2026-11-24T10:05:00Z".parse().unwrap();
    let mut oldest_first: Vec<String> = world.pods.iter().map(|p| p.name.clone()).collect();
    oldest_first.sort_by_key(|name| {
        world
            .pods
            .iter()
            .find(|p| &p.name == name)
            .unwrap()
            .created_at
    });
    assert_eq!(
        world.step().desired.restart_pods,
        Vec::<String>::new(),
        "not before its time"
    );
    world.advance(300);

    // A pod of the rollout not ready: no restart, but a look again soon.
    let stable = world
        .replica_sets
        .iter_mut()
        .find(|rs| rs.hash == "h-v1")
        .unwrap();
    stable.ready = stable.replicas - 1;
    let decision = world.step();
    assert_eq!(decision.desired.restart_pods, Vec::<String>::new());
    assert_eq!(decision.desired.requeue_after_ms, Some(1000));

    let mut restarted = Vec::new();
    for _ in 0..10 {
        let decision = world.step();
        assert!(
            decision.desired.restart_pods.len() <= 1,
            "{:?}",
            decision.desired.restart_pods
        );
        if decision.desired.restart_pods.is_empty() {
            assert_eq!(
                decision.desired.requeue_after_ms, None,
                "nothing left to restart"
            );
            break;
        }
        assert_eq!(decision.desired.requeue_after_ms, Some(1000));
        restarted.extend(decision.desired.restart_pods);
    }
    assert_eq!(restarted, oldest_first);
    assert_eq!(world.pods.len(), 3);
    assert!(
        world.pods.iter().all(|p| p.created_at.unwrap() >= at),
        "{:?}",
        world.pods
    );
    assert_eq!(world.phase(), "Healthy");
}

#[test]
fn restart_asks_for_pods_older_than_restart_at() {
    let mut world = World::healthy(canary_spec(3, vec![set_weight(50), pause(None)]));
    world.spec.restart_at = Some("2026-11-24T10:05:00Z".into());
    let decision = world.step();
    assert_eq!(
        decision.desired.restart_pods_before, None,
        "not before its time"
    );
    assert_eq!(decision.desired.requeue_after_ms, Some(300_000));
    world.advance(300);
    let decision = world.step();
    assert_eq!(
        decision
            .desired
            .restart_pods_before
            .map(|t| t.to_string())
            .as_deref(),
        Some("2026-11-24T10:05:00Z")
    );
    assert!(world.has_event("Restarting"));
    assert_eq!(
        world.status.restarted_at.as_deref(),
        Some("2026-11-24T10:05:00Z")
    );
    world.spec.restart_at = Some("after lunch".into());
    world.step();
    assert!(
        world
            .status
            .message
            .unwrap()
            .contains("spec.restartAt: `after lunch` is not an RFC 3339 time")
    );
}

#[test]
fn blue_green_auto_promotion_seconds() {
    let mut world = World::healthy(blue_green_spec(
        2,
        BlueGreenStrategy {
            auto_promotion_seconds: Some(20),
            ..bg_strategy()
        },
    ));
    world.update("v2");
    world.settle();
    assert_eq!(world.phase(), "Paused");
    assert_eq!(
        world.last.as_ref().unwrap().desired.requeue_after_ms,
        Some(20_000)
    );
    world.advance(10);
    world.settle();
    assert_eq!(world.phase(), "Paused");
    world.advance(11);
    world.settle();
    assert_eq!(
        (world.phase(), world.status.stable_revision.as_deref()),
        ("Healthy", Some("v2"))
    );
}

/// A pause whose start time cannot be read never counts as just started
/// (nor as long over): the rollout stops, says which field is wrong, and a
/// person's promote carries it on.
#[test]
fn an_unreadable_pause_start_is_reported_not_taken_for_now() {
    let mut world = World::healthy(canary_spec(2, vec![set_weight(50), pause(Some("30s"))]));
    world.update("v2");
    world.settle();
    assert_eq!((world.phase(), world.step_index()), ("Paused", 1));
    world.status.pause_conditions[0].start_time = "yesterday".into();
    world.advance(31);
    let decision = world.step();
    let problem = r#"status.pauseConditions[0].startTime: "yesterday" is not an RFC 3339 time"#;
    assert_eq!((world.phase(), world.step_index()), ("Degraded", 1));
    assert_eq!(
        world.status.message.as_deref(),
        Some(format!("InvalidStatus: {problem}").as_str())
    );
    let condition = world.condition("InvalidStatus").unwrap();
    assert_eq!(
        (condition.status.as_str(), condition.message.as_deref()),
        ("True", Some(problem))
    );
    assert!(
        decision
            .events
            .iter()
            .any(|e| e.reason == "InvalidStatus" && e.message == problem),
        "{:?}",
        decision.events
    );
    assert_eq!(
        decision.desired.requeue_after_ms, None,
        "no timer from a guess"
    );
    // Deciding again changes nothing and says nothing new.
    let again = world.step();
    assert_eq!(again.status, decision.status);
    assert!(again.events.is_empty(), "{:?}", again.events);
    // A person promotes past the pause; the problem goes with it.
    world.request(Request::Promote);
    world.settle();
    assert_eq!(world.phase(), "Healthy");
    assert!(world.condition("InvalidStatus").is_none());
}

/// An unreadable `lastUpdateTime` neither fires nor silently disarms the
/// progress deadline without a word; fresh progress writes it anew.
#[test]
fn an_unreadable_progress_time_is_reported_until_the_rollout_moves() {
    let mut spec = canary_spec(2, vec![set_weight(50), pause(Some("10s"))]);
    spec.progress_deadline_seconds = Some(60);
    spec.progress_deadline_abort = Some(true);
    let mut world = World::healthy(spec);
    world.update("v2");
    world.unready.insert("h-v2".into(), 1);
    world.settle();
    assert_eq!(world.phase(), "Progressing");
    let index = world
        .status
        .conditions
        .iter()
        .position(|c| c.type_ == "Progressing")
        .unwrap();
    world.status.conditions[index].last_update_time = Some("10:00 today".into());
    world.advance(61);
    world.settle();
    assert_eq!(world.phase(), "Degraded");
    assert_ne!(
        world.status.abort,
        Some(true),
        "no abort on a guessed idle time"
    );
    assert!(!world.has_event("ProgressDeadlineExceeded"));
    let message = world.status.message.clone().unwrap_or_default();
    assert!(
        message.contains(&format!(
            r#"status.conditions[{index}].lastUpdateTime: "10:00 today" is not an RFC 3339 time"#
        )),
        "{message}"
    );
    // The pods come up: that is progress, and the time is written afresh.
    world.unready.clear();
    world.settle();
    assert!(world.condition("InvalidStatus").is_none());
    world.advance(11);
    world.settle();
    assert_eq!(world.phase(), "Healthy");
}

/// The managed route names a world's `last` decision keeps, in order.
fn routes(world: &World) -> Vec<String> {
    world
        .last
        .as_ref()
        .map(|d| {
            d.desired
                .managed_routes
                .iter()
                .map(|r| r.name.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn header_route(name: &str, header: Option<&str>) -> CanaryStep {
    CanaryStep {
        set_header_route: Some(
            serde_json::from_value(serde_json::json!({
                "name": name,
                "match": header.map(|h| serde_json::json!([{"headerName": h, "headerValue": {"exact": "yes"}}])),
            }))
            .unwrap(),
        ),
        ..Default::default()
    }
}

fn with_managed_routes(mut spec: RolloutSpec, names: &[&str]) -> RolloutSpec {
    let routing = spec
        .strategy
        .canary
        .as_mut()
        .and_then(|c| c.traffic_routing.as_mut())
        .unwrap();
    routing.managed_routes = names
        .iter()
        .map(|n| serde_json::from_value(serde_json::json!({ "name": n })).unwrap())
        .collect();
    spec
}

/// Argo Rollouts' header-routing e2e: a route set at its step stays while
/// the canary runs, a step without `match` removes it, and none survives
/// an abort or the end of the rollout.
#[test]
fn header_routes_are_kept_from_their_step_and_removed_on_abort_and_completion() {
    let steps = vec![
        set_weight(20),
        header_route("beta", Some("x-beta")),
        header_route("alpha", Some("x-alpha")),
        pause(None),
        header_route("beta", None),
        pause(None),
    ];
    let spec = with_managed_routes(routed(canary_spec(4, steps)), &["alpha", "beta"]);
    let mut world = World::healthy(spec);
    assert_eq!(routes(&world), Vec::<String>::new());
    world.update("v2");
    world.settle();
    assert_eq!((world.phase(), world.step_index()), ("Paused", 3));
    // In managedRoutes order, whatever order the steps set them in.
    assert_eq!(routes(&world), ["alpha", "beta"]);
    world.request(Request::Promote);
    world.settle();
    assert_eq!((world.phase(), world.step_index()), ("Paused", 5));
    assert_eq!(routes(&world), ["alpha"]);
    world.request(Request::Abort);
    world.settle();
    assert_eq!(world.phase(), "Degraded");
    assert_eq!(routes(&world), Vec::<String>::new());
    world.request(Request::Retry);
    world.settle();
    assert_eq!(routes(&world), ["alpha", "beta"]);
    world.request(Request::PromoteFull);
    world.settle();
    assert_eq!(world.phase(), "Healthy");
    assert_eq!(routes(&world), Vec::<String>::new());
}

/// A header route before any weight has no canary pods to send to: it
/// waits for them (a setCanaryScale gives them), as Argo Rollouts removes
/// routes while the canary has none available.
#[test]
fn a_header_route_waits_for_canary_pods() {
    let steps = vec![header_route("beta", Some("x-beta")), pause(None)];
    let spec = with_managed_routes(routed(canary_spec(4, steps.clone())), &["beta"]);
    let mut world = World::healthy(spec);
    world.update("v2");
    world.settle();
    assert_eq!((world.step_index(), world.replicas("v2")), (1, 0));
    assert_eq!(routes(&world), Vec::<String>::new());
    let mut scaled = vec![canary_scale(SetCanaryScale {
        replicas: Some(1),
        ..Default::default()
    })];
    scaled.extend(steps);
    let spec = with_managed_routes(routed(canary_spec(4, scaled)), &["beta"]);
    let mut world = World::healthy(spec);
    world.update("v2");
    world.settle();
    assert_eq!((world.step_index(), world.replicas("v2")), (2, 1));
    assert_eq!(routes(&world), ["beta"]);
}

/// `maxTrafficWeight: 1000`: weights are out of 1000, pods follow the share.
#[test]
fn weights_out_of_max_traffic_weight() {
    let mut spec = routed(canary_spec(10, vec![set_weight(250), pause(None)]));
    spec.strategy
        .canary
        .as_mut()
        .and_then(|c| c.traffic_routing.as_mut())
        .unwrap()
        .max_traffic_weight = Some(1000);
    let mut world = World::healthy(spec);
    world.update("v2");
    world.settle();
    assert_eq!(world.phase(), "Paused");
    let decision = world.last.clone().unwrap();
    assert_eq!(
        (
            decision.desired.canary_weight,
            decision.desired.weight_total
        ),
        (250, 1000)
    );
    assert_eq!(world.replicas("v2"), 3);
    let status = world.status.canary.as_ref().and_then(|c| c.weights.clone());
    assert_eq!(status.map(|w| (w.canary, w.stable)), Some((250, 750)));
    world.request(Request::Promote);
    world.settle();
    assert_eq!(world.phase(), "Healthy");
    assert_eq!(
        world.last.as_ref().map(|d| d.desired.canary_weight),
        Some(0)
    );
}

fn experiment_step() -> CanaryStep {
    use conductor::crd::experiment::{
        ExperimentAnalysis, RolloutExperiment, RolloutExperimentTemplate, SpecRef,
    };
    CanaryStep {
        experiment: Some(RolloutExperiment {
            duration: Some("10m".into()),
            templates: vec![
                RolloutExperimentTemplate {
                    name: "baseline".into(),
                    spec_ref: SpecRef::Stable,
                    replicas: None,
                },
                RolloutExperimentTemplate {
                    name: "canary".into(),
                    spec_ref: SpecRef::Canary,
                    replicas: None,
                },
            ],
            analyses: vec![ExperimentAnalysis {
                name: "compare".into(),
                template_name: "mann-whitney".into(),
                ..Default::default()
            }],
        }),
        ..Default::default()
    }
}

#[test]
fn an_experiment_step_runs_baseline_and_canary_then_goes_on() {
    let mut world = World::healthy(canary_spec(
        4,
        vec![set_weight(25), experiment_step(), set_weight(100)],
    ));
    world.update("v2");
    let first = world.step();
    assert!(first.desired.experiments.is_empty(), "setWeight first");
    world.settle();
    assert_eq!(world.phase(), "Healthy", "{:?}", world.status.message);
    let asked: Vec<_> = world
        .last
        .iter()
        .flat_map(|d| d.desired.experiments.iter())
        .collect();
    assert!(asked.is_empty(), "a stable rollout runs no experiment");
    assert_eq!(world.experiments.len(), 1);
    assert_eq!(world.experiments[0].name, "helpdesk-h-v2-1-1");
    assert!(world.has_event("ExperimentStarted"));
    assert!(world.has_event("ExperimentSuccessful"));
    assert_eq!(world.status.stable_revision.as_deref(), Some("v2"));
}

#[test]
fn the_experiment_copies_the_stable_and_canary_revisions_while_the_step_waits() {
    let mut world = World::healthy(canary_spec(
        4,
        vec![set_weight(25), experiment_step(), set_weight(100)],
    ));
    // The experiment stays Running: no outcome is reached while it is wanted.
    world.outcomes.insert("experiment", AnalysisPhase::Running);
    world.update("v2");
    world.settle();
    let decision = world.last.clone().unwrap();
    let experiment = &decision.desired.experiments[0];
    assert_eq!(
        (
            experiment.step,
            experiment.canary_hash.as_str(),
            experiment.stable_hash.as_str()
        ),
        (1, "h-v2", "h-v1")
    );
    assert_eq!(world.step_index(), 1);
    assert_eq!(world.weight, 25, "the step keeps the weight before it");
    assert_eq!(
        world.status.message.as_deref(),
        Some("step 2/3: waiting for experiment helpdesk-h-v2-1-1")
    );
    assert_eq!(
        world
            .status
            .canary
            .as_ref()
            .and_then(|c| c.current_experiment.as_deref()),
        Some("helpdesk-h-v2-1-1")
    );
    // Aborting ends the experiment: it is no longer asked for.
    world.request(Request::Abort);
    world.settle();
    assert!(world.last.as_ref().unwrap().desired.experiments.is_empty());
    assert_eq!(world.experiments[0].message.as_deref(), Some("terminated"));
}

#[test]
fn a_failed_experiment_aborts_the_rollout_naming_it() {
    let mut world = World::healthy(canary_spec(
        4,
        vec![set_weight(25), experiment_step(), set_weight(100)],
    ));
    world.outcomes.insert("experiment", AnalysisPhase::Failed);
    world.update("v2");
    world.settle();
    assert_eq!(world.phase(), "Degraded");
    assert_eq!(
        (world.weight, world.replicas("v2"), world.replicas("v1")),
        (0, 0, 4)
    );
    let event = world
        .events
        .iter()
        .find(|e| e.reason == "RolloutAborted")
        .unwrap();
    assert!(
        event
            .message
            .contains("experiment helpdesk-h-v2-1-1 failed: analysis compare Failed"),
        "{event:?}"
    );
}

#[test]
fn an_inconclusive_experiment_pauses_until_promoted() {
    let mut world = World::healthy(canary_spec(
        4,
        vec![set_weight(25), experiment_step(), set_weight(100)],
    ));
    world
        .outcomes
        .insert("experiment", AnalysisPhase::Inconclusive);
    world.update("v2");
    world.settle();
    assert_eq!(world.phase(), "Paused");
    assert!(world.has_event("AnalysisRunInconclusive"));
    world.request(Request::Promote);
    world.settle();
    assert_eq!(world.phase(), "Healthy");
}

/// Found by the soak: the recorded stable's ReplicaSet gone while another
/// revision's pods stayed up. The missing stable took the whole surge
/// budget, so the canary was never scaled and the rollout stood still.
#[test]
fn a_stable_replica_set_that_is_gone_does_not_hold_the_canary() {
    let mut world = World::healthy(canary_spec(2, vec![set_weight(25), pause(None)]));
    for rs in &mut world.replica_sets {
        (rs.hash, rs.label) = ("h-v0".into(), "v0".into());
    }
    for pod in &mut world.pods {
        pod.hash = "h-v0".into();
    }
    world.update("v2");
    world.settle();
    assert_eq!(
        (world.phase(), world.step_index(), world.replicas("v2")),
        ("Paused", 1, 1),
        "{:?}",
        world.status.message
    );
    world.request(Request::Promote);
    world.settle();
    assert_eq!(world.phase(), "Healthy", "{:?}", world.status.message);
    assert_eq!((world.replicas("v2"), world.replicas("v0")), (2, 0));
}

/// A first revision whose pods never come up is Degraded at the deadline,
/// as a Deployment's would be, not Progressing for ever; it is not
/// aborted (there is nothing to go back to) and recovers once they do.
#[test]
fn a_first_revision_without_pods_exceeds_its_progress_deadline_and_recovers() {
    let mut spec = canary_spec(2, vec![set_weight(50), pause(None)]);
    spec.progress_deadline_seconds = Some(60);
    spec.progress_deadline_abort = Some(true);
    let mut world = World::new(spec);
    world.unready.insert("h-v1".into(), 2);
    world.settle();
    assert_eq!(world.phase(), "Progressing");
    world.advance(61);
    world.settle();
    assert_eq!(world.phase(), "Degraded", "{:?}", world.status.message);
    let progressing = world.condition("Progressing").unwrap();
    assert_eq!(
        (progressing.status.as_str(), progressing.reason.as_deref()),
        ("False", Some("ProgressDeadlineExceeded"))
    );
    assert!(world.has_event("ProgressDeadlineExceeded"));
    assert_ne!(world.status.abort, Some(true));
    assert_eq!(world.replicas("v1"), 2);
    world.unready.clear();
    world.settle();
    assert_eq!(world.phase(), "Healthy", "{:?}", world.status.message);
}

#[test]
fn anti_affinity_takes_one_rule_and_a_weight_the_scheduler_takes() {
    let with = |rule: serde_json::Value| {
        let mut spec = canary_spec(2, vec![set_weight(50)]);
        spec.strategy.canary.as_mut().unwrap().anti_affinity =
            Some(serde_json::from_value(rule).unwrap());
        conductor::engine::Settings::from_spec(&spec, None).map(|_| ())
    };
    assert!(
        with(serde_json::json!({ "requiredDuringSchedulingIgnoredDuringExecution": {} })).is_ok()
    );
    assert_eq!(
        with(serde_json::json!({ "preferredDuringSchedulingIgnoredDuringExecution": { "weight": 0 } }))
            .unwrap_err()
            .to_string(),
        "spec.strategy.canary.antiAffinity.preferredDuringSchedulingIgnoredDuringExecution.weight: 0 is outside 1..=100"
    );
    assert_eq!(
        with(serde_json::json!({})).unwrap_err().to_string(),
        "spec.strategy.canary.antiAffinity: set either requiredDuringSchedulingIgnoredDuringExecution or preferredDuringSchedulingIgnoredDuringExecution"
    );
}
