//! `spec.strategy.canary.trafficRouting`: how the canary's weight reaches
//! users. Field names and meanings are Argo Rollouts' (NGINX, Gateway API
//! natively or as Argo's `argoproj-labs/gatewayAPI` plugin configures it,
//! Istio, SMI, AWS ALB), so an Argo manifest runs as written; what a router
//! block sets that these types do not declare is reported by path.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRouting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nginx: Option<NginxTrafficRouting>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "gatewayAPI"
    )]
    pub gateway_api: Option<GatewayApiTrafficRouting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub istio: Option<IstioTrafficRouting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smi: Option<SmiTrafficRouting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alb: Option<AlbTrafficRouting>,
    /// Argo Rollouts' traffic router plugins; Conductor runs `argoproj-labs/gatewayAPI` natively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<TrafficRouterPlugins>,
    /// Routes `setHeaderRoute` and `setMirrorRoute` steps may create, in precedence order (the first matches first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_routes: Vec<ManagedRoute>,
    /// The total of the stable and canary weights (100 when unset); NGINX and Gateway API only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_traffic_weight: Option<i32>,
}

/// NGINX ingress: Conductor manages a canary copy of each stable Ingress with canary-weight annotations.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NginxTrafficRouting {
    /// The Ingress sending to the stable Service; or list several in `stableIngresses`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_ingress: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stable_ingresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_prefix: Option<String>,
    /// Annotations for the canary Ingresses, their keys under `annotationPrefix` (e.g. `canary-by-header`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_ingress_annotations: BTreeMap<String, String>,
    /// Annotations for the canary Ingresses, keys as written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub canary_ingress_annotations: BTreeMap<String, String>,
}

impl NginxTrafficRouting {
    /// Every stable Ingress, with the field that names it.
    pub fn ingresses(&self) -> Vec<(String, &str)> {
        let base = "spec.strategy.canary.trafficRouting.nginx";
        let mut named: Vec<(String, &str)> = self
            .stable_ingress
            .iter()
            .map(|name| (format!("{base}.stableIngress"), name.as_str()))
            .collect();
        named.extend(
            self.stable_ingresses
                .iter()
                .enumerate()
                .map(|(i, name)| (format!("{base}.stableIngresses[{i}]"), name.as_str())),
        );
        named
    }
}

/// Gateway API: Conductor sets the stable and canary backend weights in HTTPRoutes and GRPCRoutes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayApiTrafficRouting {
    /// One HTTPRoute; it also takes header and mirror routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_route: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_routes: Vec<GatewayRoute>,
    /// One GRPCRoute; it also takes header routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_route: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grpc_routes: Vec<GatewayRoute>,
    /// Namespace of the routes; the rollout's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRoute {
    pub name: String,
    /// Whether `setHeaderRoute` (and `setMirrorRoute`) steps add their rules to this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_header_routes: Option<bool>,
}

/// A Gateway API route a rollout weights, resolved from either form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRef<'a> {
    pub name: &'a str,
    /// Takes header and mirror routes.
    pub managed: bool,
    /// The field that names it.
    pub field: &'static str,
}

impl GatewayApiTrafficRouting {
    /// The HTTPRoutes, singular form first (as the plugin lists them).
    pub fn http_routes(&self) -> Vec<RouteRef<'_>> {
        routes(
            self.http_route.as_deref(),
            &self.http_routes,
            ("httpRoute", "httpRoutes"),
        )
    }

    pub fn grpc_routes(&self) -> Vec<RouteRef<'_>> {
        routes(
            self.grpc_route.as_deref(),
            &self.grpc_routes,
            ("grpcRoute", "grpcRoutes"),
        )
    }
}

fn routes<'a>(
    one: Option<&'a str>,
    many: &'a [GatewayRoute],
    (one_field, many_field): (&'static str, &'static str),
) -> Vec<RouteRef<'a>> {
    // The plugin adds the singular route after the list, with header
    // routes on; the order only decides which is written first.
    many.iter()
        .map(|r| RouteRef {
            name: r.name.as_str(),
            managed: r.use_header_routes.unwrap_or(false),
            field: many_field,
        })
        .chain(one.map(|name| RouteRef {
            name,
            managed: true,
            field: one_field,
        }))
        .collect()
}

/// Argo Rollouts' traffic router plugins Conductor implements itself.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TrafficRouterPlugins {
    /// Argo's Gateway API plugin, run as Conductor's `gatewayAPI` router.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "argoproj-labs/gatewayAPI"
    )]
    pub gateway_api: Option<GatewayApiTrafficRouting>,
}

/// Istio: Conductor sets the weights of VirtualService routes, and pins DestinationRule subsets to revisions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IstioTrafficRouting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_service: Option<IstioVirtualService>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_services: Vec<IstioVirtualService>,
    /// Subset-level splitting: the stable and canary subsets select the revisions' pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_rule: Option<IstioDestinationRule>,
}

impl IstioTrafficRouting {
    /// Every VirtualService, with the field that names it.
    pub fn virtual_services(&self) -> Vec<(String, &IstioVirtualService)> {
        let base = "spec.strategy.canary.trafficRouting.istio";
        let mut all: Vec<(String, &IstioVirtualService)> = self
            .virtual_service
            .iter()
            .map(|vs| (format!("{base}.virtualService"), vs))
            .collect();
        all.extend(
            self.virtual_services
                .iter()
                .enumerate()
                .map(|(i, vs)| (format!("{base}.virtualServices[{i}]"), vs)),
        );
        all
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IstioVirtualService {
    /// `name` or `namespace/name`.
    pub name: String,
    /// Named HTTP routes to weight; without any, the VirtualService's only (or only unnamed) HTTP route.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
    /// TLS routes to weight, by port and SNI hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_routes: Vec<IstioTlsRoute>,
    /// TCP routes to weight, by port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp_routes: Vec<IstioTcpRoute>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IstioTlsRoute {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sni_hosts: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IstioTcpRoute {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IstioDestinationRule {
    pub name: String,
    pub canary_subset_name: String,
    pub stable_subset_name: String,
    /// Subsets whose route weights Conductor leaves as they are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_subset_names: Vec<String>,
}

/// SMI: Conductor owns a TrafficSplit of the root Service between the stable and canary Services.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmiTrafficRouting {
    /// The Service clients call; the stable Service when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_service: Option<String>,
    /// The TrafficSplit's name; the rollout's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_split_name: Option<String>,
}

/// AWS ALB: Conductor writes the weighted forward action the AWS Load Balancer Controller reads from an Ingress annotation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlbTrafficRouting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingresses: Vec<String>,
    /// The Services' port the action forwards to.
    pub service_port: i32,
    /// The Service the Ingress rule names for the action; the stable Service when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stickiness_config: Option<StickinessConfig>,
}

impl AlbTrafficRouting {
    /// Every Ingress, with the field that names it.
    pub fn ingresses(&self) -> Vec<(String, &str)> {
        let base = "spec.strategy.canary.trafficRouting.alb";
        let mut named: Vec<(String, &str)> = self
            .ingress
            .iter()
            .map(|name| (format!("{base}.ingress"), name.as_str()))
            .collect();
        named.extend(
            self.ingresses
                .iter()
                .enumerate()
                .map(|(i, name)| (format!("{base}.ingresses[{i}]"), name.as_str())),
        );
        named
    }
}

/// Target-group stickiness for the forward action.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StickinessConfig {
    pub enabled: bool,
    pub duration_seconds: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedRoute {
    pub name: String,
}

/// Sends requests matching every header given to the canary; without `match`, removes the route.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetHeaderRoute {
    /// One of `trafficRouting.managedRoutes`.
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "match")]
    pub matches: Option<Vec<HeaderRoutingMatch>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderRoutingMatch {
    pub header_name: String,
    pub header_value: StringMatch,
}

/// Exactly one of `exact`, `prefix` or `regex`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StringMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// How a `StringMatch` matches, once checked to set exactly one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind<'a> {
    Exact(&'a str),
    Prefix(&'a str),
    Regex(&'a str),
}

impl StringMatch {
    /// The one way it matches; `None` when it sets none or several.
    pub fn kind(&self) -> Option<MatchKind<'_>> {
        match (&self.exact, &self.prefix, &self.regex) {
            (Some(v), None, None) => Some(MatchKind::Exact(v)),
            (None, Some(v), None) => Some(MatchKind::Prefix(v)),
            (None, None, Some(v)) => Some(MatchKind::Regex(v)),
            _ => None,
        }
    }
}

/// Mirrors a share of the requests matching any of `match` to the canary; without `match`, removes the route.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetMirrorRoute {
    /// One of `trafficRouting.managedRoutes`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "match")]
    pub matches: Option<Vec<RouteMatch>>,
    /// Percentage of the matching requests mirrored; 100 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<i32>,
}

/// Matches requests whose method, path and headers all match what is given.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
}
