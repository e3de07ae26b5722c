//! What commands take from the process they run in: a cluster from its
//! environment, and the signals that end a run.

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
