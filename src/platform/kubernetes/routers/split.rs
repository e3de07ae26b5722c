//! The contract every traffic router works to: the engine's decision as a
//! router reads it. A router makes its objects send `canary_weight` of
//! `total` to the canary and the rest to stable, keeps exactly the managed
//! routes listed (and removes the rollout's others), reports an object it
//! needs that is missing (to wait for) and a spec problem naming the field
//! when an object cannot take the split. Routers only write; every policy
//! is in `Desired`.

use kube::ResourceExt;

use crate::crd::problem::SpecProblem;
use crate::crd::rollout::{Rollout, TrafficRouting};
use crate::engine::{Desired, DesiredRoute, MissingReference};
use crate::platform::kubernetes::KubeError;

pub struct Split<'a> {
    pub rollout: &'a Rollout,
    pub routing: &'a TrafficRouting,
    pub namespace: String,
    /// `stableService` and `canaryService`, when the rollout names them.
    pub stable: Option<&'a str>,
    pub canary: Option<&'a str>,
    pub canary_weight: i32,
    /// What the two weights add up to (`maxTrafficWeight`).
    pub total: i32,
    /// The managed routes to keep, in precedence order.
    pub routes: &'a [DesiredRoute],
    /// The pod-template hashes the stable and canary sides select.
    pub stable_hash: Option<&'a str>,
    pub canary_hash: Option<&'a str>,
}

impl<'a> Split<'a> {
    pub fn new(rollout: &'a Rollout, routing: &'a TrafficRouting, desired: &'a Desired) -> Self {
        let canary = rollout.spec.strategy.canary.as_ref();
        let total = desired.weight_total.max(1);
        Self {
            rollout,
            routing,
            namespace: rollout.namespace().unwrap_or_default(),
            stable: canary.and_then(|c| c.stable_service.as_deref()),
            canary: canary.and_then(|c| c.canary_service.as_deref()),
            canary_weight: desired.canary_weight.clamp(0, total),
            total,
            routes: &desired.managed_routes,
            stable_hash: desired.stable_hash.as_deref(),
            canary_hash: desired.canary_hash.as_deref(),
        }
    }

    pub fn stable_weight(&self) -> i32 {
        self.total - self.canary_weight
    }

    /// The stable and canary Services, which every router but Istio's
    /// subset-level splitting sends to.
    pub fn services(&self) -> Result<(&'a str, &'a str), SpecProblem> {
        match (self.stable, self.canary) {
            (Some(stable), Some(canary)) => Ok((stable, canary)),
            _ => Err(SpecProblem::new(
                "spec.strategy.canary",
                "trafficRouting needs stableService and canaryService",
            )),
        }
    }

    /// The names of `managedRoutes`: routes by these names are the
    /// rollout's to add and remove.
    pub fn managed_names(&self) -> Vec<&'a str> {
        self.routing
            .managed_routes
            .iter()
            .map(|r| r.name.as_str())
            .collect()
    }
}

/// The spec names an object that is not there (yet): a wait.
pub fn missing(field: impl Into<String>, kind: &str, name: &str, namespace: &str) -> KubeError {
    KubeError::Missing(Box::new(MissingReference {
        field: field.into(),
        kind: kind.to_owned(),
        namespace: Some(namespace.to_owned()),
        name: name.to_owned(),
    }))
}
