//! Service selectors: the stable and canary (active and preview) Services
//! pinned to the pod-template hashes the engine decided.

use kube::{Client, ResourceExt};

use crate::crd::rollout::{Rollout, RolloutStrategy};
use crate::engine::Desired;
use crate::platform::kubernetes::lookups::Lookups;
use crate::platform::kubernetes::{KubeError, writes};

/// A Service a strategy names, with its field.
type ServiceField<'a> = (Option<&'a str>, &'static str);

/// (stable or active, canary or preview).
pub(super) fn service_fields(strategy: &RolloutStrategy) -> (ServiceField<'_>, ServiceField<'_>) {
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

/// Pins every Service the strategy names; returns the number of writes.
pub async fn pin(
    lookups: &Lookups,
    client: &Client,
    rollout: &Rollout,
    desired: &Desired,
) -> Result<usize, KubeError> {
    let namespace = rollout.namespace().unwrap_or_default();
    let (stable_field, canary_field) = service_fields(&rollout.spec.strategy);
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
    Ok(writes)
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
        return Err(super::split::missing(field, "Service", name, namespace));
    };
    if service.hash.as_deref() == Some(hash) {
        return Ok(false);
    }
    writes::pin_service_selector(client, namespace, name, hash).await
}
