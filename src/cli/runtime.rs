//! What commands take from the process they run in: a cluster from its
//! environment, the CAs HTTPS servers may be signed by, and the signals
//! that end a run.

use std::path::PathBuf;

use crate::analysis::providers::Trust;

/// The flag of every command that makes HTTPS requests (metric providers,
/// webhooks).
#[derive(Debug, clap::Args)]
pub struct TlsArgs {
    /// A PEM file of CA certificates HTTPS servers (metric providers,
    /// webhooks) may be signed by, besides the system's roots.
    #[arg(long, env = "CONDUCTOR_CA_BUNDLE", value_name = "PEM")]
    pub ca_bundle: Option<PathBuf>,
}

impl TlsArgs {
    pub fn trust(&self) -> Result<Trust, String> {
        Trust::load(self.ca_bundle.as_deref()).map_err(|e| format!("--ca-bundle: {e}"))
    }
}

/// The cluster from KUBECONFIG (or ~/.kube/config) or the pod's service
/// account; `context` picks a kubeconfig context other than the current one.
pub(super) async fn kube_client(context: Option<&str>) -> Result<kube::Client, String> {
    let Some(context) = context else {
        return kube::Client::try_default()
            .await
            .map_err(|e| format!("cannot reach a cluster (set KUBECONFIG or run in a pod): {e}"));
    };
    let options = kube::config::KubeConfigOptions {
        context: Some(context.to_owned()),
        ..Default::default()
    };
    let config = kube::Config::from_kubeconfig(&options)
        .await
        .map_err(|e| format!("kubeconfig context {context}: {e}"))?;
    kube::Client::try_from(config).map_err(|e| format!("kubeconfig context {context}: {e}"))
}

/// Ctrl-C or SIGTERM (a cancelled CI job).
pub(super) async fn interrupted() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
