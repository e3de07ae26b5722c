//! One cluster of an environment: its client, or why there is none, and
//! the API resources discovered on it so far.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::Client;
use kube::config::Kubeconfig;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};

use super::client::client_for;
use super::discovery::discover;
use crate::config::Cluster;
use crate::deploy::target::TargetError;

/// One cluster of an environment, reached through its kubeconfig context.
pub struct KubeCluster {
    pub(super) cluster: Cluster,
    client: Result<Client, String>,
    /// Discovered API resources by (apiVersion, kind).
    resources: Mutex<HashMap<(String, String), (ApiResource, bool)>>,
}

impl KubeCluster {
    /// A client for the cluster's context. A context that cannot be used is
    /// kept as a problem for preflight to report with the others.
    pub async fn connect(kubeconfig: &Kubeconfig, cluster: &Cluster) -> Self {
        Self {
            cluster: cluster.clone(),
            client: client_for(kubeconfig, cluster).await,
            resources: Mutex::new(HashMap::new()),
        }
    }

    /// A cluster that cannot be reached at all; preflight says why.
    pub fn unreachable(cluster: &Cluster, why: String) -> Self {
        Self {
            cluster: cluster.clone(),
            client: Err(why),
            resources: Mutex::new(HashMap::new()),
        }
    }

    /// A cluster served by an already built client (tests, benchmarks).
    pub fn with_client(cluster: &Cluster, client: Client) -> Self {
        Self {
            cluster: cluster.clone(),
            client: Ok(client),
            resources: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn client(&self) -> Result<&Client, TargetError> {
        self.client.as_ref().map_err(|message| self.error(message))
    }

    pub(super) fn error(&self, message: impl std::fmt::Display) -> TargetError {
        TargetError::Cluster {
            cluster: self.cluster.name.clone(),
            message: message.to_string(),
        }
    }

    pub(super) fn remember(
        &self,
        api_version: &str,
        kind: &str,
        resource: &ApiResource,
        caps: &ApiCapabilities,
    ) {
        let namespaced = caps.scope == Scope::Namespaced;
        if let Ok(mut resources) = self.resources.lock() {
            resources.insert(
                (api_version.to_owned(), kind.to_owned()),
                (resource.clone(), namespaced),
            );
        }
    }

    /// The discovered resource for a kind, discovering it on first use.
    pub(super) async fn resource(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, bool), TargetError> {
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(found) = self
            .resources
            .lock()
            .ok()
            .and_then(|r| r.get(&key).cloned())
        {
            return Ok(found);
        }
        let (resource, caps) = discover(self.client()?, api_version, kind)
            .await
            .map_err(|message| self.error(message))?;
        self.remember(api_version, kind, &resource, &caps);
        Ok((resource, caps.scope == Scope::Namespaced))
    }
}
