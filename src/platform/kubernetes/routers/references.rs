//! Dereference: the objects a rollout's traffic goes through (its
//! Services, its routers' routes, Ingresses, VirtualServices and
//! DestinationRule) are looked up before anything is decided. A rollout
//! applied a moment before its route (as `kubectl apply -f` of a rendered
//! chart does) then waits for it, changing nothing, instead of applying
//! half a step and finding out at the router. The routers still report an
//! object gone between this look and their own.

use kube::ResourceExt;

use super::services::service_fields;
use crate::crd::rollout::Rollout;
use crate::crd::traffic::TrafficRouting;
use crate::engine::MissingReference;
use crate::platform::kubernetes::KubeError;
use crate::platform::kubernetes::lookups::Lookups;

/// Where Gateway API routing is configured, natively and as Argo's plugin.
pub const GATEWAY_FIELD: &str = "spec.strategy.canary.trafficRouting.gatewayAPI";
pub const PLUGIN_FIELD: &str =
    "spec.strategy.canary.trafficRouting.plugins.argoproj-labs/gatewayAPI";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Service,
    Ingress,
    HttpRoute,
    GrpcRoute,
    VirtualService,
    DestinationRule,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Service => "Service",
            Self::Ingress => "Ingress",
            Self::HttpRoute => "HTTPRoute",
            Self::GrpcRoute => "GRPCRoute",
            Self::VirtualService => "VirtualService",
            Self::DestinationRule => "DestinationRule",
        }
    }
}

/// An object the spec names, by the field that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    field: String,
    kind: Kind,
    namespace: String,
    name: String,
}

/// Every object the rollout's Services and routers need to exist, in the
/// order the routers read them.
fn named(rollout: &Rollout) -> Vec<Reference> {
    let namespace = rollout.namespace().unwrap_or_default();
    let at = |field: String, kind: Kind, namespace: &str, name: &str| Reference {
        field,
        kind,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    };
    let (stable, canary) = service_fields(&rollout.spec.strategy);
    let mut named: Vec<Reference> = [stable, canary]
        .into_iter()
        .filter_map(|(name, field)| Some(at(field.into(), Kind::Service, &namespace, name?)))
        .filter(|r| !r.name.is_empty())
        .collect();
    let routing = rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .and_then(|c| c.traffic_routing.as_ref());
    if let Some(routing) = routing {
        routed(routing, &namespace, &mut named);
    }
    named
}

fn routed(routing: &TrafficRouting, namespace: &str, named: &mut Vec<Reference>) {
    let at = |field: String, kind: Kind, namespace: &str, name: &str| Reference {
        field,
        kind,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    };
    if let Some(nginx) = &routing.nginx {
        for (field, name) in nginx.ingresses() {
            named.push(at(field, Kind::Ingress, namespace, name));
        }
    }
    let plugin = routing
        .plugins
        .as_ref()
        .and_then(|p| p.gateway_api.as_ref());
    for (gateway, base) in [
        (routing.gateway_api.as_ref(), GATEWAY_FIELD),
        (plugin, PLUGIN_FIELD),
    ] {
        let Some(gateway) = gateway else { continue };
        let route_namespace = gateway.namespace.as_deref().unwrap_or(namespace);
        for (routes, kind) in [
            (gateway.http_routes(), Kind::HttpRoute),
            (gateway.grpc_routes(), Kind::GrpcRoute),
        ] {
            for route in routes {
                let field = format!("{base}.{}", route.field);
                named.push(at(field, kind, route_namespace, route.name));
            }
        }
    }
    if let Some(istio) = &routing.istio {
        let base = "spec.strategy.canary.trafficRouting.istio";
        if let Some(rule) = &istio.destination_rule {
            let field = format!("{base}.destinationRule.name");
            named.push(at(field, Kind::DestinationRule, namespace, &rule.name));
        }
        for (field, config) in istio.virtual_services() {
            // `namespace/name` names a VirtualService of another namespace.
            let (vs_namespace, name) = config
                .name
                .split_once('/')
                .unwrap_or((namespace, config.name.as_str()));
            named.push(at(
                format!("{field}.name"),
                Kind::VirtualService,
                vs_namespace,
                name,
            ));
        }
    }
    if let Some(alb) = &routing.alb {
        for (field, name) in alb.ingresses() {
            named.push(at(field, Kind::Ingress, namespace, name));
        }
    }
}

/// The first object the rollout's traffic needs that is not there. A read
/// the API server refuses (an HTTPRoute on a cluster without Gateway API)
/// is the error [`KubeError::Refused`].
pub async fn first_missing(
    lookups: &Lookups,
    rollout: &Rollout,
) -> Result<Option<MissingReference>, KubeError> {
    for reference in named(rollout) {
        let (namespace, name) = (reference.namespace.as_str(), reference.name.as_str());
        let found = match reference.kind {
            Kind::Service => lookups.service(namespace, name).await?.is_some(),
            Kind::Ingress => lookups.ingress(namespace, name).await?.is_some(),
            Kind::HttpRoute => lookups.http_route(namespace, name).await?.is_some(),
            Kind::GrpcRoute => lookups.grpc_route(namespace, name).await?.is_some(),
            Kind::VirtualService => lookups.virtual_service(namespace, name).await?.is_some(),
            Kind::DestinationRule => lookups.destination_rule(namespace, name).await?.is_some(),
        };
        if !found {
            return Ok(Some(MissingReference {
                field: reference.field,
                kind: reference.kind.as_str().to_owned(),
                namespace: Some(reference.namespace),
                name: reference.name,
            }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_and_every_routers_objects_are_named_with_their_fields() {
        let rollout: Rollout = serde_json::from_value(serde_json::json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": { "name": "web", "namespace": "shop" },
            "spec": { "strategy": { "canary": {
                "stableService": "web-stable",
                "canaryService": "web-canary",
                "trafficRouting": {
                    "nginx": { "stableIngress": "web" },
                    "gatewayAPI": { "httpRoute": "web", "namespace": "edge" },
                    "istio": {
                        "virtualService": { "name": "mesh/web" },
                        "destinationRule": { "name": "web", "canarySubsetName": "c", "stableSubsetName": "s" }
                    }
                }
            } } }
        }))
        .expect("a rollout");
        let named: Vec<(String, &str, String, String)> = named(&rollout)
            .into_iter()
            .map(|r| (r.field, r.kind.as_str(), r.namespace, r.name))
            .collect();
        let canary = "spec.strategy.canary";
        let routing = "spec.strategy.canary.trafficRouting";
        assert_eq!(
            named,
            [
                (
                    format!("{canary}.stableService"),
                    "Service",
                    "shop",
                    "web-stable"
                ),
                (
                    format!("{canary}.canaryService"),
                    "Service",
                    "shop",
                    "web-canary"
                ),
                (
                    format!("{routing}.nginx.stableIngress"),
                    "Ingress",
                    "shop",
                    "web"
                ),
                (
                    format!("{routing}.gatewayAPI.httpRoute"),
                    "HTTPRoute",
                    "edge",
                    "web"
                ),
                (
                    format!("{routing}.istio.destinationRule.name"),
                    "DestinationRule",
                    "shop",
                    "web"
                ),
                (
                    format!("{routing}.istio.virtualService.name"),
                    "VirtualService",
                    "mesh",
                    "web"
                ),
            ]
            .map(|(f, k, ns, n)| (f, k, ns.to_owned(), n.to_owned()))
        );
    }
}
