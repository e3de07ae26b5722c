//! Header and mirror routes (`setHeaderRoute`, `setMirrorRoute`), as Argo
//! Rollouts keeps them: a step sets up (or, without `match`, removes) its
//! named route, which stays while the canary runs; every managed route goes
//! when the rollout is aborted, promoted in full or completed, and while
//! the canary has no available pods to send to (a superseded revision's
//! routes never point at a canary that cannot answer).
//!
//! The routes are a function of the step the rollout is at, so deciding
//! again gives the same routes, and a router writes them as listed.

use super::decision::DecisionState;
use super::desired::DesiredRoute;
use super::lifecycle::is_aborted;
use super::settings::{Canary, Step};

pub fn keep(ctx: &mut DecisionState, canary: &Canary) {
    ctx.desired.managed_routes = active(ctx, canary);
}

fn active(ctx: &DecisionState, canary: &Canary) -> Vec<DesiredRoute> {
    let hash = ctx.observed.template_hash.as_str();
    let rolling_out = ctx.status.stable_rs.as_deref() != Some(hash);
    let full = ctx.status.promote_full == Some(true);
    if !rolling_out || full || is_aborted(ctx) || ctx.observed.available(hash) == 0 {
        return Vec::new();
    }
    // The step the rollout is at has run its route already: a route step
    // completes as soon as it is reached.
    let reached = ctx
        .status
        .current_step_index
        .map_or(0, |i| usize::try_from(i).unwrap_or(0))
        .saturating_add(1);
    let mut routes: Vec<DesiredRoute> = Vec::new();
    for step in canary.steps.iter().take(reached) {
        let Step::Route(name, kind) = step else {
            continue;
        };
        routes.retain(|r| &r.name != name);
        if let Some(kind) = kind {
            routes.push(DesiredRoute {
                name: name.clone(),
                kind: kind.clone(),
            });
        }
    }
    // Precedence is the order of `managedRoutes`, whatever order the
    // steps set them in.
    routes.sort_by_key(|r| canary.managed_routes.iter().position(|m| *m == r.name));
    routes
}
