//! The people and CI of a busy cluster: image updates to random Rollouts
//! at a bounded rate, and on some of them an abort requested a moment
//! later, written as `conductor rollout abort` writes it. Every write goes
//! through the fake's faults like anyone else's and is retried until it
//! lands. What was asked is judged from the fake's audit log (the
//! checker), where each write has its place in the resourceVersion order.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use conductor::crd::rollout::Rollout;
use conductor::engine::Request;
use conductor::platform::kubernetes::{requests, writes};
use fakeapi::FakeApi;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::objects::{NAMESPACE, name, template};
use crate::rng::Rng;

/// Share of updates followed by an abort request.
const ABORT_SHARE: f64 = 0.25;
/// The abort comes up to this long after its update: some land while the
/// revision is still walking its steps, some after it completed.
const ABORT_WITHIN_MS: u64 = 3_000;
/// Driver writes in flight at once.
const IN_FLIGHT: usize = 64;
const RETRY_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug, Default)]
pub struct Counts {
    pub updates: AtomicU64,
    pub aborts: AtomicU64,
    /// Driver writes the fake refused (faults) and that were sent again.
    pub retries: AtomicU64,
}

/// Updates and aborts until `until`; returns once the writes in flight
/// have landed (or given up, `grace` after `until`).
pub async fn run(
    fake: FakeApi,
    rollouts: usize,
    per_second: f64,
    until: Instant,
    mut rng: Rng,
    counts: Arc<Counts>,
) {
    let api: Api<Rollout> = Api::namespaced(fake.client_as("soak-driver"), NAMESPACE);
    let generations = Arc::new(std::sync::Mutex::new(vec![0u64; rollouts]));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second.max(0.1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut tasks = JoinSet::new();
    let mut id = 0u64;
    while Instant::now() < until {
        tick.tick().await;
        while tasks.len() >= IN_FLIGHT {
            tasks.join_next().await;
        }
        while tasks.try_join_next().is_some() {}
        let i = usize::try_from(rng.below(rollouts as u64)).unwrap_or(0);
        let tag = {
            let mut generations = generations.lock().unwrap();
            generations[i] += 1;
            format!("v{}", generations[i])
        };
        let abort_after = rng
            .chance(ABORT_SHARE)
            .then(|| Duration::from_millis(rng.below(ABORT_WITHIN_MS)));
        id += 1;
        let (api, counts) = (api.clone(), counts.clone());
        tasks.spawn(async move {
            let name = name(i);
            let patch = json!({"spec": {"template": template(&name, &tag)}});
            let updated = retry(until, &counts, || async {
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(drop)
            })
            .await;
            if !updated {
                return;
            }
            counts.updates.fetch_add(1, Ordering::Relaxed);
            let Some(after) = abort_after else { return };
            tokio::time::sleep(after).await;
            if Instant::now() >= until {
                return;
            }
            let value = requests::encode(Request::Abort, &format!("soak-{id}"));
            if retry(until, &counts, || {
                writes::request_action(&api, &name, &value)
            })
            .await
            {
                counts.aborts.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Sends until the write lands; gives up 30 s after `until`.
async fn retry<F, Fut>(until: Instant, counts: &Counts, mut write: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = kube::Result<()>>,
{
    let give_up = until + Duration::from_secs(30);
    loop {
        match write().await {
            Ok(()) => return true,
            Err(_) if Instant::now() < give_up => {
                counts.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(RETRY_EVERY).await;
            }
            Err(_) => return false,
        }
    }
}
