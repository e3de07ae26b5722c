//! How the dashboard reaches each cluster: through its kubeconfig context
//! (from a laptop), with the pod's service account for the one cluster it
//! runs in (`--in-cluster <name>`), or through clients handed over by a
//! test. Clients are built once per context and kept.

use std::collections::HashMap;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::sync::Mutex;

use super::error::DashboardError;
use crate::config::Cluster;

/// How long connecting to a cluster may take before its page says so.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct ClusterClients {
    source: Source,
    built: Mutex<HashMap<String, Client>>,
}

enum Source {
    Kubeconfig {
        /// `None` when there is none to read: only `in_cluster` is reachable.
        kubeconfig: Option<Box<Kubeconfig>>,
        in_cluster: Option<String>,
    },
    /// By kubeconfig context name, as the config names clusters' contexts.
    Given(HashMap<String, Client>),
}

impl ClusterClients {
    /// KUBECONFIG (or ~/.kube/config), and the service account for the
    /// cluster named `in_cluster`.
    pub fn from_environment(in_cluster: Option<String>) -> Self {
        Self {
            source: Source::Kubeconfig {
                kubeconfig: Kubeconfig::read().ok().map(Box::new),
                in_cluster,
            },
            built: Mutex::new(HashMap::new()),
        }
    }

    /// Clients by kubeconfig context name (tests, benchmarks).
    pub fn given(clients: HashMap<String, Client>) -> Self {
        Self {
            source: Source::Given(clients),
            built: Mutex::new(HashMap::new()),
        }
    }

    pub async fn client(&self, cluster: &Cluster) -> Result<Client, DashboardError> {
        let unreachable = |message: String| DashboardError::Unreachable {
            cluster: cluster.name.clone(),
            message,
        };
        let (kubeconfig, in_cluster) = match &self.source {
            Source::Given(clients) => {
                return clients.get(&cluster.context).cloned().ok_or_else(|| {
                    unreachable(format!("no client for context `{}`", cluster.context))
                });
            }
            Source::Kubeconfig {
                kubeconfig,
                in_cluster,
            } => (kubeconfig, in_cluster),
        };
        let key = if in_cluster.as_deref() == Some(cluster.name.as_str()) {
            format!("in-cluster:{}", cluster.name)
        } else {
            cluster.context.clone()
        };
        let mut built = self.built.lock().await;
        if let Some(client) = built.get(&key) {
            return Ok(client.clone());
        }
        let mut config = if in_cluster.as_deref() == Some(cluster.name.as_str()) {
            Config::incluster().map_err(|e| unreachable(format!("in-cluster config: {e}")))?
        } else {
            let Some(kubeconfig) = kubeconfig else {
                return Err(unreachable(
                    "no kubeconfig to read (set KUBECONFIG, or --in-cluster for the cluster the dashboard runs in)".into(),
                ));
            };
            let options = KubeConfigOptions {
                context: Some(cluster.context.clone()),
                cluster: None,
                user: None,
            };
            Config::from_custom_kubeconfig(Kubeconfig::clone(kubeconfig), &options)
                .await
                .map_err(|e| {
                    unreachable(format!(
                        "kubeconfig context `{}` cannot be used: {e}",
                        cluster.context
                    ))
                })?
        };
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.default_namespace = cluster.namespace.clone();
        let client = Client::try_from(config)
            .map_err(|e| unreachable(format!("cannot build a client: {e}")))?;
        built.insert(key, client.clone());
        Ok(client)
    }
}
