//! A refused request that ends a reconcile: an AnalysisRun's or an
//! Experiment's own status write, an Experiment's ReplicaSet or analysis
//! run, a Rollout's status write. A rollout's other refusals hold it
//! visibly (see `engine::blocker`); these would reach only the log, since
//! the status they would show in may be the very write refused. Each
//! becomes a Warning Event on the object, and the object is tried again
//! after as long as its refusals have lasted (5 s, 5 s, 10 s ... 5 min),
//! as a blocked rollout is. A blocked rollout keeps the start of its
//! block in its status; here the status may be what is refused, so the
//! start is kept in memory, per object.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use tracing::warn;

use super::KubeError;
use super::events::Events;
use crate::engine::blocker;

/// An object no reconcile has been refused for this long is forgotten: one
/// still refused is tried at least every `RETRY_MAX_MS`.
const FORGET_AFTER: Duration = Duration::from_millis(2 * blocker::RETRY_MAX_MS.unsigned_abs());

#[derive(Default)]
pub struct Refusals {
    by_object: Mutex<HashMap<String, Refused>>,
}

#[derive(Clone, Copy)]
struct Refused {
    since: Instant,
    last: Instant,
}

impl Refusals {
    /// After reconciling `object` to `result`: a refusal is published as a
    /// Warning Event and timed; anything that went through ends the
    /// object's refusals.
    pub async fn observe<K>(&self, object: &K, result: &Result<Action, KubeError>, events: &Events)
    where
        K: Resource<DynamicType = ()>,
    {
        match result {
            Err(KubeError::Refused(refused)) => {
                self.note(key(object), Instant::now());
                warn!(%refused, "request refused");
                let event = Event {
                    type_: EventType::Warning,
                    reason: refused.reason().as_str().into(),
                    note: Some(refused.to_string()),
                    action: "Reconcile".into(),
                    secondary: None,
                };
                if let Err(error) = events.publish(&event, &object.object_ref(&())).await {
                    warn!(%error, "publishing event");
                }
            }
            // Every reconcile that goes through comes here: most find
            // nothing refused, and need no key.
            Ok(_) => {
                let mut by_object = self.lock();
                if !by_object.is_empty() {
                    by_object.remove(&key(object));
                }
            }
            Err(_) => {}
        }
    }

    /// When to reconcile `object` again after `error`: a refusal after as
    /// long as the object's refusals have lasted, within the blocked
    /// rollout's bounds; any other error as [`super::retry_after`] says.
    pub fn retry_after<K: Resource>(&self, object: &K, error: &KubeError) -> Action {
        if !matches!(error, KubeError::Refused(_)) {
            return super::retry_after(error);
        }
        Action::requeue(self.wait(&key(object), Instant::now()))
    }

    fn wait(&self, key: &str, now: Instant) -> Duration {
        let since = self.lock().get(key).map_or(now, |r| r.since);
        backoff(now.duration_since(since))
    }

    fn note(&self, key: String, now: Instant) {
        let mut by_object = self.lock();
        by_object.retain(|_, r| now.duration_since(r.last) < FORGET_AFTER);
        by_object
            .entry(key)
            .and_modify(|r| r.last = now)
            .or_insert(Refused {
                since: now,
                last: now,
            });
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Refused>> {
        // The map holds only times; one left half-updated by a panic is
        // still a map of times.
        self.by_object
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The uid tells apart an object deleted and made again under its name.
fn key<K: Resource>(object: &K) -> String {
    object.uid().unwrap_or_else(|| {
        format!(
            "{}/{}",
            object.namespace().unwrap_or_default(),
            object.name_any()
        )
    })
}

fn backoff(refused_for: Duration) -> Duration {
    let ms = i64::try_from(refused_for.as_millis()).unwrap_or(i64::MAX);
    Duration::from_millis(blocker::retry_after(ms).unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(uid: &str) -> crate::crd::analysis::AnalysisRun {
        let mut run = crate::crd::analysis::AnalysisRun::new("run", Default::default());
        run.metadata.uid = Some(uid.into());
        run
    }

    fn refused() -> KubeError {
        KubeError::Refused(Box::new(super::super::Refused {
            verb: "update the status of",
            kind: "AnalysisRun".into(),
            namespace: "default".into(),
            name: "run".into(),
            code: 403,
            reason: "Forbidden".into(),
            message: "no".into(),
        }))
    }

    #[test]
    fn the_interval_grows_with_how_long_the_refusals_have_lasted() {
        assert_eq!(backoff(Duration::ZERO), Duration::from_secs(5));
        assert_eq!(backoff(Duration::from_secs(20)), Duration::from_secs(20));
        assert_eq!(backoff(Duration::from_secs(3600)), Duration::from_secs(300));

        let refusals = Refusals::default();
        let now = Instant::now();
        let first = now.checked_sub(Duration::from_secs(40)).expect("a past");
        refusals.note("a".into(), first);
        refusals.note("a".into(), now);
        assert_eq!(refusals.wait("a", now), Duration::from_secs(40));
        // Another object's refusals are its own.
        assert_eq!(refusals.wait("b", now), Duration::from_secs(5));
        // Any other error keeps its own retry.
        assert_eq!(
            refusals.retry_after(&run("a"), &KubeError::NotSynced("rollout")),
            super::super::retry_after(&KubeError::NotSynced("rollout"))
        );
        assert_eq!(
            refusals.retry_after(&run("fresh"), &refused()),
            Action::requeue(Duration::from_secs(5))
        );
    }

    #[test]
    fn an_object_refused_long_ago_is_forgotten() {
        let refusals = Refusals::default();
        let now = Instant::now();
        let long_ago = now.checked_sub(FORGET_AFTER + Duration::from_secs(1));
        refusals.note("old".into(), long_ago.expect("a past"));
        refusals.note("new".into(), now);
        assert_eq!(
            refusals.lock().keys().collect::<Vec<_>>(),
            vec![&"new".to_owned()]
        );
    }
}
