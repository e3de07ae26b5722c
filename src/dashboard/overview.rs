//! What the front page shows, gathered from the config and the ledger:
//! per service, per environment, per cluster, the ledger's record. Pure:
//! the reading is done by `ledger_reader`.

use super::redact::without_credentials;
use crate::config::Service;
use crate::gitops::{ClusterRecord, EnvironmentRecord, LedgerLocation, Snapshot};

#[derive(Debug, Clone, Default)]
pub struct Overview {
    pub services: Vec<ServiceOverview>,
    /// Service files that could not be read, in words.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ServiceOverview {
    pub name: String,
    pub compare_url: Option<String>,
    /// Where the ledger is, safe to show (no credentials).
    pub ledger: String,
    /// The ledger commit the records were read at.
    pub head: Option<String>,
    pub environments: Vec<EnvironmentOverview>,
    /// Why the ledger could not be read; the clusters are still listed.
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EnvironmentOverview {
    pub name: String,
    pub intended: Option<EnvironmentRecord>,
    pub clusters: Vec<ClusterOverview>,
}

#[derive(Debug, Clone)]
pub struct ClusterOverview {
    pub name: String,
    pub region: String,
    pub wave: u32,
    pub record: Option<ClusterRecord>,
}

impl ServiceOverview {
    /// `snapshots` holds one per environment of `service`, in its order
    /// (the config's, by name).
    /// `ledger` says where the ledger is, for people.
    pub fn new(
        service: &Service,
        ledger: String,
        snapshots: Result<Vec<Snapshot>, String>,
    ) -> Self {
        let (snapshots, error) = match snapshots {
            Ok(list) => (list, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        let head = snapshots.iter().find_map(|s| s.head.clone());
        let environments = service
            .environments
            .values()
            .enumerate()
            .map(|(i, environment)| {
                let snapshot = snapshots.get(i);
                let mut clusters: Vec<ClusterOverview> = environment
                    .clusters
                    .iter()
                    .map(|c| ClusterOverview {
                        name: c.name.clone(),
                        region: c.region.clone(),
                        wave: c.wave,
                        record: snapshot.and_then(|s| s.clusters.get(&c.name).cloned()),
                    })
                    .collect();
                // Waves in the order they deploy; the config's order within one.
                clusters.sort_by_key(|c| c.wave);
                EnvironmentOverview {
                    name: environment.name.clone(),
                    intended: snapshot.and_then(|s| s.environment.clone()),
                    clusters,
                }
            })
            .collect();
        ServiceOverview {
            name: service.name.clone(),
            compare_url: service.compare_url.clone(),
            ledger,
            head,
            environments,
            error,
        }
    }
}

/// `repository (branch)`, with any user and password taken out of a URL.
pub fn describe_location(location: &LedgerLocation) -> String {
    format!(
        "{} ({})",
        without_credentials(&location.repository),
        location.branch
    )
}
