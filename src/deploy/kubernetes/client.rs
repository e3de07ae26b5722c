//! A client for a cluster's kubeconfig context, with the deploy's timeouts.

use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::config::Cluster;

/// How long one request to a cluster may take.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A client for a cluster's kubeconfig context, with the deploy's
/// timeouts and the cluster's namespace; why not, in words.
pub async fn client_for(kubeconfig: &Kubeconfig, cluster: &Cluster) -> Result<Client, String> {
    let options = KubeConfigOptions {
        context: Some(cluster.context.clone()),
        cluster: None,
        user: None,
    };
    let mut config = Config::from_custom_kubeconfig(kubeconfig.clone(), &options)
        .await
        .map_err(|e| {
            format!(
                "kubeconfig context `{}` cannot be used: {e}",
                cluster.context
            )
        })?;
    config.connect_timeout = Some(REQUEST_TIMEOUT);
    config.read_timeout = Some(REQUEST_TIMEOUT);
    config.default_namespace = cluster.namespace.clone();
    Client::try_from(config).map_err(|e| format!("cannot build a client: {e}"))
}
