//! Which pods each Service selects. The strategy names the revision each
//! Service is for: the stable (active) Service the stable revision, the
//! canary (preview) Service the revision rolling out, or the stable one
//! once the rollout is aborted, whose pods may stay up for a while
//! (`abortScaleDownDelaySeconds`) but take no traffic.
//!
//! A Service selects its revision while that revision has ready pods the
//! decision keeps; otherwise the other Service's revision, or else the
//! newest ReplicaSet that has some, so a Service never selects pods that
//! cannot serve while the rollout has pods that can: a canary's pods not
//! up yet, a stable side the replica ratio took to zero, pods a decision
//! is scaling away. Only when no pod of the rollout is ready (a first
//! deploy) does a Service select its revision's pods before they are up.

use super::decision::DecisionState;
use super::lifecycle::is_aborted;

/// Runs after the strategy: turns the revisions it named into the hashes
/// the Services select.
pub fn select(ctx: &mut DecisionState) {
    let Some(stable) = ctx.desired.stable_hash.clone() else {
        return;
    };
    let rolling_out = ctx
        .desired
        .canary_hash
        .clone()
        .unwrap_or_else(|| stable.clone());
    let canary = if is_aborted(ctx) {
        stable.clone()
    } else {
        rolling_out.clone()
    };
    let observed = ctx.observed;
    let mut others: Vec<(u64, &str)> = observed
        .replica_sets
        .iter()
        .map(|rs| (rs.revision, rs.hash.as_str()))
        .collect();
    others.sort_unstable_by(|a, b| b.cmp(a));
    let candidates: Vec<&str> = [stable.as_str(), rolling_out.as_str()]
        .into_iter()
        .chain(others.into_iter().map(|(_, hash)| hash))
        .collect();
    let pick = |own: &str| -> String {
        let chosen = if serves(ctx, own) {
            own
        } else {
            candidates
                .iter()
                .copied()
                .find(|hash| serves(ctx, hash))
                .unwrap_or(own)
        };
        chosen.to_owned()
    };
    let (stable, canary) = (pick(&stable), pick(&canary));
    ctx.desired.stable_hash = Some(stable);
    ctx.desired.canary_hash = Some(canary);
}

/// `hash` has ready pods and the decision keeps some of them: a
/// ReplicaSet scaled down loses its unready pods first.
fn serves(ctx: &DecisionState, hash: &str) -> bool {
    let ready = ctx.observed.replica_set(hash).map_or(0, |rs| rs.ready);
    let kept = ctx
        .desired
        .replica_sets
        .iter()
        .find(|rs| rs.hash == hash)
        .map_or(0, |rs| rs.replicas);
    ready.min(kept) > 0
}
