//! SMI: a TrafficSplit of the root Service between the canary and stable
//! Services, which the rollout owns: Conductor creates it when absent (as
//! Argo Rollouts does) and refuses to take over one it does not own.

use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use super::split::Split;
use crate::crd::problem::SpecProblem;
use crate::crd::traffic::SmiTrafficRouting;
use crate::platform::kubernetes::lookups::Lookups;
use crate::platform::kubernetes::{KubeError, writes};

const FIELD: &str = "spec.strategy.canary.trafficRouting.smi";

pub async fn apply(
    lookups: &Lookups,
    client: &Client,
    split: &Split<'_>,
    routing: &SmiTrafficRouting,
) -> Result<usize, KubeError> {
    let (stable, canary) = split.services()?;
    let rollout = split.rollout.name_any();
    let name = routing.traffic_split_name.as_deref().unwrap_or(&rollout);
    let root = routing.root_service.as_deref().unwrap_or(stable);
    // Argo Rollouts' order: the canary first, then stable.
    let spec = json!({
        "service": root,
        "backends": [
            { "service": canary, "weight": split.canary_weight },
            { "service": stable, "weight": split.stable_weight() },
        ],
    });
    let uid = split.rollout.uid().unwrap_or_default();
    if let Some(existing) = lookups.traffic_split(&split.namespace, name).await? {
        if existing.controller.as_deref() != Some(uid.as_str()) {
            return Err(SpecProblem::new(
                format!("{FIELD}.trafficSplitName"),
                format!("TrafficSplit {name} exists and this rollout does not own it"),
            )
            .into());
        }
        if existing.spec == spec {
            return Ok(0);
        }
    }
    let owner = split
        .rollout
        .controller_owner_ref(&())
        .ok_or_else(|| KubeError::Invalid("the rollout has no uid yet".into()))?;
    let resource = lookups.traffic_split_resource();
    let body = json!({
        "apiVersion": resource.api_version,
        "kind": "TrafficSplit",
        "metadata": { "name": name, "namespace": split.namespace, "ownerReferences": [owner] },
        "spec": spec,
    });
    Ok(usize::from(
        writes::apply_traffic_split(client, &resource, &split.namespace, name, &body).await?,
    ))
}
