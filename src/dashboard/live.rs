//! The live stream behind a rollout page: server-sent events, each an
//! `update` carrying the page's live fragment, sent whenever it changed.
//! Watches on the Rollout, its ReplicaSets and its AnalysisRuns wake the
//! stream at once; a periodic re-read catches what no watch reports
//! (Events, the passing of time). A burst of writes (a status, then the
//! Event after it) becomes one update.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::Event;
use futures_util::{FutureExt, Stream, StreamExt, stream};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::mpsc;

use super::rollout_page::{Place, Seen, render_live};
use super::world;
use crate::crd::analysis::AnalysisRun;
use crate::crd::rollout::Rollout;
use crate::platform::kubernetes::ROLLOUT_LABEL;

/// Writes that land within this long of each other make one update.
const COALESCE: Duration = Duration::from_millis(50);

/// The stream of updates for `place`; it ends when the page goes away.
pub fn updates(
    client: Client,
    place: Place,
    refresh: Duration,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let (sender, receiver) = mpsc::channel::<Event>(2);
    tokio::spawn(follow(client, place, refresh, sender));
    stream::unfold(receiver, |mut receiver| async move {
        let event = receiver.recv().await?;
        Some((Ok(event), receiver))
    })
}

/// Renders and sends the fragment whenever it changed, until the page
/// is closed (the receiver is dropped).
async fn follow(client: Client, place: Place, refresh: Duration, sender: mpsc::Sender<Event>) {
    let mut changes = changes(&client, &place);
    let mut tick = tokio::time::interval(refresh);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = String::new();
    loop {
        let now = Timestamp::now();
        let fragment =
            match world::read(&client, &place.cluster, &place.namespace, &place.name).await {
                Ok(Some(world)) => render_live(&place, Seen::Rollout(&world), now),
                Ok(None) => render_live(&place, Seen::Missing, now),
                Err(e) => render_live(&place, Seen::Unreadable(e.to_string()), now),
            };
        if fragment != last {
            let event = Event::default().event("update").data(&fragment);
            if sender.send(event).await.is_err() {
                return;
            }
            last = fragment;
        }
        tokio::select! {
            _ = changes.next() => {}
            _ = tick.tick() => {}
            () = sender.closed() => return,
        }
        tokio::time::sleep(COALESCE).await;
        while let Some(Some(())) = changes.next().now_or_never() {}
    }
}

/// One item per change seen by any of the watches; it never ends (a
/// watch that fails is retried with backoff inside).
fn changes(client: &Client, place: &Place) -> stream::BoxStream<'static, ()> {
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), &place.namespace);
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), &place.namespace);
    let runs: Api<AnalysisRun> = Api::namespaced(client.clone(), &place.namespace);
    let named = watcher::Config::default().fields(&format!("metadata.name={}", place.name));
    let owned = watcher::Config::default().labels(&format!("{ROLLOUT_LABEL}={}", place.name));
    let streams = vec![
        watcher(rollouts, named)
            .default_backoff()
            .map(|_| ())
            .boxed(),
        watcher(sets, owned.clone())
            .default_backoff()
            .map(|_| ())
            .boxed(),
        watcher(runs, owned).default_backoff().map(|_| ()).boxed(),
        // Keeps the merged stream pending rather than ended, whatever
        // becomes of the watches.
        stream::pending().boxed(),
    ];
    stream::select_all(streams).boxed()
}
