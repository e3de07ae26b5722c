//! `trafficRouting` checked: which routers, what the weights add up to,
//! which managed routes the steps may set, and whether the routers can
//! make them. Every combination Conductor cannot run as written is a
//! problem naming the field, never a quietly different rollout.

use super::desired::RouteKind;
use crate::crd::problem::SpecProblem;
use crate::crd::rollout::CanaryStrategy;
use crate::crd::traffic::{
    GatewayApiTrafficRouting, HeaderRoutingMatch, RouteMatch, SetHeaderRoute, SetMirrorRoute,
    StringMatch, TrafficRouting,
};

const BASE: &str = "spec.strategy.canary.trafficRouting";
/// Istio's `mirrorPercentage` and Gateway API's `percent` are percentages.
const FULL_MIRROR: i32 = 100;
/// AWS's limits on target-group stickiness.
const STICKINESS_SECONDS: std::ops::RangeInclusive<i64> = 1..=604_800;

/// What the engine needs of a checked `trafficRouting`.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    /// What the stable and canary weights add up to.
    pub max_weight: i32,
    /// `managedRoutes`, in precedence order.
    pub managed_routes: Vec<String>,
    /// Why header routes cannot be made: a router that cannot make them.
    header_blocker: Option<&'static str>,
    /// Why mirror routes cannot be made.
    mirror_blocker: Option<&'static str>,
    /// The Services are optional only for Istio's subset-level splitting.
    pub needs_services: bool,
}

/// `Ok(None)` without `trafficRouting` (replica-ratio canary).
pub fn check(canary: &CanaryStrategy) -> Result<Option<Routing>, SpecProblem> {
    let Some(routing) = &canary.traffic_routing else {
        return Ok(None);
    };
    let gateway = gateway(routing)?;
    let present = [
        routing.nginx.is_some(),
        gateway.is_some(),
        routing.istio.is_some(),
        routing.smi.is_some(),
        routing.alb.is_some(),
    ];
    if !present.contains(&true) {
        // Not replica ratio: the user asked for a router and named none
        // Conductor knows.
        return Err(SpecProblem::new(
            BASE,
            "set a router (nginx, gatewayAPI, istio, smi, alb or plugins.argoproj-labs/gatewayAPI), \
             or remove trafficRouting for replica-ratio routing",
        ));
    }
    check_nginx(routing)?;
    if let Some((gateway, field)) = &gateway {
        check_gateway(gateway, field)?;
    }
    check_istio(routing)?;
    check_alb(routing)?;
    let max_weight = max_weight(routing)?;
    let managed_routes = managed_routes(routing)?;
    // A router that cannot make a header or mirror route would leave its
    // share of the traffic without it: the rollout would run otherwise.
    let blocker = || {
        [
            (routing.nginx.is_some(), "nginx"),
            (routing.smi.is_some(), "smi"),
            (routing.alb.is_some(), "alb"),
        ]
        .into_iter()
        .find_map(|(set, name)| set.then_some(name))
    };
    let grpc_managed = gateway
        .as_ref()
        .is_some_and(|(g, _)| g.grpc_routes().iter().any(|r| r.managed));
    let istio_subsets = routing
        .istio
        .as_ref()
        .is_some_and(|i| i.destination_rule.is_some());
    Ok(Some(Routing {
        max_weight,
        managed_routes,
        header_blocker: blocker(),
        mirror_blocker: blocker().or(grpc_managed.then_some("a GRPCRoute")),
        needs_services: !(istio_subsets && present.iter().filter(|p| **p).count() == 1),
    }))
}

fn problem(field: impl Into<String>, message: impl std::fmt::Display) -> SpecProblem {
    SpecProblem::new(field, message)
}

/// The Gateway API router, written natively or as Argo's plugin, with its field.
fn gateway(
    routing: &TrafficRouting,
) -> Result<Option<(&GatewayApiTrafficRouting, String)>, SpecProblem> {
    let plugin = routing
        .plugins
        .as_ref()
        .and_then(|p| p.gateway_api.as_ref());
    match (&routing.gateway_api, plugin) {
        (Some(_), Some(_)) => Err(problem(
            BASE,
            "set gatewayAPI or plugins.argoproj-labs/gatewayAPI, not both: they are one router",
        )),
        (Some(native), None) => Ok(Some((native, format!("{BASE}.gatewayAPI")))),
        (None, Some(plugin)) => Ok(Some((
            plugin,
            format!("{BASE}.plugins.argoproj-labs/gatewayAPI"),
        ))),
        (None, None) => Ok(None),
    }
}

fn named(names: &[(String, &str)], field: &str, what: &str) -> Result<(), SpecProblem> {
    if names.is_empty() {
        return Err(problem(field, format!("name {what}")));
    }
    match names.iter().find(|(_, name)| name.is_empty()) {
        Some((field, _)) => Err(problem(field.clone(), "must not be empty")),
        None => Ok(()),
    }
}

fn check_nginx(routing: &TrafficRouting) -> Result<(), SpecProblem> {
    let Some(nginx) = &routing.nginx else {
        return Ok(());
    };
    let field = format!("{BASE}.nginx");
    if nginx.stable_ingress.is_some() && !nginx.stable_ingresses.is_empty() {
        return Err(problem(
            field,
            "set stableIngress or stableIngresses, not both",
        ));
    }
    named(
        &nginx.ingresses(),
        &field,
        "the stable Ingress in stableIngress or stableIngresses",
    )
}

fn check_gateway(gateway: &GatewayApiTrafficRouting, field: &str) -> Result<(), SpecProblem> {
    let routes: Vec<(String, &str)> = gateway
        .http_routes()
        .into_iter()
        .chain(gateway.grpc_routes())
        .map(|r| (format!("{field}.{}", r.field), r.name))
        .collect();
    named(
        &routes,
        field,
        "a route in httpRoute, httpRoutes, grpcRoute or grpcRoutes",
    )
}

fn check_istio(routing: &TrafficRouting) -> Result<(), SpecProblem> {
    let Some(istio) = &routing.istio else {
        return Ok(());
    };
    let field = format!("{BASE}.istio");
    if istio.virtual_service.is_some() != istio.virtual_services.is_empty() {
        return Err(problem(
            field,
            "set virtualService or virtualServices, one of them",
        ));
    }
    let names: Vec<(String, &str)> = istio
        .virtual_services()
        .into_iter()
        .map(|(field, vs)| (format!("{field}.name"), vs.name.as_str()))
        .collect();
    named(&names, &field, "a VirtualService")?;
    if let Some(rule) = &istio.destination_rule {
        let field = format!("{field}.destinationRule");
        for (name, value) in [
            ("name", &rule.name),
            ("canarySubsetName", &rule.canary_subset_name),
            ("stableSubsetName", &rule.stable_subset_name),
        ] {
            if value.is_empty() {
                return Err(problem(format!("{field}.{name}"), "must not be empty"));
            }
        }
        if rule.canary_subset_name == rule.stable_subset_name {
            return Err(problem(
                field,
                "canarySubsetName and stableSubsetName must differ",
            ));
        }
    }
    Ok(())
}

fn check_alb(routing: &TrafficRouting) -> Result<(), SpecProblem> {
    let Some(alb) = &routing.alb else {
        return Ok(());
    };
    let field = format!("{BASE}.alb");
    if alb.ingress.is_some() && !alb.ingresses.is_empty() {
        return Err(problem(field, "set ingress or ingresses, not both"));
    }
    named(
        &alb.ingresses(),
        &field,
        "the Ingress in ingress or ingresses",
    )?;
    if !(1..=65535).contains(&alb.service_port) {
        return Err(problem(
            format!("{field}.servicePort"),
            format!("{} is not a port", alb.service_port),
        ));
    }
    if let Some(sticky) = &alb.stickiness_config
        && sticky.enabled
        && !STICKINESS_SECONDS.contains(&sticky.duration_seconds)
    {
        return Err(problem(
            format!("{field}.stickinessConfig.durationSeconds"),
            format!(
                "{} is outside 1..=604800 (AWS's limits)",
                sticky.duration_seconds
            ),
        ));
    }
    Ok(())
}

fn max_weight(routing: &TrafficRouting) -> Result<i32, SpecProblem> {
    let Some(max) = routing.max_traffic_weight else {
        return Ok(100);
    };
    let field = format!("{BASE}.maxTrafficWeight");
    if max <= 0 {
        return Err(problem(field, format!("{max} must be positive")));
    }
    // Istio and ALB take percentages; Argo Rollouts allows another total
    // with NGINX and plugins only, and so does Conductor.
    let percent_only = [
        (routing.istio.is_some(), "istio"),
        (routing.smi.is_some(), "smi"),
        (routing.alb.is_some(), "alb"),
    ]
    .into_iter()
    .find_map(|(set, name)| set.then_some(name));
    match percent_only {
        Some(router) if max != 100 => Err(problem(
            field,
            format!(
                "{router} weights are percentages: only nginx and Gateway API take another total"
            ),
        )),
        _ => Ok(max),
    }
}

fn managed_routes(routing: &TrafficRouting) -> Result<Vec<String>, SpecProblem> {
    let mut names: Vec<String> = Vec::with_capacity(routing.managed_routes.len());
    for (i, route) in routing.managed_routes.iter().enumerate() {
        let field = format!("{BASE}.managedRoutes[{i}].name");
        if route.name.is_empty() {
            return Err(problem(field, "must not be empty"));
        }
        if names.contains(&route.name) {
            return Err(problem(field, format!("`{}` is listed twice", route.name)));
        }
        names.push(route.name.clone());
    }
    Ok(names)
}

/// A `setHeaderRoute` step: the route it sets, or `None` to remove it.
pub fn header_step(
    step: &SetHeaderRoute,
    field: &str,
    routing: Option<&Routing>,
) -> Result<(String, Option<RouteKind>), SpecProblem> {
    let field = format!("{field}.setHeaderRoute");
    managed(
        &step.name,
        &field,
        routing,
        |r| r.header_blocker,
        "by header",
    )?;
    let Some(matches) = &step.matches else {
        return Ok((step.name.clone(), None));
    };
    non_empty(matches, &field)?;
    for (j, m) in matches.iter().enumerate() {
        let at = format!("{field}.match[{j}]");
        if m.header_name.is_empty() {
            return Err(problem(format!("{at}.headerName"), "must not be empty"));
        }
        one_way(&m.header_value, &format!("{at}.headerValue"))?;
    }
    let matches: Vec<HeaderRoutingMatch> = matches.clone();
    Ok((step.name.clone(), Some(RouteKind::Header(matches))))
}

/// A `setMirrorRoute` step: the route it sets, or `None` to remove it.
pub fn mirror_step(
    step: &SetMirrorRoute,
    field: &str,
    routing: Option<&Routing>,
) -> Result<(String, Option<RouteKind>), SpecProblem> {
    let field = format!("{field}.setMirrorRoute");
    managed(&step.name, &field, routing, |r| r.mirror_blocker, "mirror")?;
    let percentage = step.percentage.unwrap_or(FULL_MIRROR);
    if !(0..=FULL_MIRROR).contains(&percentage) {
        return Err(problem(
            format!("{field}.percentage"),
            format!("{percentage} is outside 0..=100"),
        ));
    }
    let Some(matches) = &step.matches else {
        return Ok((step.name.clone(), None));
    };
    non_empty(matches, &field)?;
    for (j, m) in matches.iter().enumerate() {
        let at = format!("{field}.match[{j}]");
        if m.method.is_none() && m.path.is_none() && m.headers.is_empty() {
            return Err(problem(
                at,
                "set method, path or headers: an empty match would mirror every request",
            ));
        }
        for (name, value) in [("method", &m.method), ("path", &m.path)] {
            if let Some(value) = value {
                one_way(value, &format!("{at}.{name}"))?;
            }
        }
        for (name, value) in &m.headers {
            one_way(value, &format!("{at}.headers.{name}"))?;
        }
    }
    let matches: Vec<RouteMatch> = matches.clone();
    Ok((
        step.name.clone(),
        Some(RouteKind::Mirror {
            matches,
            percentage,
        }),
    ))
}

/// The step's route is one `managedRoutes` lists, on routers that can make it.
fn managed(
    name: &str,
    field: &str,
    routing: Option<&Routing>,
    blocker: impl Fn(&Routing) -> Option<&'static str>,
    how: &str,
) -> Result<(), SpecProblem> {
    let Some(routing) = routing else {
        return Err(problem(
            field,
            "needs trafficRouting with istio or Gateway API",
        ));
    };
    if let Some(router) = blocker(routing) {
        return Err(problem(
            field,
            format!(
                "{router} cannot route {how}: managed routes need istio or Gateway API HTTPRoutes as the only routers"
            ),
        ));
    }
    if !routing.managed_routes.iter().any(|m| m == name) {
        return Err(problem(
            format!("{field}.name"),
            format!("`{name}` is not one of {BASE}.managedRoutes"),
        ));
    }
    Ok(())
}

fn non_empty<T>(matches: &[T], field: &str) -> Result<(), SpecProblem> {
    if matches.is_empty() {
        // An empty list would match every request: to remove the route,
        // leave `match` out, as Argo Rollouts reads it.
        return Err(problem(
            format!("{field}.match"),
            "is empty: leave it out to remove the route",
        ));
    }
    Ok(())
}

fn one_way(value: &StringMatch, field: &str) -> Result<(), SpecProblem> {
    match value.kind() {
        Some(_) => Ok(()),
        None => Err(problem(field, "set exactly one of exact, prefix or regex")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary(routing: serde_json::Value, steps: serde_json::Value) -> CanaryStrategy {
        serde_json::from_value(serde_json::json!({
            "canaryService": "c", "stableService": "s",
            "trafficRouting": routing, "steps": steps,
        }))
        .unwrap()
    }

    fn checked(routing: serde_json::Value) -> Result<Routing, String> {
        check(&canary(routing, serde_json::json!([])))
            .map(Option::unwrap)
            .map_err(|p| p.to_string())
    }

    #[test]
    fn each_router_names_what_it_lacks() {
        assert_eq!(
            checked(serde_json::json!({"nginx": {}})).unwrap_err(),
            "spec.strategy.canary.trafficRouting.nginx: name the stable Ingress in stableIngress or stableIngresses"
        );
        assert_eq!(
            checked(serde_json::json!({"istio": {"virtualService": {"name": "vs"}, "virtualServices": [{"name": "b"}]}}))
                .unwrap_err(),
            "spec.strategy.canary.trafficRouting.istio: set virtualService or virtualServices, one of them"
        );
        assert_eq!(
            checked(serde_json::json!({"alb": {"ingress": "i", "servicePort": 0}})).unwrap_err(),
            "spec.strategy.canary.trafficRouting.alb.servicePort: 0 is not a port"
        );
        assert_eq!(
            checked(serde_json::json!({
                "gatewayAPI": {"httpRoute": "r"},
                "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "r"}},
            }))
            .unwrap_err(),
            "spec.strategy.canary.trafficRouting: set gatewayAPI or plugins.argoproj-labs/gatewayAPI, not both: they are one router"
        );
        assert_eq!(
            checked(serde_json::json!({"istio": {"virtualService": {"name": "vs"}}, "maxTrafficWeight": 1000}))
                .unwrap_err(),
            "spec.strategy.canary.trafficRouting.maxTrafficWeight: istio weights are percentages: only nginx and Gateway API take another total"
        );
        let plugin = checked(serde_json::json!({
            "plugins": {"argoproj-labs/gatewayAPI": {"httpRoutes": [{"name": "a"}], "grpcRoute": "g"}},
            "maxTrafficWeight": 1000,
        }))
        .unwrap();
        assert_eq!(plugin.max_weight, 1000);
        assert_eq!(plugin.mirror_blocker, Some("a GRPCRoute"));
        assert_eq!(plugin.header_blocker, None);
    }

    #[test]
    fn subset_level_istio_alone_needs_no_services() {
        let subsets = serde_json::json!({"istio": {
            "virtualService": {"name": "vs"},
            "destinationRule": {"name": "dr", "canarySubsetName": "canary", "stableSubsetName": "stable"},
        }});
        assert!(!checked(subsets).unwrap().needs_services);
        assert!(
            checked(serde_json::json!({"istio": {"virtualService": {"name": "vs"}}}))
                .unwrap()
                .needs_services
        );
    }

    #[test]
    fn route_steps_need_a_listed_route_a_router_that_makes_it_and_one_way_to_match() {
        let routing = checked(serde_json::json!({
            "managedRoutes": [{"name": "beta"}],
            "istio": {"virtualService": {"name": "vs"}},
        }))
        .unwrap();
        let header = |step: serde_json::Value, routing: Option<&Routing>| {
            header_step(
                &serde_json::from_value(step).unwrap(),
                "spec.strategy.canary.steps[0]",
                routing,
            )
            .map_err(|p| p.to_string())
        };
        assert_eq!(
            header(serde_json::json!({"name": "beta"}), Some(&routing)),
            Ok(("beta".into(), None))
        );
        assert_eq!(
            header(serde_json::json!({"name": "alpha"}), Some(&routing)).unwrap_err(),
            "spec.strategy.canary.steps[0].setHeaderRoute.name: `alpha` is not one of spec.strategy.canary.trafficRouting.managedRoutes"
        );
        assert_eq!(
            header(
                serde_json::json!({"name": "beta", "match": [{"headerName": "x", "headerValue": {"exact": "1", "regex": "."}}]}),
                Some(&routing)
            )
            .unwrap_err(),
            "spec.strategy.canary.steps[0].setHeaderRoute.match[0].headerValue: set exactly one of exact, prefix or regex"
        );
        assert_eq!(
            header(
                serde_json::json!({"name": "beta", "match": []}),
                Some(&routing)
            )
            .unwrap_err(),
            "spec.strategy.canary.steps[0].setHeaderRoute.match: is empty: leave it out to remove the route"
        );
        let nginx = checked(serde_json::json!({
            "managedRoutes": [{"name": "beta"}],
            "istio": {"virtualService": {"name": "vs"}},
            "nginx": {"stableIngress": "web"},
        }))
        .unwrap();
        assert_eq!(
            header(serde_json::json!({"name": "beta"}), Some(&nginx)).unwrap_err(),
            "spec.strategy.canary.steps[0].setHeaderRoute: nginx cannot route by header: managed routes need istio or Gateway API HTTPRoutes as the only routers"
        );
        let mirror = mirror_step(
            &serde_json::from_value(serde_json::json!({"name": "beta", "percentage": 30, "match": [{"method": {"exact": "GET"}}]}))
                .unwrap(),
            "spec.strategy.canary.steps[1]",
            Some(&routing),
        )
        .unwrap();
        assert!(matches!(
            mirror.1,
            Some(RouteKind::Mirror { percentage: 30, .. })
        ));
    }
}
