//! Rollouts waiting for an object, by the object. When a watch sees it
//! appear (created, or listed once its API is installed), the rollouts
//! waiting for it are reconciled at once instead of at their next retry,
//! which may be minutes away. Only waiting rollouts are kept: the map is
//! as large as the number of rollouts blocked, not of objects watched.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures_util::Stream;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc;

use super::cached_rollout::CachedRollout;

/// An object by kind, namespace (empty when cluster-scoped) and name.
pub type Awaited = (String, String, String);

#[derive(Clone)]
pub struct Waiters {
    inner: Arc<Mutex<Inner>>,
    due: mpsc::UnboundedSender<ObjectRef<CachedRollout>>,
    receiver: Arc<Mutex<Option<mpsc::UnboundedReceiver<ObjectRef<CachedRollout>>>>>,
}

#[derive(Default)]
struct Inner {
    by_object: HashMap<Awaited, HashSet<ObjectRef<CachedRollout>>>,
    by_rollout: HashMap<ObjectRef<CachedRollout>, Awaited>,
}

impl Default for Waiters {
    fn default() -> Self {
        let (due, receiver) = mpsc::unbounded_channel();
        Self {
            inner: Arc::default(),
            due,
            receiver: Arc::new(Mutex::new(Some(receiver))),
        }
    }
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update leaves both maps consistent before it can panic.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `rollout` now waits for `awaited`, and for nothing else; `None`
    /// when it waits for nothing.
    pub fn wait(&self, rollout: &ObjectRef<CachedRollout>, awaited: Option<Awaited>) {
        let mut inner = self.lock();
        if inner.by_rollout.get(rollout) == awaited.as_ref() {
            return;
        }
        if let Some(before) = inner.by_rollout.remove(rollout)
            && let Some(waiting) = inner.by_object.get_mut(&before)
        {
            waiting.remove(rollout);
            if waiting.is_empty() {
                inner.by_object.remove(&before);
            }
        }
        if let Some(awaited) = awaited {
            inner
                .by_object
                .entry(awaited.clone())
                .or_default()
                .insert(rollout.clone());
            inner.by_rollout.insert(rollout.clone(), awaited);
        }
    }

    /// An object of `kind` was seen: the rollouts waiting for it are due.
    pub fn seen(&self, kind: &str, namespace: &str, name: &str) {
        let key = (kind.to_owned(), namespace.to_owned(), name.to_owned());
        let due: Vec<ObjectRef<CachedRollout>> = self
            .lock()
            .by_object
            .get(&key)
            .map(|waiting| waiting.iter().cloned().collect())
            .unwrap_or_default();
        for rollout in due {
            // Closed only when the controller is gone, with nobody to tell.
            let _ = self.due.send(rollout);
        }
    }

    /// How many rollouts wait, for tests and metrics.
    pub fn len(&self) -> usize {
        self.lock().by_rollout.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rollouts due, for the controller to reconcile; the first call
    /// takes the stream, later ones get an empty one.
    pub fn due(&self) -> impl Stream<Item = ObjectRef<CachedRollout>> + Send + 'static {
        let receiver = self
            .receiver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        futures_util::stream::unfold(receiver, |receiver| async move {
            let mut receiver = receiver?;
            let next = receiver.recv().await?;
            Some((next, Some(receiver)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn rollout(name: &str) -> ObjectRef<CachedRollout> {
        ObjectRef::new(name).within("shop")
    }

    fn route(name: &str) -> Option<Awaited> {
        Some(("HTTPRoute".into(), "shop".into(), name.into()))
    }

    #[tokio::test]
    async fn the_rollouts_waiting_for_an_object_are_due_when_it_is_seen() {
        let waiters = Waiters::default();
        let mut due = Box::pin(waiters.due());
        waiters.wait(&rollout("a"), route("web"));
        waiters.wait(&rollout("b"), route("web"));
        waiters.wait(&rollout("c"), route("api"));
        waiters.seen("HTTPRoute", "shop", "other");
        waiters.seen("Service", "shop", "web");
        waiters.seen("HTTPRoute", "shop", "web");
        let mut first: Vec<String> = vec![
            due.next().await.expect("due").name,
            due.next().await.expect("due").name,
        ];
        first.sort();
        assert_eq!(first, ["a", "b"]);
        // `a` waits for something else now, `b` for nothing.
        waiters.wait(&rollout("a"), route("api"));
        waiters.wait(&rollout("b"), None);
        assert_eq!(waiters.len(), 2);
        waiters.seen("HTTPRoute", "shop", "web");
        waiters.seen("HTTPRoute", "shop", "api");
        let mut second: Vec<String> = vec![
            due.next().await.expect("due").name,
            due.next().await.expect("due").name,
        ];
        second.sort();
        assert_eq!(second, ["a", "c"]);
    }
}
