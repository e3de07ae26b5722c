//! Turning replica targets into what to ask for now, so that availability
//! never drops below `replicas - maxUnavailable` and the total never rises
//! above `replicas + maxSurge`.

use jiff::Timestamp;

use super::decision::DecisionState;
use super::desired::DesiredReplicaSet;
use super::identity;
use super::settings::Settings;

/// Where the strategy wants a ReplicaSet to end up; [`apply`] turns it
/// into what to ask for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaTarget {
    pub hash: String,
    pub replicas: i32,
    pub scale_down_at: Option<Timestamp>,
}

impl ReplicaTarget {
    pub fn new(hash: &str, replicas: i32) -> Self {
        Self {
            hash: hash.to_owned(),
            replicas: replicas.max(0),
            scale_down_at: None,
        }
    }
}

/// Writes the replicas to ask of each target into `ctx.desired`. Targets
/// come in scale-down priority order (the first gives up pods first).
/// `surge_limited` is false when the stable side stays whole behind a
/// traffic router, where the canary's pods are extra by design.
pub fn apply(
    ctx: &mut DecisionState,
    settings: &Settings,
    targets: Vec<ReplicaTarget>,
    surge_limited: bool,
) {
    let min_available = (settings.replicas - settings.max_unavailable).max(0);
    let max_total = if surge_limited {
        settings.replicas.saturating_add(settings.max_surge)
    } else {
        i32::MAX
    };
    let current: Vec<i32> = targets
        .iter()
        .map(|t| {
            ctx.observed
                .replica_set(&t.hash)
                .map_or(0, |rs| rs.replicas.max(0))
        })
        .collect();
    let available: Vec<i32> = targets
        .iter()
        .zip(&current)
        .map(|(t, c)| ctx.observed.available(&t.hash).clamp(0, *c))
        .collect();
    let mut slack = (available.iter().sum::<i32>() - min_available).max(0);
    let mut asked = current.clone();
    for (i, target) in targets.iter().enumerate() {
        if target.replicas < current[i] {
            // Unavailable pods go for free; available ones only while the
            // others keep enough pods available.
            let floor = (available[i] - slack).max(target.replicas);
            asked[i] = floor.min(current[i]);
            slack -= available[i] - available[i].min(asked[i]);
        }
    }
    // Only the template's ReplicaSet can be made: one that is gone (the
    // stable deleted by hand, say) gets no pods, or the surge budget it
    // took would hold every other target where it is.
    let placeable =
        |hash: &str| hash == ctx.observed.template_hash || ctx.observed.replica_set(hash).is_some();
    let mut budget = max_total.saturating_sub(asked.iter().sum::<i32>());
    for (i, target) in targets.iter().enumerate() {
        if target.replicas > asked[i] && budget > 0 && placeable(&target.hash) {
            let add = (target.replicas - asked[i]).min(budget);
            asked[i] += add;
            budget -= add;
        }
    }
    for (target, replicas) in targets.into_iter().zip(asked) {
        if let Some(at) = target.scale_down_at {
            let wait = at.as_millisecond() - ctx.now.as_millisecond();
            if wait > 0 {
                ctx.desired.requeue_in(wait);
            }
        }
        ctx.desired.replica_sets.push(DesiredReplicaSet {
            revision: identity::revision(ctx.observed, &target.hash),
            hash: target.hash,
            replicas,
            scale_down_at: target.scale_down_at,
        });
    }
}
