//! Which API resource serves a kind on a cluster, and why none does.

use kube::Client;
use kube::core::GroupVersion;
use kube::discovery::{ApiCapabilities, ApiResource, oneshot};

use super::client::REQUEST_TIMEOUT;

/// The API resource serving `kind` in `api_version`, from discovery.
pub async fn discover(
    client: &Client,
    api_version: &str,
    kind: &str,
) -> Result<(ApiResource, ApiCapabilities), String> {
    let gv: GroupVersion = api_version
        .parse()
        .map_err(|e| format!("apiVersion `{api_version}` of {kind}: {e}"))?;
    let not_served = || {
        let hint = if gv.group == "conductor.dev" {
            ": install Conductor's CRDs (helm install conductor charts/conductor)"
        } else if gv.group.is_empty() || !gv.group.contains('.') {
            ""
        } else {
            ": install the CRD that defines it"
        };
        format!("{kind} ({api_version}) is not served by this cluster{hint}")
    };
    let group =
        match tokio::time::timeout(REQUEST_TIMEOUT, oneshot::pinned_group(client, &gv)).await {
            Ok(Ok(group)) => group,
            Ok(Err(kube::Error::Api(status))) if status.code == 404 => return Err(not_served()),
            Ok(Err(e)) => return Err(format!("discovery of {api_version} failed: {e}")),
            Err(_) => return Err(format!("discovery of {api_version}: no answer in time")),
        };
    group
        .versioned_resources(&gv.version)
        .into_iter()
        .find(|(resource, _)| resource.kind == kind)
        .ok_or_else(not_served)
}
