//! How the operator's watches wait after failing.
//!
//! kube's `Controller` merges every watch it is given (the Rollouts, their
//! ReplicaSets, AnalysisRuns, Experiments, the Deployments they name) into
//! one stream and, by default, pauses that whole stream after an error
//! from any of them: 0.8 s, doubling to 30 s, forgotten only when an item
//! arrives between two errors. kube's per-watch default does the same for
//! one watch. An API server restart makes every watch fail at once
//! (connection refused while it is down, then 410 Expired for each watch
//! resuming from before): the shared pause reached 30 s, and the Rollout
//! controller saw no change for up to a minute after the server was back
//! (found by `tests/soak`, kept by the operator test
//! `a_change_after_an_api_server_restart_is_seen_without_waiting_for_other_watches`).
//!
//! So each watch backs off on its own, from 0.5 s doubling to 10 s, back
//! to nothing at its next event; a 410 is no failure (the watcher relists
//! at once, as a client must); and the controllers do not pause at all.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use kube::runtime::utils::Backoff;
use kube::runtime::watcher;

const FIRST: Duration = Duration::from_millis(500);
/// Ten watches retrying this often are nothing to an API server coming
/// back, and a change is seen within this long of its return.
const LONGEST: Duration = Duration::from_secs(10);

/// `stream` (a watcher's), waiting after each of its failures before it
/// is polled again.
pub fn backed_off<T: Send + 'static>(
    stream: impl Stream<Item = Result<T, watcher::Error>> + Send + 'static,
) -> impl Stream<Item = Result<T, watcher::Error>> + Send + 'static {
    let state = (stream.boxed(), None::<Duration>, Duration::ZERO);
    futures_util::stream::unfold(state, |(mut stream, pause, last)| async move {
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
        let item = stream.next().await?;
        let (pause, last) = after(item.as_ref().err(), last);
        Some((item, (stream, pause, last)))
    })
}

/// The pause before the next poll, and the pause to double next time,
/// after an item (`None`) or an error, when the last pause was `last`:
/// an event resets, a 410 changes nothing, any other failure doubles.
fn after(error: Option<&watcher::Error>, last: Duration) -> (Option<Duration>, Duration) {
    match error {
        None => (None, Duration::ZERO),
        Some(error) if is_expired(error) => (None, last),
        Some(_) => {
            let next = next_pause(last);
            (Some(next), next)
        }
    }
}

fn next_pause(last: Duration) -> Duration {
    if last.is_zero() {
        FIRST
    } else {
        (last * 2).min(LONGEST)
    }
}

/// The watch resumed from a resourceVersion the server no longer keeps:
/// the watcher relists on its next poll.
fn is_expired(error: &watcher::Error) -> bool {
    matches!(error, watcher::Error::WatchError(status) if status.code == 410)
}

/// A controller's trigger backoff that never waits: every watch feeding a
/// controller backs off by itself ([`backed_off`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPause;

impl Iterator for NoPause {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl Backoff for NoPause {
    fn reset(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_from_half_a_second_to_ten() {
        let mut last = Duration::ZERO;
        let pauses: Vec<u64> = (0..7)
            .map(|_| {
                last = next_pause(last);
                u64::try_from(last.as_millis()).unwrap_or(u64::MAX)
            })
            .collect();
        assert_eq!(pauses, [500, 1000, 2000, 4000, 8000, 10000, 10000]);
    }

    #[test]
    fn a_failure_pauses_an_expiry_does_not_and_an_event_resets() {
        let expired = kube::core::Status::failure("too old", "Expired").with_code(410);
        let expired = watcher::Error::WatchError(Box::new(expired));
        let failed = watcher::Error::NoResourceVersion;
        let second = Duration::from_secs(1);
        assert_eq!(after(Some(&failed), Duration::ZERO), (Some(FIRST), FIRST));
        assert_eq!(after(Some(&failed), FIRST), (Some(second), second));
        assert_eq!(after(Some(&expired), second), (None, second));
        assert_eq!(after(None, second), (None, Duration::ZERO));
    }
}
