//! NGINX: for each stable Ingress a canary copy `<rollout>-<ingress>-canary`
//! sending to the canary Service, marked as NGINX's canary with the weight
//! (and `canary-weight-total` under `maxTrafficWeight`), plus the
//! annotations the rollout adds.

use std::collections::BTreeMap;

use kube::api::ObjectMeta;
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};

use super::split::{Split, missing};
use crate::crd::problem::SpecProblem;
use crate::crd::traffic::NginxTrafficRouting;
use crate::platform::kubernetes::lookups::Lookups;
use crate::platform::kubernetes::{KubeError, writes};

const NGINX_PREFIX: &str = "nginx.ingress.kubernetes.io";
/// Lists the annotation keys Conductor set on a canary Ingress, so one the
/// rollout stops asking for is noticed and released by the next apply.
const MANAGED_ANNOTATIONS: &str = "conductor.dev/managed-annotations";

pub fn canary_ingress_name(rollout: &str, stable_ingress: &str) -> String {
    format!("{rollout}-{stable_ingress}-canary")
}

pub async fn apply(
    lookups: &Lookups,
    client: &Client,
    split: &Split<'_>,
    routing: &NginxTrafficRouting,
) -> Result<usize, KubeError> {
    let mut writes = 0;
    for (field, stable_ingress) in routing.ingresses() {
        writes +=
            usize::from(canary(lookups, client, split, routing, &field, stable_ingress).await?);
    }
    Ok(writes)
}

/// The canary annotations: the rollout's own first, then `canary` and the
/// weights, which always win (as in Argo Rollouts).
fn annotations(split: &Split<'_>, routing: &NginxTrafficRouting) -> BTreeMap<String, String> {
    let prefix = routing.annotation_prefix.as_deref().unwrap_or(NGINX_PREFIX);
    let mut annotations = BTreeMap::new();
    for (key, value) in &routing.additional_ingress_annotations {
        let key = if key.starts_with(prefix) {
            key.clone()
        } else {
            format!("{prefix}/{key}")
        };
        annotations.insert(key, value.clone());
    }
    for (key, value) in &routing.canary_ingress_annotations {
        annotations.insert(key.clone(), value.clone());
    }
    annotations.insert(format!("{prefix}/canary"), "true".to_owned());
    annotations.insert(
        format!("{prefix}/canary-weight"),
        split.canary_weight.to_string(),
    );
    if split.routing.max_traffic_weight.is_some() {
        annotations.insert(
            format!("{prefix}/canary-weight-total"),
            split.total.to_string(),
        );
    }
    let keys: Vec<&str> = annotations.keys().map(String::as_str).collect();
    let listed = keys.join(",");
    annotations.insert(MANAGED_ANNOTATIONS.to_owned(), listed);
    annotations
}

async fn canary(
    lookups: &Lookups,
    client: &Client,
    split: &Split<'_>,
    routing: &NginxTrafficRouting,
    field: &str,
    stable_ingress: &str,
) -> Result<bool, KubeError> {
    let (stable, canary) = split.services()?;
    let namespace = &split.namespace;
    let Some(stable_view) = lookups.ingress(namespace, stable_ingress).await? else {
        return Err(missing(field, "Ingress", stable_ingress, namespace));
    };
    let mut spec = serde_json::to_value(&stable_view.spec).unwrap_or(Value::Null);
    if replace_service(&mut spec, stable, canary) == 0 {
        return Err(SpecProblem::new(
            field,
            format!("no backend of Ingress {stable_ingress} sends to the stable Service {stable}"),
        )
        .into());
    }
    let name = canary_ingress_name(&split.rollout.name_any(), stable_ingress);
    let annotations = annotations(split, routing);
    if let Some(existing) = lookups.ingress(namespace, &name).await? {
        let same_spec = serde_json::to_value(&existing.spec).unwrap_or(Value::Null) == spec;
        let same_annotations = annotations
            .iter()
            .all(|(k, v)| existing.annotations.get(k) == Some(v));
        if same_spec && same_annotations {
            return Ok(false);
        }
    }
    let owner = split
        .rollout
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
    writes::apply_canary_ingress(client, namespace, &name, &ingress).await
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
