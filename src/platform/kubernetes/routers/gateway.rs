//! Gateway API: the stable and canary backend weights of every HTTPRoute
//! and GRPCRoute the rollout names, natively (`gatewayAPI`) or as Argo's
//! `argoproj-labs/gatewayAPI` plugin configures it, and the header and
//! mirror rules on the routes that take them (`useHeaderRoutes`).

use kube::Client;

use super::gateway_rules::{self, Backends, Flavor};
use super::split::{Split, missing};
use crate::crd::problem::SpecProblem;
use crate::crd::traffic::{GatewayApiTrafficRouting, RouteRef};
use crate::platform::kubernetes::lookups::Lookups;
use crate::platform::kubernetes::{KubeError, writes};

/// `field` is where the router is configured (`...trafficRouting.gatewayAPI`
/// or `...trafficRouting.plugins.argoproj-labs/gatewayAPI`).
pub async fn apply(
    lookups: &Lookups,
    client: &Client,
    split: &Split<'_>,
    routing: &GatewayApiTrafficRouting,
    field: &str,
) -> Result<usize, KubeError> {
    let (stable, canary) = split.services()?;
    let backends = Backends {
        stable,
        canary,
        stable_weight: split.stable_weight(),
        canary_weight: split.canary_weight,
    };
    let namespace = routing.namespace.as_deref().unwrap_or(&split.namespace);
    let managed = split.managed_names();
    let mut writes = 0;
    for route in routing.http_routes() {
        let Some(read) = lookups.http_route(namespace, route.name).await? else {
            return Err(missing(
                at(field, &route),
                "HTTPRoute",
                route.name,
                namespace,
            ));
        };
        let rules = weighted(
            &read.list("rules"),
            &backends,
            &managed,
            split,
            &route,
            Flavor::Http,
            field,
        )?;
        if rules != read.list("rules") {
            writes += usize::from(writes::set_http_route_rules(client, &read, &rules).await?);
        }
    }
    for route in routing.grpc_routes() {
        let Some(read) = lookups.grpc_route(namespace, route.name).await? else {
            return Err(missing(
                at(field, &route),
                "GRPCRoute",
                route.name,
                namespace,
            ));
        };
        let rules = weighted(
            &read.list("rules"),
            &backends,
            &managed,
            split,
            &route,
            Flavor::Grpc,
            field,
        )?;
        if rules != read.list("rules") {
            writes += usize::from(writes::set_grpc_route_rules(client, &read, &rules).await?);
        }
    }
    Ok(writes)
}

fn at(field: &str, route: &RouteRef) -> String {
    format!("{field}.{}", route.field)
}

fn weighted(
    read: &[serde_json::Value],
    backends: &Backends,
    managed: &[&str],
    split: &Split<'_>,
    route: &RouteRef,
    flavor: Flavor,
    field: &str,
) -> Result<Vec<serde_json::Value>, KubeError> {
    // A route without header routes keeps none: a rule by a managed name
    // there is the rollout's leftover.
    let routes = if route.managed { split.routes } else { &[] };
    gateway_rules::rules(read, backends, managed, routes, flavor).map_err(|e| {
        let kind = match flavor {
            Flavor::Http => "HTTPRoute",
            Flavor::Grpc => "GRPCRoute",
        };
        SpecProblem::new(at(field, route), format!("{kind} {}: {e}", route.name)).into()
    })
}
