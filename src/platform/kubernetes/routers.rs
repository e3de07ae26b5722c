//! Apply: where traffic goes. Service selectors pin the stable and canary
//! (active and preview) pod-template hashes; a traffic router, when the
//! rollout names one, splits requests by weight: a Gateway API HTTPRoute's
//! backend weights or an NGINX canary Ingress. Without a router the split
//! is the replica ratio the ReplicaSets already give.

use std::collections::BTreeMap;

use kube::api::ObjectMeta;
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};

use super::lookups::Lookups;
use super::{KubeError, writes};
use crate::crd::problem::SpecProblem;
use crate::crd::rollout::{
    GatewayApiTrafficRouting, NginxTrafficRouting, Rollout, RolloutStrategy,
};
use crate::engine::Desired;

const NGINX_PREFIX: &str = "nginx.ingress.kubernetes.io";

/// A Service a strategy names, with its field.
type ServiceField<'a> = (Option<&'a str>, &'static str);

/// (stable or active, canary or preview).
fn service_fields(strategy: &RolloutStrategy) -> (ServiceField<'_>, ServiceField<'_>) {
    if let Some(canary) = &strategy.canary {
        (
            (
                canary.stable_service.as_deref(),
                "spec.strategy.canary.stableService",
            ),
            (
                canary.canary_service.as_deref(),
                "spec.strategy.canary.canaryService",
            ),
        )
    } else if let Some(bg) = &strategy.blue_green {
        (
            (
                Some(bg.active_service.as_str()),
                "spec.strategy.blueGreen.activeService",
            ),
            (
                bg.preview_service.as_deref(),
                "spec.strategy.blueGreen.previewService",
            ),
        )
    } else {
        ((None, "spec.strategy"), (None, "spec.strategy"))
    }
}

/// Makes Services and router weights what the decision says; returns the
/// number of writes; `KubeError::Spec` is a problem with the spec for the user.
pub async fn apply(
    lookups: &Lookups,
    client: &Client,
    rollout: &Rollout,
    desired: &Desired,
) -> Result<usize, KubeError> {
    let namespace = rollout.namespace().unwrap_or_default();
    let (stable_field, canary_field) = service_fields(&rollout.spec.strategy);
    let (stable_service, canary_service) = (stable_field.0, canary_field.0);
    let stable_hash = desired.stable_hash.as_deref();
    let canary_hash = desired.canary_hash.as_deref();
    let mut writes = 0;
    for ((service, field), hash) in [(stable_field, stable_hash), (canary_field, canary_hash)] {
        let (Some(service), Some(hash)) = (service, hash) else {
            continue;
        };
        writes +=
            usize::from(pin_service(lookups, client, &namespace, service, field, hash).await?);
    }
    let routing = rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .and_then(|c| c.traffic_routing.as_ref());
    let Some(routing) = routing else {
        return Ok(writes);
    };
    let (Some(stable), Some(canary)) = (stable_service, canary_service) else {
        return Err(SpecProblem::new(
            "spec.strategy.canary",
            "trafficRouting needs stableService and canaryService",
        )
        .into());
    };
    let weight = desired.canary_weight.clamp(0, 100);
    let routed = if let Some(gateway) = &routing.gateway_api {
        http_route(lookups, client, &namespace, gateway, stable, canary, weight).await?
    } else if let Some(nginx) = &routing.nginx {
        nginx_canary(lookups, client, rollout, nginx, stable, canary, weight).await?
    } else {
        false
    };
    Ok(writes + usize::from(routed))
}

/// Points Service `name` (named by `field`) at the pods of `hash`.
async fn pin_service(
    lookups: &Lookups,
    client: &Client,
    namespace: &str,
    name: &str,
    field: &str,
    hash: &str,
) -> Result<bool, KubeError> {
    let Some(service) = lookups.service(namespace, name).await? else {
        return Err(SpecProblem::new(field, format!("Service {name} not found")).into());
    };
    if service.hash.as_deref() == Some(hash) {
        return Ok(false);
    }
    writes::pin_service_selector(client, namespace, name, hash).await
}

/// Sets the stable and canary backend weights in every rule that sends
/// to the stable Service, adding the canary backend where it is missing.
async fn http_route(
    lookups: &Lookups,
    client: &Client,
    namespace: &str,
    routing: &GatewayApiTrafficRouting,
    stable: &str,
    canary: &str,
    weight: i32,
) -> Result<bool, KubeError> {
    let field = "spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute";
    let namespace = routing.namespace.as_deref().unwrap_or(namespace);
    let Some(route) = lookups.http_route(namespace, &routing.http_route).await? else {
        return Err(SpecProblem::new(
            field,
            format!("HTTPRoute {} not found in {namespace}", routing.http_route),
        )
        .into());
    };
    let mut rules = route.rules();
    let mut found = false;
    for rule in &mut rules {
        let Some(backends) = rule.get_mut("backendRefs").and_then(Value::as_array_mut) else {
            continue;
        };
        let Some(stable_ref) = backends
            .iter()
            .find(|b| b.get("name").and_then(Value::as_str) == Some(stable))
            .cloned()
        else {
            continue;
        };
        found = true;
        if !backends
            .iter()
            .any(|b| b.get("name").and_then(Value::as_str) == Some(canary))
        {
            let mut canary_ref = stable_ref;
            canary_ref["name"] = json!(canary);
            backends.push(canary_ref);
        }
        for backend in backends.iter_mut() {
            match backend.get("name").and_then(Value::as_str) {
                Some(name) if name == stable => backend["weight"] = json!(100 - weight),
                Some(name) if name == canary => backend["weight"] = json!(weight),
                _ => {}
            }
        }
    }
    if !found {
        return Err(SpecProblem::new(
            field,
            format!(
                "no rule of HTTPRoute {} sends to the stable Service {stable}",
                routing.http_route
            ),
        )
        .into());
    }
    if route.rules() == rules {
        return Ok(false);
    }
    writes::set_http_route_rules(client, &route, &rules).await
}

pub fn canary_ingress_name(rollout: &str, stable_ingress: &str) -> String {
    format!("{rollout}-{stable_ingress}-canary")
}

/// Keeps a copy of the stable Ingress that sends to the canary Service,
/// marked as NGINX's canary with the weight as an annotation.
async fn nginx_canary(
    lookups: &Lookups,
    client: &Client,
    rollout: &Rollout,
    routing: &NginxTrafficRouting,
    stable: &str,
    canary: &str,
    weight: i32,
) -> Result<bool, KubeError> {
    let field = "spec.strategy.canary.trafficRouting.nginx.stableIngress";
    let namespace = rollout.namespace().unwrap_or_default();
    let Some(stable_ingress) = lookups.ingress(&namespace, &routing.stable_ingress).await? else {
        return Err(SpecProblem::new(
            field,
            format!(
                "Ingress {} not found in {namespace}",
                routing.stable_ingress
            ),
        )
        .into());
    };
    let prefix = routing.annotation_prefix.as_deref().unwrap_or(NGINX_PREFIX);
    let mut spec = serde_json::to_value(&stable_ingress.spec).unwrap_or(Value::Null);
    let replaced = replace_service(&mut spec, stable, canary);
    if replaced == 0 {
        return Err(SpecProblem::new(
            field,
            format!(
                "no backend of Ingress {} sends to the stable Service {stable}",
                routing.stable_ingress
            ),
        )
        .into());
    }
    let name = canary_ingress_name(&rollout.name_any(), &routing.stable_ingress);
    let annotations = BTreeMap::from([
        (format!("{prefix}/canary"), "true".to_owned()),
        (format!("{prefix}/canary-weight"), weight.to_string()),
    ]);
    let existing = lookups.ingress(&namespace, &name).await?;
    if let Some(existing) = &existing {
        let same_spec = serde_json::to_value(&existing.spec).unwrap_or(Value::Null) == spec;
        let same_annotations = annotations
            .iter()
            .all(|(k, v)| existing.annotations.get(k) == Some(v));
        if same_spec && same_annotations {
            return Ok(false);
        }
    }
    let owner = rollout
        .controller_owner_ref(&())
        .ok_or_else(|| KubeError::Invalid("the rollout has no uid yet".into()))?;
    let ingress = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            annotations: Some(annotations),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        "spec": spec,
    });
    writes::apply_canary_ingress(client, &namespace, &name, &ingress).await
}

/// Points every `service.name == from` backend in an Ingress spec at `to`.
fn replace_service(value: &mut Value, from: &str, to: &str) -> usize {
    match value {
        Value::Object(map) => {
            let mut count = 0;
            if let Some(service) = map.get_mut("service")
                && service.get("name").and_then(Value::as_str) == Some(from)
            {
                service["name"] = json!(to);
                count += 1;
            }
            for (key, child) in map.iter_mut() {
                if key != "service" {
                    count += replace_service(child, from, to);
                }
            }
            count
        }
        Value::Array(items) => items
            .iter_mut()
            .map(|item| replace_service(item, from, to))
            .sum(),
        _ => 0,
    }
}
