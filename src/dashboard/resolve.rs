//! From a URL's names to what they mean: the service's config, the
//! environment and cluster in it, and for a Rollout the namespace the
//! ledger recorded it in (else the cluster's namespace).

use super::error::DashboardError;
use super::rollout_page::Place;
use super::state::Dashboard;
use crate::config::{self, Cluster, Service};

pub struct Target {
    pub service: Service,
    pub environment: String,
    pub cluster: Cluster,
}

pub fn service(dashboard: &Dashboard, name: &str) -> Result<Service, DashboardError> {
    Ok(config::load_service(&dashboard.repo, name)?)
}

pub fn target(
    dashboard: &Dashboard,
    service: &str,
    environment: &str,
    cluster: &str,
) -> Result<Target, DashboardError> {
    let service = self::service(dashboard, service)?;
    let env = service.environment(environment)?;
    let cluster = env.cluster(&service.file, cluster)?.clone();
    Ok(Target {
        environment: env.name.clone(),
        service,
        cluster,
    })
}

/// Where the Rollout `name` of `target` lives. A ledger that cannot be
/// read only costs the recorded namespace: the live page still works.
pub async fn place(dashboard: &Dashboard, target: &Target, name: &str) -> Place {
    let recorded = dashboard
        .ledgers
        .environment(&dashboard.repo, &target.service, &target.environment)
        .await
        .ok()
        .and_then(|snapshot| {
            let record = snapshot.clusters.get(&target.cluster.name)?.clone();
            record
                .applied
                .objects
                .into_iter()
                .find(|o| o.kind == "Rollout" && o.name == name)
                .and_then(|o| o.namespace)
        });
    Place {
        service: target.service.name.clone(),
        environment: target.environment.clone(),
        cluster: target.cluster.name.clone(),
        namespace: recorded.unwrap_or_else(|| target.cluster.namespace.clone()),
        name: name.to_owned(),
    }
}
