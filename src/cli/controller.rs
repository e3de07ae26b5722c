//! `conductor controller`: the operator, as it runs in a pod.

use std::process::ExitCode;

use clap::ValueEnum;

use super::runtime::{TlsArgs, interrupted, kube_client};
use crate::platform::kubernetes::controller;
use crate::platform::kubernetes::leader::LeaseConfig;
use crate::platform::kubernetes::router_objects::SmiVersion;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The kubeconfig context to run against (outside a cluster); the
    /// current context when absent.
    #[arg(long)]
    context: Option<String>,
    /// Watch one namespace only; every namespace when absent.
    #[arg(long)]
    namespace: Option<String>,
    /// Where /metrics, /healthz and /readyz are served.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: std::net::SocketAddr,
    /// Run without a leader lease (only ever one replica).
    #[arg(long)]
    no_leader_election: bool,
    #[arg(long, default_value = "conductor-controller")]
    lease_name: String,
    /// The controller's own namespace: its lease, and the Datadog Secrets
    /// every team shares, are there.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// This replica's name in the lease; the pod name in a cluster.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,
    /// The TrafficSplit version SMI rollouts write (v1alpha1, v1alpha2 or
    /// v1alpha3), as Argo Rollouts' flag of the same name.
    #[arg(long, default_value = "v1alpha1")]
    traffic_split_api_version: SmiVersion,
    #[command(flatten)]
    tls: TlsArgs,
}

pub async fn run(args: Args) -> Result<ExitCode, String> {
    init_logs(args.log_format);
    let client = kube_client(args.context.as_deref()).await?;
    let identity = args.identity.unwrap_or_else(default_identity);
    let home_namespace = args.lease_namespace.clone();
    let lease = (!args.no_leader_election).then(|| LeaseConfig {
        namespace: args.lease_namespace,
        name: args.lease_name,
        identity,
        duration: std::time::Duration::from_secs(15),
        renew_every: std::time::Duration::from_secs(5),
    });
    let options = controller::Options {
        namespace: args.namespace,
        metrics_addr: Some(args.metrics_addr),
        lease,
        traffic_split_version: args.traffic_split_api_version,
        home_namespace,
        ca_bundle: args.tls.ca_bundle,
    };
    controller::run(client, options, interrupted(), |running| {
        if let Some(addr) = running.metrics_addr {
            tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

fn default_identity() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "conductor".into());
    format!("{host}-{}", std::process::id())
}

/// JSON lines for log collectors, or text for a terminal; `RUST_LOG` filters.
fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
