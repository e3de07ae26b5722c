//! Watch responses: a chunked body of newline-delimited watch events,
//! replayed from history and then followed live, ending on timeout, on
//! `FakeApi::drop_watches`, or when the watcher falls too far behind.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::error::ApiError;
use crate::response::ResponseBody;
use crate::selector::Filter;
use crate::store::{Event, EventKind};

/// What a watcher wants to see.
pub(crate) struct WatchScope {
    pub namespace: Option<String>,
    pub filter: Filter,
    pub timeout: Option<Duration>,
}

impl WatchScope {
    fn in_scope(&self, object: &Value) -> bool {
        let ns_ok = self
            .namespace
            .as_deref()
            .is_none_or(|ns| crate::meta::meta_str(object, "namespace").unwrap_or_default() == ns);
        ns_ok && self.filter.matches(object)
    }

    /// The event type this watcher sees, if any: a modification that moves
    /// an object into or out of scope reads as ADDED or DELETED.
    fn translate(&self, event: &Event) -> Option<&'static str> {
        let now = self.in_scope(&event.object);
        let before = event.old.as_deref().map(|o| self.in_scope(o));
        match (event.kind, before, now) {
            (EventKind::Modified, Some(false), true) => Some(EventKind::Added.as_str()),
            (EventKind::Modified, Some(true), false) => Some(EventKind::Deleted.as_str()),
            (EventKind::Deleted, Some(true), _) => Some(EventKind::Deleted.as_str()),
            (EventKind::Deleted, _, _) => None,
            (kind, _, true) => Some(kind.as_str()),
            _ => None,
        }
    }
}

struct State {
    backlog: VecDeque<Arc<Event>>,
    rx: broadcast::Receiver<Arc<Event>>,
    dropped: watch::Receiver<u64>,
    deadline: Option<Instant>,
    scope: WatchScope,
}

pub(crate) fn stream(
    backlog: Vec<Arc<Event>>,
    rx: broadcast::Receiver<Arc<Event>>,
    dropped: watch::Receiver<u64>,
    scope: WatchScope,
) -> ResponseBody {
    let state = State {
        backlog: backlog.into(),
        rx,
        dropped,
        deadline: scope.timeout.map(|t| Instant::now() + t),
        scope,
    };
    let lines = futures_util::stream::unfold(state, |mut state| async move {
        loop {
            let event = match state.backlog.pop_front() {
                Some(event) => event,
                None => next_live(&mut state).await?,
            };
            if let Some(kind) = state.scope.translate(&event) {
                let line = json!({"type": kind, "object": &*event.object});
                return Some((line_bytes(&line), state));
            }
        }
    });
    StreamBody::new(lines.map(|b| Ok(Frame::data(b)))).boxed_unsync()
}

/// The next live event, or `None` when the stream should end.
async fn next_live(state: &mut State) -> Option<Arc<Event>> {
    let deadline = state.deadline;
    let timeout = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    // Biased, drop first: a change made after `drop_watches` must never
    // reach a dropped watch, or a client could skip the re-watch (and the
    // 410 it would get) that dropping is meant to force.
    tokio::select! {
        biased;
        _ = state.dropped.changed() => None,
        received = state.rx.recv() => received.ok(),
        () = timeout => None,
    }
}

/// A watch that only reports that `from` is older than the kept history, so
/// the client relists.
pub(crate) fn expired(from: u64) -> ResponseBody {
    let status = ApiError::expired(format!("too old resource version: {from}")).to_status();
    let line = json!({"type": "ERROR", "object": status});
    let once = futures_util::stream::iter([Ok(Frame::data(line_bytes(&line)))]);
    StreamBody::new(once).boxed_unsync()
}

fn line_bytes(value: &Value) -> Bytes {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}
