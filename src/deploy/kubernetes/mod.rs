//! A cluster reached through a kubeconfig context: the deploy's writes go
//! through server-side apply under one field manager, so ownership of
//! every field is recorded and a deploy never fights the controller.
//!
//! ```text
//!   preflight: context ─▶ /version ─▶ discovery (every kind served) ─▶ controller lease ─▶ access reviews
//!   hooks:     pre-install/pre-upgrade/pre-rollback objects by weight: recreate ─▶ wait for the Job ─▶ clean up
//!   apply:     per object in install order: read ─▶ fence (deploy generation) ─▶ apply (rv precondition)
//!                 409 field conflict with a runtime controller ─▶ leave that field to it, apply the rest
//!              then prune what the previous deploy applied and this one does not
//!   health:    Rollouts through engine::outcome, Deployments as `kubectl rollout status`
//! ```

mod apply;
mod health;
mod hooks;
mod preflight;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use kube::{Client, Config};

use super::hooks::Hook;
use super::target::{Applied, ClusterTarget, Health, HookStatus, Release, TargetError};
use crate::config::Cluster;
use crate::gitops::ledger::ObjectRef;

/// Field manager of every deploy write.
pub const FIELD_MANAGER: &str = "conductor-deploy";
/// On every applied object: which service's deploys own it, so prune
/// never touches anything else.
pub const DEPLOYED_BY_LABEL: &str = "conductor.dev/deployed-by";
pub const ENVIRONMENT_LABEL: &str = "conductor.dev/environment";
/// The deploy generation an object was applied under; a deploy never
/// overwrites an object carrying a newer one.
pub const GENERATION_ANNOTATION: &str = "conductor.dev/deploy-generation";
/// The commit an object was applied from.
pub const COMMIT_ANNOTATION: &str = "conductor.dev/deploy-commit";

/// The deploy generation an object was applied under, if any.
fn deploy_generation<K: kube::Resource>(object: &K) -> Option<u64> {
    object
        .meta()
        .annotations
        .as_ref()?
        .get(GENERATION_ANNOTATION)?
        .parse()
        .ok()
}

/// Field managers that set fields at runtime: the controller's writers
/// (weights, selectors, replica scales, status) and the autoscaler's scale
/// writes. A deploy leaves the fields they own to them.
pub const RUNTIME_MANAGERS: [&str; 6] = [
    "conductor-status",
    "conductor-replicasets",
    "conductor-services",
    "conductor-router",
    "conductor-analysis",
    "kube-controller-manager",
];

/// The Lease the operator's leader renews (charts/conductor).
pub const CONTROLLER_LEASE: &str = "conductor-controller";

const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

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

/// One cluster of an environment, reached through its kubeconfig context.
pub struct KubeCluster {
    cluster: Cluster,
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

    fn client(&self) -> Result<&Client, TargetError> {
        self.client.as_ref().map_err(|message| self.error(message))
    }

    fn error(&self, message: impl std::fmt::Display) -> TargetError {
        TargetError::Cluster {
            cluster: self.cluster.name.clone(),
            message: message.to_string(),
        }
    }

    fn remember(
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
    async fn resource(
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
        let (resource, caps) = preflight::discover(self.client()?, api_version, kind)
            .await
            .map_err(|message| self.error(message))?;
        self.remember(api_version, kind, &resource, &caps);
        Ok((resource, caps.scope == Scope::Namespaced))
    }
}

impl ClusterTarget for KubeCluster {
    fn name(&self) -> &str {
        &self.cluster.name
    }

    async fn preflight(&self, release: &Release) -> Vec<String> {
        preflight::check(self, release).await
    }

    async fn apply(
        &self,
        release: &Release,
        previous: &[ObjectRef],
    ) -> Result<Applied, TargetError> {
        apply::apply(self, release, previous).await
    }

    async fn health(&self, release: &Release) -> Result<Health, TargetError> {
        health::health(self, release).await
    }

    async fn start_hook(&self, release: &Release, hook: &Hook) -> Result<Option<u64>, TargetError> {
        hooks::start(self, release, hook).await
    }

    async fn hook_status(&self, release: &Release, hook: &Hook) -> Result<HookStatus, TargetError> {
        hooks::status(self, release, hook).await
    }

    async fn finish_hook(
        &self,
        release: &Release,
        hook: &Hook,
        succeeded: bool,
    ) -> Result<(), TargetError> {
        hooks::finish(self, release, hook, succeeded).await
    }
}
