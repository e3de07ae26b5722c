//! Everything a rollout page shows about one Rollout, read from its
//! cluster at one moment: the Rollout, its ReplicaSets and AnalysisRuns
//! (by the controller's `conductor.dev/rollout` label) and the Events
//! about any of them, newest first.

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::events::v1::Event;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use super::error::DashboardError;
use crate::crd::analysis::AnalysisRun;
use crate::crd::rollout::Rollout;
use crate::platform::kubernetes::ROLLOUT_LABEL;

/// A page read gives up on a cluster after this long, rather than hang.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The Events shown; older ones are in `kubectl get events`.
pub const EVENTS_SHOWN: usize = 25;

#[derive(Debug, Clone)]
pub struct RolloutWorld {
    pub rollout: Rollout,
    pub replica_sets: Vec<ReplicaSet>,
    /// Newest first.
    pub runs: Vec<AnalysisRun>,
    /// About the Rollout, its ReplicaSets or runs; newest first.
    pub events: Vec<Event>,
}

/// The Rollout's world, or `None` when there is no such Rollout.
pub async fn read(
    client: &Client,
    cluster: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<RolloutWorld>, DashboardError> {
    match tokio::time::timeout(READ_TIMEOUT, read_now(client, cluster, namespace, name)).await {
        Ok(result) => result,
        Err(_) => Err(DashboardError::TimedOut {
            cluster: cluster.to_owned(),
            what: format!("rollout {namespace}/{name}"),
            seconds: READ_TIMEOUT.as_secs(),
        }),
    }
}

async fn read_now(
    client: &Client,
    cluster: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<RolloutWorld>, DashboardError> {
    let failed = |what: &str| {
        let what = format!("{what} in namespace {namespace}");
        move |source| DashboardError::Kube {
            cluster: cluster.to_owned(),
            what,
            source,
        }
    };
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), namespace);
    let Some(rollout) = rollouts
        .get_opt(name)
        .await
        .map_err(failed(&format!("get rollout {name}")))?
    else {
        return Ok(None);
    };
    let owned = ListParams::default().labels(&format!("{ROLLOUT_LABEL}={name}"));
    let sets_api = Api::<ReplicaSet>::namespaced(client.clone(), namespace);
    let runs_api = Api::<AnalysisRun>::namespaced(client.clone(), namespace);
    let events_api = Api::<Event>::namespaced(client.clone(), namespace);
    let every = ListParams::default();
    let (sets, runs, events) = tokio::join!(
        sets_api.list(&owned),
        runs_api.list(&owned),
        events_api.list(&every),
    );
    let mut replica_sets = sets.map_err(failed("list replica sets"))?.items;
    replica_sets.sort_by_key(|rs| std::cmp::Reverse(rs.creation_timestamp()));
    let mut runs = runs.map_err(failed("list analysis runs"))?.items;
    runs.sort_by_key(|run| std::cmp::Reverse(run.creation_timestamp()));
    let events = about(
        events.map_err(failed("list events"))?.items,
        name,
        &replica_sets,
        &runs,
    );
    Ok(Some(RolloutWorld {
        rollout,
        replica_sets,
        runs,
        events,
    }))
}

/// The Events regarding the Rollout or what it owns, newest first.
fn about(
    events: Vec<Event>,
    rollout: &str,
    sets: &[ReplicaSet],
    runs: &[AnalysisRun],
) -> Vec<Event> {
    let names: Vec<(&str, String)> = std::iter::once(("Rollout", rollout.to_owned()))
        .chain(sets.iter().map(|rs| ("ReplicaSet", rs.name_any())))
        .chain(runs.iter().map(|run| ("AnalysisRun", run.name_any())))
        .collect();
    let mut about: Vec<Event> = events
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| {
                names.iter().any(|(kind, name)| {
                    r.kind.as_deref() == Some(*kind) && r.name.as_deref() == Some(name.as_str())
                })
            })
        })
        .collect();
    about.sort_by_key(|e| std::cmp::Reverse(when(e)));
    about.truncate(EVENTS_SHOWN);
    about
}

/// When an Event last happened, by whichever time it carries.
pub fn when(event: &Event) -> Option<jiff::Timestamp> {
    event
        .series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or(event.event_time.as_ref().map(|t| t.0))
        .or(event.deprecated_last_timestamp.as_ref().map(|t| t.0))
        .or(event.metadata.creation_timestamp.as_ref().map(|t| t.0))
}
