//! Istio: the weights of the VirtualServices' routes (host-level: the
//! stable and canary Services as destinations; subset-level: the
//! DestinationRule's stable and canary subsets, whose pod label Conductor
//! pins to the revisions), and the managed header and mirror routes.

use kube::Client;
use serde_json::Value;

use super::istio_routes::{self, IstioSplit};
use super::split::{Split, missing};
use crate::crd::problem::SpecProblem;
use crate::crd::traffic::IstioTrafficRouting;
use crate::platform::kubernetes::lookups::Lookups;
use crate::platform::kubernetes::{HASH_LABEL, KubeError, writes};

const FIELD: &str = "spec.strategy.canary.trafficRouting.istio";

pub async fn apply(
    lookups: &Lookups,
    client: &Client,
    split: &Split<'_>,
    routing: &IstioTrafficRouting,
) -> Result<usize, KubeError> {
    let mut writes = 0;
    // The subsets first: a weight must never go to a subset that does not
    // select the revision yet.
    let mut canary_host = split.canary.map(str::to_owned);
    if let Some(rule) = &routing.destination_rule {
        let field = format!("{FIELD}.destinationRule.name");
        let Some(read) = lookups
            .destination_rule(&split.namespace, &rule.name)
            .await?
        else {
            return Err(missing(
                field,
                "DestinationRule",
                &rule.name,
                &split.namespace,
            ));
        };
        let problem = |e: istio_routes::IstioError| -> KubeError {
            SpecProblem::new(field.clone(), format!("DestinationRule {}: {e}", rule.name)).into()
        };
        let subsets = istio_routes::subsets(
            &read.list("subsets"),
            rule,
            HASH_LABEL,
            split.stable_hash,
            split.canary_hash,
        )
        .map_err(problem)?;
        if subsets != read.list("subsets") {
            writes +=
                usize::from(writes::pin_destination_rule_subsets(client, &read, &subsets).await?);
        }
        canary_host = read
            .spec
            .get("host")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(canary_host);
    }
    let managed = split.managed_names();
    let istio_split = IstioSplit {
        stable: split.stable,
        canary: split.canary,
        subsets: routing.destination_rule.as_ref(),
        canary_weight: split.canary_weight,
        total: split.total,
        managed: &managed,
        routes: split.routes,
        canary_host: canary_host.as_deref(),
    };
    for (field, config) in routing.virtual_services() {
        let field = format!("{field}.name");
        // `namespace/name` names a VirtualService of another namespace.
        let (namespace, name) = match config.name.split_once('/') {
            Some((namespace, name)) => (namespace, name),
            None => (split.namespace.as_str(), config.name.as_str()),
        };
        let Some(read) = lookups.virtual_service(namespace, name).await? else {
            return Err(missing(field, "VirtualService", name, namespace));
        };
        let changed = istio_routes::virtual_service(&read.spec, config, &istio_split).map_err(
            |e| -> KubeError {
                SpecProblem::new(field.clone(), format!("VirtualService {name}: {e}")).into()
            },
        )?;
        if !changed.is_empty() {
            writes +=
                usize::from(writes::set_virtual_service_routes(client, &read, changed).await?);
        }
    }
    Ok(writes)
}
