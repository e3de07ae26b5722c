//! Apply: where traffic goes. Service selectors pin the stable and canary
//! (active and preview) pod-template hashes; the traffic routers a rollout
//! names (as many as it names, as Argo Rollouts runs them) split requests
//! by weight and keep its header and mirror routes. Without a router the
//! split is the replica ratio the ReplicaSets already give.
//!
//! Before the decision, `references` looks up every object they will
//! need, so a missing one is waited for instead of half-applied.
//!
//! ```text
//!   Desired ──▶ services (selectors)
//!          └──▶ Split (split.rs: the contract) ──▶ nginx     canary Ingresses
//!                                             ├─▶ gateway   HTTPRoute / GRPCRoute rules (gateway_rules.rs)
//!                                             ├─▶ istio     VirtualServices, DestinationRule (istio_routes.rs)
//!                                             ├─▶ smi       the TrafficSplit it owns
//!                                             └─▶ alb       Ingress action annotations
//! ```

mod alb;
mod gateway;
mod gateway_rules;
mod istio;
mod istio_routes;
mod nginx;
mod references;
mod services;
mod smi;
mod split;

use kube::Client;

use super::KubeError;
use super::lookups::Lookups;
use crate::crd::rollout::Rollout;
use crate::engine::Desired;

pub use nginx::canary_ingress_name;
pub use references::first_missing;
use references::{GATEWAY_FIELD, PLUGIN_FIELD};

/// Makes Services and router weights what the decision says; returns the
/// number of writes; `KubeError::Spec` is a problem with the spec for the
/// user, `KubeError::Missing` an object gone since [`first_missing`] looked.
pub async fn apply(
    lookups: &Lookups,
    client: &Client,
    rollout: &Rollout,
    desired: &Desired,
) -> Result<usize, KubeError> {
    let mut writes = services::pin(lookups, client, rollout, desired).await?;
    let routing = rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .and_then(|c| c.traffic_routing.as_ref());
    let Some(routing) = routing else {
        return Ok(writes);
    };
    let split = split::Split::new(rollout, routing, desired);
    if let Some(nginx) = &routing.nginx {
        writes += nginx::apply(lookups, client, &split, nginx).await?;
    }
    let plugin = routing
        .plugins
        .as_ref()
        .and_then(|p| p.gateway_api.as_ref());
    for (gateway, field) in [
        (routing.gateway_api.as_ref(), GATEWAY_FIELD),
        (plugin, PLUGIN_FIELD),
    ] {
        if let Some(gateway) = gateway {
            writes += gateway::apply(lookups, client, &split, gateway, field).await?;
        }
    }
    if let Some(istio) = &routing.istio {
        writes += istio::apply(lookups, client, &split, istio).await?;
    }
    if let Some(smi) = &routing.smi {
        writes += smi::apply(lookups, client, &split, smi).await?;
    }
    if let Some(alb) = &routing.alb {
        writes += alb::apply(lookups, client, &split, alb).await?;
    }
    Ok(writes)
}
