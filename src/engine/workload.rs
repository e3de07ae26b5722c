//! The Deployment a `workloadRef` names: the rollout runs its template in
//! ReplicaSets of its own, and the Deployment gives up its pods as
//! `spec.workloadRef.scaleDown` says:
//!
//! - `never`: it is left as it is;
//! - `onsuccess` (the default): to zero once the rollout is Healthy;
//! - `progressively`: as the rollout's pods become available, so the two
//!   together keep `replicas` pods available (Deployment replicas =
//!   `max(0, replicas - available)`), and to zero once Healthy.
//!
//! The Deployment is only ever scaled down: once the rollout has taken
//! over, a pod of the rollout going unready or an HPA scaling the rollout
//! up does not bring the Deployment's pods back.

use super::decision::DecisionState;
use super::settings::Settings;
use crate::crd::rollout::{RolloutPhase, ScaleDown};

/// Runs after the status is finished: `onsuccess` reads its phase.
pub fn scale_down(ctx: &mut DecisionState, settings: &Settings) {
    let (Some(mode), Some(current)) =
        (settings.workload_scale_down, ctx.observed.workload_replicas)
    else {
        return;
    };
    // `spec.paused` holds the whole world where it is.
    if settings.paused || mode == ScaleDown::Never {
        return;
    }
    let healthy = ctx.status.phase == Some(RolloutPhase::Healthy);
    let target = match mode {
        _ if healthy => 0,
        ScaleDown::Progressively => {
            let available: i32 = ctx
                .observed
                .replica_sets
                .iter()
                .map(|rs| rs.available.max(0))
                .sum();
            settings.replicas.saturating_sub(available).max(0)
        }
        ScaleDown::OnSuccess | ScaleDown::Never => return,
    };
    let target = target.min(current);
    if target != current {
        ctx.desired.workload_replicas = Some(target);
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use crate::crd::rollout::{
        CanaryStep, CanaryStrategy, RolloutSpec, RolloutStatus, RolloutStrategy, ScaleDown,
        WorkloadRef,
    };
    use crate::engine::{Decision, Observed, ReplicaSetState, decide};

    fn spec(scale_down: Option<ScaleDown>) -> RolloutSpec {
        RolloutSpec {
            replicas: Some(4),
            workload_ref: Some(WorkloadRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "legacy".into(),
                scale_down,
            }),
            strategy: RolloutStrategy {
                canary: Some(CanaryStrategy {
                    steps: vec![CanaryStep {
                        set_weight: Some(50),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                blue_green: None,
            },
            ..Default::default()
        }
    }

    /// The first revision's ReplicaSet with `available` of 4 pods up, and
    /// the Deployment at `deployment` replicas.
    fn decide_at(spec: &RolloutSpec, available: i32, deployment: i32) -> Decision {
        let observed = Observed {
            name: "legacy".into(),
            generation: 1,
            template_hash: "h1".into(),
            template_label: "v1".into(),
            replica_sets: vec![ReplicaSetState {
                hash: "h1".into(),
                label: "v1".into(),
                revision: 1,
                replicas: 4,
                ready: available,
                available,
                ..Default::default()
            }],
            workload_replicas: Some(deployment),
            ..Default::default()
        };
        let now: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        // Twice, as a platform would: the first decision adopts the revision.
        let first = decide(spec, &RolloutStatus::default(), &observed, now);
        decide(spec, &first.status, &observed, now)
    }

    #[test]
    fn progressively_gives_up_what_the_rollouts_available_pods_replace() {
        let spec = spec(Some(ScaleDown::Progressively));
        let wanted: Vec<Option<i32>> = (0..=4)
            .map(|available| decide_at(&spec, available, 4).desired.workload_replicas)
            .collect();
        assert_eq!(wanted, [None, Some(3), Some(2), Some(1), Some(0)]);
    }

    #[test]
    fn the_deployment_is_never_scaled_back_up() {
        let spec = spec(Some(ScaleDown::Progressively));
        // One pod of the rollout went unready after the Deployment gave up three.
        assert_eq!(decide_at(&spec, 3, 1).desired.workload_replicas, None);
        assert_eq!(decide_at(&spec, 2, 1).desired.workload_replicas, None);
    }

    #[test]
    fn onsuccess_waits_for_healthy_and_never_leaves_it_alone() {
        let onsuccess = spec(None);
        assert_eq!(decide_at(&onsuccess, 3, 4).desired.workload_replicas, None);
        let healthy = decide_at(&onsuccess, 4, 4);
        assert_eq!(
            healthy.status.phase,
            Some(crate::crd::rollout::RolloutPhase::Healthy)
        );
        assert_eq!(healthy.desired.workload_replicas, Some(0));
        assert_eq!(decide_at(&onsuccess, 4, 0).desired.workload_replicas, None);
        let never = spec(Some(ScaleDown::Never));
        assert_eq!(decide_at(&never, 4, 4).desired.workload_replicas, None);
    }

    #[test]
    fn without_a_workload_ref_nothing_is_asked() {
        let mut spec = spec(Some(ScaleDown::Progressively));
        spec.workload_ref = None;
        spec.template = Some(Default::default());
        assert_eq!(decide_at(&spec, 4, 4).desired.workload_replicas, None);
    }
}
