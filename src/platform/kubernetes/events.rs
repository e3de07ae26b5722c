//! Kubernetes Events for what the controllers decide.
//!
//! kube's `Recorder` keeps every event it published for six minutes, to
//! turn repeats into a series, and sweeps that cache on every publish: at
//! 10,000 rollouts that was 35 MB and a scan of every entry per event. This
//! publisher treats repeats the same way (same type, action, reason,
//! reporter, and the same object at the same resourceVersion) but remembers
//! only a hash of that key, the event's name and its count, and sweeps at
//! most once a minute.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as KubeEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::ObjectMeta;
use kube::runtime::events::{Event, EventType, Reporter};
use kube::{Api, Client};

use super::writes;

/// How long a repeat still counts as part of the same series.
const SERIES_TTL: SignedDuration = SignedDuration::from_mins(6);
const SWEEP_EVERY: SignedDuration = SignedDuration::from_mins(1);

#[derive(Clone)]
pub struct Events {
    client: Client,
    reporter: Reporter,
    recent: Arc<Mutex<Recent>>,
}

struct Recent {
    keys: RandomState,
    by_key: HashMap<u64, Published>,
    swept_at: Timestamp,
}

struct Published {
    name: String,
    count: i32,
    last: Timestamp,
}

impl Events {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Self {
            client,
            reporter,
            recent: Arc::new(Mutex::new(Recent {
                keys: RandomState::new(),
                by_key: HashMap::new(),
                swept_at: Timestamp::now(),
            })),
        }
    }

    /// Creates the event in the namespace of `regarding`, or counts a
    /// repeat of one published less than six minutes ago.
    pub async fn publish(&self, event: &Event, regarding: &ObjectReference) -> kube::Result<()> {
        let now = Timestamp::now();
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let api: Api<KubeEvent> = Api::namespaced(self.client.clone(), namespace);
        let (key, repeat) = self.repeat_of(event, regarding, now);
        match repeat {
            Some((name, count)) => {
                let series = EventSeries {
                    count,
                    last_observed_time: MicroTime(now),
                };
                writes::count_event_repeat(&api, &name, &series).await?;
                if let Some(published) = self.lock().by_key.get_mut(&key) {
                    published.last = now;
                }
            }
            None => {
                let created =
                    writes::create_event(&api, &self.new_event(event, regarding, now)).await?;
                let published = Published {
                    name: created.metadata.name.unwrap_or_default(),
                    count: 1,
                    last: now,
                };
                self.lock().by_key.insert(key, published);
            }
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recent> {
        // Every update is a single map operation: a poisoned lock still
        // guards a consistent map.
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The event's key, and the name and next count of the series it
    /// repeats, if any. Counts the repeat before it is sent, so two
    /// reconciles publishing at once do not both claim the same count.
    fn repeat_of(
        &self,
        event: &Event,
        regarding: &ObjectReference,
        now: Timestamp,
    ) -> (u64, Option<(String, i32)>) {
        let mut recent = self.lock();
        if now.duration_since(recent.swept_at) > SWEEP_EVERY {
            recent
                .by_key
                .retain(|_, p| now.duration_since(p.last) < SERIES_TTL);
            recent.swept_at = now;
        }
        let key = self.key(&recent.keys, event, regarding);
        let repeat = recent
            .by_key
            .get_mut(&key)
            .filter(|p| now.duration_since(p.last) < SERIES_TTL)
            .map(|p| {
                p.count += 1;
                (p.name.clone(), p.count)
            });
        (key, repeat)
    }

    fn key(&self, keys: &RandomState, event: &Event, regarding: &ObjectReference) -> u64 {
        let mut hasher = keys.build_hasher();
        matches!(event.type_, EventType::Warning).hash(&mut hasher);
        event.action.hash(&mut hasher);
        event.reason.hash(&mut hasher);
        self.reporter.controller.hash(&mut hasher);
        self.reporter.instance.hash(&mut hasher);
        hash_reference(regarding, &mut hasher);
        if let Some(related) = &event.secondary {
            hash_reference(related, &mut hasher);
        }
        hasher.finish()
    }

    fn new_event(&self, event: &Event, regarding: &ObjectReference, now: Timestamp) -> KubeEvent {
        let controller = &self.reporter.controller;
        KubeEvent {
            metadata: ObjectMeta {
                name: Some(format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or(controller),
                    now.as_nanosecond()
                )),
                namespace: regarding.namespace.clone(),
                ..Default::default()
            },
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            note: event.note.clone(),
            type_: Some(
                match event.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_owned(),
            ),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: event.secondary.clone(),
            reporting_controller: Some(controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| controller.clone()),
            ),
            ..Default::default()
        }
    }
}

fn hash_reference(reference: &ObjectReference, hasher: &mut impl Hasher) {
    reference.api_version.hash(hasher);
    reference.kind.hash(hasher);
    reference.namespace.hash(hasher);
    reference.name.hash(hasher);
    reference.uid.hash(hasher);
    reference.resource_version.hash(hasher);
    reference.field_path.hash(hasher);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regarding(resource_version: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("conductor.dev/v1alpha1".into()),
            kind: Some("Rollout".into()),
            namespace: Some("shop".into()),
            name: Some("web".into()),
            uid: Some("u1".into()),
            resource_version: Some(resource_version.into()),
            ..Default::default()
        }
    }

    fn event(reason: &str, note: &str) -> Event {
        Event {
            type_: EventType::Normal,
            reason: reason.into(),
            note: Some(note.into()),
            action: reason.into(),
            secondary: None,
        }
    }

    #[tokio::test]
    async fn repeats_of_one_decision_become_a_series_and_others_new_events() {
        let fake = fakeapi::FakeApi::new();
        let reporter = Reporter {
            controller: "conductor".into(),
            instance: Some("pod-1".into()),
        };
        let events = Events::new(fake.client(), reporter);
        events
            .publish(&event("SetWeight", "weight 25"), &regarding("7"))
            .await
            .unwrap();
        events
            .publish(&event("SetWeight", "weight 25"), &regarding("7"))
            .await
            .unwrap();
        events
            .publish(&event("SetWeight", "weight 25"), &regarding("7"))
            .await
            .unwrap();
        // The same reason about a newer version of the object is news.
        events
            .publish(&event("SetWeight", "weight 50"), &regarding("8"))
            .await
            .unwrap();
        events
            .publish(&event("Paused", "step 2"), &regarding("8"))
            .await
            .unwrap();

        let stored = fake.list_objects(("events.k8s.io/v1", "events"), Some("shop"));
        let mut seen: Vec<(String, String, Option<i64>)> = stored
            .iter()
            .map(|e| {
                (
                    e["reason"].as_str().unwrap_or_default().to_owned(),
                    e["note"].as_str().unwrap_or_default().to_owned(),
                    e["series"]["count"].as_i64(),
                )
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("Paused".into(), "step 2".into(), None),
                ("SetWeight".into(), "weight 25".into(), Some(3)),
                ("SetWeight".into(), "weight 50".into(), None),
            ]
        );
        let first = stored.iter().find(|e| e["series"]["count"] == 3).unwrap();
        assert_eq!(first["reportingController"], "conductor");
        assert_eq!(first["reportingInstance"], "pod-1");
        assert_eq!(first["regarding"]["name"], "web");
        assert_eq!(first["type"], "Normal");
    }
}
