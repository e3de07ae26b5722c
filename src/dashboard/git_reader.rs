//! Reading Git for the pages: the ledger through the ledger's own store
//! (one private cache per ledger, kept between requests so each fetch is
//! incremental) and the source repository's commits. Git work blocks, so
//! it runs on tokio's blocking threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::changes::{Changes, LISTED};
use super::error::DashboardError;
use super::overview::{Overview, ServiceOverview, describe_location};
use crate::config::{self, Service};
use crate::gitops::HistoryEntry;
use crate::gitops::location::LedgerLocation;
use crate::gitops::ordering::Relation;
use crate::gitops::source::SourceRepo;
use crate::gitops::store::{LedgerStore, Snapshot};

type Shared = Arc<Mutex<LedgerStore>>;

#[derive(Default)]
pub struct Ledgers {
    /// By repository and branch.
    stores: Mutex<HashMap<(String, String), Shared>>,
}

impl Ledgers {
    /// The store for `location`, opened (and fetched) the first time.
    fn store(&self, location: &LedgerLocation) -> Result<Shared, DashboardError> {
        let key = (location.repository.clone(), location.branch.clone());
        let mut stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = stores.get(&key) {
            return Ok(store.clone());
        }
        let store = LedgerStore::open(location).map_err(|source| DashboardError::Ledger {
            location: shown(location),
            source,
        })?;
        let store = Arc::new(Mutex::new(store));
        stores.insert(key, store.clone());
        Ok(store)
    }

    /// Runs `work` on the store of `service`'s ledger, on a blocking thread.
    async fn with_store<T: Send + 'static>(
        self: &Arc<Self>,
        repo: &Path,
        service: &Service,
        work: impl FnOnce(&mut LedgerStore) -> Result<T, crate::gitops::GitError> + Send + 'static,
    ) -> Result<T, DashboardError> {
        let location = LedgerLocation::of_service(repo, &service.ledger);
        self.with_location(location, work).await
    }

    async fn with_location<T: Send + 'static>(
        self: &Arc<Self>,
        location: LedgerLocation,
        work: impl FnOnce(&mut LedgerStore) -> Result<T, crate::gitops::GitError> + Send + 'static,
    ) -> Result<T, DashboardError> {
        let ledgers = self.clone();
        tokio::task::spawn_blocking(move || {
            let store = ledgers.store(&location)?;
            let mut store = store.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut store).map_err(|source| DashboardError::Ledger {
                location: shown(&location),
                source,
            })
        })
        .await
        .map_err(|e| DashboardError::Task(e.to_string()))?
    }

    /// Every configured service with every environment's records: one
    /// fetch per ledger, however many services keep their records there.
    /// A `git fetch` is most of a page's cost: with one per service, the
    /// bench's front page (4 services, 100 clusters) took 67 ms mean and
    /// 127 ms p95; with one per ledger, 15 ms and 15 ms.
    pub async fn overview(self: &Arc<Self>, repo: &Path) -> Overview {
        let mut overview = Overview::default();
        let names = match config::service_names(repo) {
            Ok(names) => names,
            Err(e) => {
                overview.problems.push(e.to_string());
                return overview;
            }
        };
        let mut services = Vec::new();
        for name in names {
            match config::load_service(repo, &name) {
                Ok(service) => services.push(service),
                Err(e) => overview.problems.push(e.to_string()),
            }
        }
        // By ledger, in the order each ledger is first named.
        let mut ledgers: Vec<(LedgerLocation, Vec<usize>)> = Vec::new();
        for (index, service) in services.iter().enumerate() {
            let location = LedgerLocation::of_service(repo, &service.ledger);
            match ledgers.iter_mut().find(|(l, _)| *l == location) {
                Some((_, members)) => members.push(index),
                None => ledgers.push((location, vec![index])),
            }
        }
        let mut read: Vec<Option<Result<Vec<Snapshot>, String>>> = vec![None; services.len()];
        for (location, members) in ledgers {
            let wanted: Vec<(String, Vec<String>)> = members
                .iter()
                .map(|&i| {
                    let service = &services[i];
                    (
                        service.name.clone(),
                        service.environments.keys().cloned().collect(),
                    )
                })
                .collect();
            match self
                .with_location(location, move |store| store.read_services(&wanted))
                .await
            {
                Ok(snapshots) => {
                    for (&i, snapshots) in members.iter().zip(snapshots) {
                        read[i] = Some(Ok(snapshots));
                    }
                }
                Err(e) => {
                    for &i in &members {
                        read[i] = Some(Err(e.to_string()));
                    }
                }
            }
        }
        for (service, snapshots) in services.iter().zip(read) {
            let location = LedgerLocation::of_service(repo, &service.ledger);
            let snapshots = snapshots.unwrap_or_else(|| Ok(Vec::new()));
            overview
                .services
                .push(ServiceOverview::new(service, shown(&location), snapshots));
        }
        overview
    }

    /// One environment's records.
    pub async fn environment(
        self: &Arc<Self>,
        repo: &Path,
        service: &Service,
        environment: &str,
    ) -> Result<Snapshot, DashboardError> {
        let (name, env) = (service.name.clone(), environment.to_owned());
        self.with_store(repo, service, move |store| store.read(&name, &env))
            .await
    }

    /// A cluster's ledger history, oldest first.
    pub async fn history(
        self: &Arc<Self>,
        repo: &Path,
        service: &Service,
        environment: &str,
        cluster: &str,
    ) -> Result<Vec<HistoryEntry>, DashboardError> {
        let (name, env, cluster) = (
            service.name.clone(),
            environment.to_owned(),
            cluster.to_owned(),
        );
        self.with_store(repo, service, move |store| {
            store.history(&name, &env, Some(&cluster))
        })
        .await
    }
}

/// Where a ledger is, as people read it: a local path without `..` in
/// it, a URL without credentials.
pub fn shown(location: &LedgerLocation) -> String {
    let mut location = location.clone();
    if let Ok(path) = Path::new(&location.repository).canonicalize() {
        location.repository = path.display().to_string();
    }
    describe_location(&location)
}

/// The commits between two revisions of `service`'s source repository;
/// for a step back, the ones it takes away.
pub async fn changes(
    source: PathBuf,
    service: &Service,
    from: String,
    to: String,
) -> Result<Changes, DashboardError> {
    for (name, value) in [("from", &from), ("to", &to)] {
        if !is_sha(value) {
            return Err(DashboardError::BadRevision {
                name,
                value: value.clone(),
            });
        }
    }
    let name = service.name.clone();
    let compare_url = service.compare_url.clone();
    tokio::task::spawn_blocking(move || {
        let repo = SourceRepo::discover(&source).map_err(DashboardError::Source)?;
        let rollback =
            repo.relation(&to, &from).map_err(DashboardError::Source)? == Relation::Ancestor;
        let listed = if rollback {
            repo.commits_between(Some(&to), &from, LISTED)
        } else {
            repo.commits_between(Some(&from), &to, LISTED)
        };
        let (commits, total) = listed.map_err(DashboardError::Source)?;
        Ok(Changes {
            service: name,
            from,
            to,
            rollback,
            commits,
            total,
            compare_url,
        })
    })
    .await
    .map_err(|e| DashboardError::Task(e.to_string()))?
}

fn is_sha(value: &str) -> bool {
    (value.len() == 40 || value.len() == 64)
        && value
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}
