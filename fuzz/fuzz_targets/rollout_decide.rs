//! A Rollout as the controller receives it (JSON: spec and status) through
//! `Settings::from_spec` and `engine::decide`, then on through the
//! simulated platform the engine's property tests use
//! (`tests/support/world.rs`). Input: the Rollout's JSON, then optionally
//! a NUL byte and a script, a byte or two per action: decide, let time
//! pass, roll out a new revision, ask (promote, abort, ...), hold pods
//! unready, or finish analysis runs. Checked after every decision: no
//! panic, the decision is deterministic, weights stay within the traffic
//! total and are 0 once aborted, and deciding again on the status it
//! returned changes nothing and emits nothing (the engine's contract).
#![no_main]

#[path = "../../tests/support/world.rs"]
mod world;

use conductor::crd::analysis::AnalysisPhase;
use conductor::crd::rollout::Rollout;
use conductor::engine::{self, Decision, Desired, Observed, Request, Settings};
use libfuzzer_sys::fuzz_target;
use world::World;

const MAX_ACTIONS: usize = 48;
/// Without a script: settle, roll out `v2`, wait, promote.
const DEFAULT_SCRIPT: &[u8] = &[0, 0, 4, 0, 0, 0, 0, 3, 12, 0, 0, 5, 0, 0, 0];

fuzz_target!(|data: &[u8]| {
    let (json, script) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, DEFAULT_SCRIPT),
    };
    let Ok(rollout) = serde_json::from_slice::<Rollout>(json) else {
        return;
    };
    let settings = Settings::from_spec(&rollout.spec, None);
    assert_eq!(settings, Settings::from_spec(&rollout.spec, None));
    let mut world = World::new(rollout.spec);
    world.status = rollout.status.unwrap_or_default();
    let mut bytes = script.iter().copied();
    let mut next = move || bytes.next();
    for _ in 0..MAX_ACTIONS {
        let Some(action) = next() else { break };
        let arg = usize::from(next().unwrap_or(0));
        match action % 8 {
            3 => world.advance(i64::try_from(arg).unwrap_or(0) * 5 + 1),
            4 => world.update(["v2", "v3", "v1"][arg % 3]),
            5 => world.request(
                [
                    Request::Promote,
                    Request::PromoteFull,
                    Request::Abort,
                    Request::Retry,
                    Request::Undo,
                ][arg % 5],
            ),
            6 => {
                if let Some(rs) = world.replica_sets.get(arg % 4) {
                    let hash = rs.hash.clone();
                    world
                        .unready
                        .insert(hash, i32::try_from(arg % 3).unwrap_or(0));
                }
            }
            7 => {
                let kind = ["step", "background", "pre", "post"][arg % 4];
                let phase = [
                    AnalysisPhase::Successful,
                    AnalysisPhase::Failed,
                    AnalysisPhase::Error,
                    AnalysisPhase::Inconclusive,
                    AnalysisPhase::Running,
                ][(arg / 4) % 5];
                world.outcomes.insert(kind, phase);
            }
            _ => {
                let (status, observed, now) = (world.status.clone(), world.observed(), world.now);
                let decision = world.step();
                check(&world.spec, &status, &observed, now, &decision);
            }
        }
    }
});

fn check(
    spec: &conductor::crd::rollout::RolloutSpec,
    status: &conductor::crd::rollout::RolloutStatus,
    observed: &Observed,
    now: jiff::Timestamp,
    decision: &Decision,
) {
    assert_eq!(
        &engine::decide(spec, status, observed, now),
        decision,
        "the same inputs decided otherwise"
    );
    let desired = &decision.desired;
    assert!(
        (0..=desired.weight_total).contains(&desired.canary_weight),
        "canary weight {} of {}",
        desired.canary_weight,
        desired.weight_total
    );
    if decision.status.abort == Some(true) {
        assert_eq!(desired.canary_weight, 0, "aborted with canary weight");
    }
    let mut again_observed = observed.clone();
    again_observed.requests.clear();
    let again = engine::decide(spec, &decision.status, &again_observed, now);
    assert_eq!(
        again.status, decision.status,
        "status changed on a second decision"
    );
    // Undo's template copy answers the request itself, which is consumed.
    let once = Desired {
        rollback_to: None,
        ..desired.clone()
    };
    assert_eq!(
        again.desired, once,
        "desired world changed on a second decision"
    );
    assert!(
        again.events.is_empty(),
        "second decision emitted {:?}",
        again.events
    );
}
