//! Waiting for the controller to act on what a `conductor rollout`
//! command wrote: the watch the commands share, and how long they give it.

use std::time::Duration;

use futures_util::StreamExt;
use kube::Api;
use kube::runtime::watcher::watch_object;

/// How long a command waits for the controller to confirm it.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// The first `Some` `done` says of `name` within [`ACK_TIMEOUT`].
pub async fn until<K, T>(api: Api<K>, name: &str, done: impl Fn(&K) -> Option<T>) -> Option<T>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    tokio::time::timeout(ACK_TIMEOUT, async {
        let mut changes = watch_object(api, name).boxed();
        while let Some(change) = changes.next().await {
            if let Ok(Some(object)) = change
                && let Some(found) = done(&object)
            {
                return Some(found);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}
