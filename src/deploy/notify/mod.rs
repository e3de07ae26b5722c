//! Notifications: who shipped what, where. The service config lists
//! webhook targets (`config::notifications`); the deploy tells them when
//! it starts, as each wave becomes Healthy, when a cluster fails (with the
//! analysis measurement that decided it), and how it ended or why it was
//! refused.
//!
//! ```text
//!   orchestrator ── Outbox::send(event) ──▶ one queue per target that wants it (never blocks)
//!                                            └─▶ worker: message::body (pure) ─▶ delivery::post
//!                                                 (timeout, retries on 5xx/429, Retry-After)
//!   exit ── Notifier::finish(bound) ──▶ every message Delivered, Failed, or Unsent (bound passed)
//! ```
//! A message that cannot be delivered is reported in the deploy's output
//! and JSON report; it never fails the deploy, and delays its exit by at
//! most the bound. Targets are named by their config name: their URLs are
//! secrets and are never printed.

pub mod delivery;
pub mod error;
pub mod message;
pub mod targets;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use jiff::Timestamp;
use reqwest::Client;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

pub use self::error::NotifyError;
pub use self::message::{Changes, DeployContext, Event, Notice, Outcome, Revision};
use self::targets::WebhookUrl;
use super::request::Request;
use super::waves;
use crate::analysis::providers::Trust;
use crate::config::Environment;
use crate::config::notifications::{EventKind, Notification};
use crate::gitops::ordering::Relation;
use crate::gitops::source::{Commit, SourceRepo};
use crate::gitops::store::Snapshot;

/// How long a deploy waits at exit for messages still on their way.
pub const FLUSH_BOUND: Duration = Duration::from_secs(10);
/// The same after Ctrl-C or SIGTERM: whoever stopped the deploy wants it
/// gone soon, and the signal handler means a second Ctrl-C cannot hurry it.
pub const INTERRUPTED_FLUSH_BOUND: Duration = Duration::from_secs(3);

/// What every message of this deploy carries: the revision, the one the
/// environment had before, and the commits between them from the source
/// repository (those a step back takes away, when it goes back; the
/// revision's own commit for an environment's first deploy). Commits
/// that cannot be listed (a revision missing from a shallow clone) are
/// left out rather than failing anything.
pub(crate) fn deploy_context(
    request: &Request,
    environment: &Environment,
    source: &SourceRepo,
    commit: &Commit,
    snapshot: &Snapshot,
) -> DeployContext {
    let previous = message::previous_revision(snapshot, &commit.sha);
    let shown = message::COMMITS_SHOWN;
    let changes = match &previous {
        Some(p) if source.relation(&commit.sha, &p.sha).ok() == Some(Relation::Ancestor) => source
            .commits_between(Some(&commit.sha), &p.sha, shown)
            .map(|(commits, total)| Changes::new(commits, total, true)),
        Some(p) => source
            .commits_between(Some(&p.sha), &commit.sha, shown)
            .map(|(commits, total)| Changes::new(commits, total, false)),
        // Nothing is between: the revision's own commit, without walking
        // (and counting) the whole history.
        None => Ok(Changes::new(vec![commit.clone()], 1, false)),
    };
    DeployContext {
        service: request.service.clone(),
        environment: environment.name.clone(),
        clusters: waves::waves(&environment.clusters)
            .into_iter()
            .flat_map(|w| w.clusters)
            .collect(),
        revision: Revision::new(&commit.sha, &request.revision),
        previous_revision: previous,
        by: request.by.clone(),
        changes: changes.ok(),
    }
}

/// What became of one message (or, with no event, of a target that could
/// not be used at all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// The target's config name.
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventKind>,
    pub outcome: DeliveryOutcome,
    #[serde(skip_serializing_if = "is_zero")]
    pub attempts: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DeliveryOutcome {
    /// Queued or being sent; never left in a finished report.
    Pending,
    Delivered,
    /// Every attempt failed, or the answer was not worth retrying.
    Failed,
    /// Still queued or in flight when the exit bound passed.
    Unsent,
    /// The target's URL could not be read: nothing was sent to it.
    Skipped,
}

enum Item {
    /// A notice, and its line in the delivery log.
    Notice(usize, Arc<Notice>),
    /// No more notices: the worker ends.
    Close,
}

struct Route {
    notification: Notification,
    queue: mpsc::UnboundedSender<Item>,
}

type Log = Arc<Mutex<Vec<Delivery>>>;

/// The orchestrator's side: events in, never blocking and never failing.
/// Cheap to clone; every clone feeds the same targets.
#[derive(Clone, Default)]
pub struct Outbox {
    routes: Arc<Vec<Route>>,
    context: Arc<OnceLock<Arc<DeployContext>>>,
    log: Log,
}

impl Outbox {
    /// An outbox that tells nobody.
    pub fn none() -> Self {
        Self::default()
    }

    /// What every later message carries; set once, when the deploy knows
    /// its revision and the previous one. Events sent before are dropped: a
    /// deploy that could not resolve its revision has nothing to say.
    pub fn begin(&self, context: DeployContext) {
        let _ = self.context.set(Arc::new(context));
    }

    pub fn send(&self, event: Event) {
        let Some(context) = self.context.get() else {
            return;
        };
        let kind = event.kind();
        let notice = Arc::new(Notice {
            context: context.clone(),
            event,
            at: Timestamp::now(),
        });
        for route in self.routes.iter() {
            if !route.notification.wants(kind) {
                continue;
            }
            let index = {
                let mut log = lock(&self.log);
                log.push(Delivery {
                    target: route.notification.name.clone(),
                    event: Some(kind),
                    outcome: DeliveryOutcome::Pending,
                    attempts: 0,
                    detail: String::new(),
                });
                log.len() - 1
            };
            let _ = route.queue.send(Item::Notice(index, notice.clone()));
        }
    }
}

/// A lock on the delivery log; a worker that panicked mid-update leaves
/// a log that is still worth reporting.
fn lock(log: &Log) -> std::sync::MutexGuard<'_, Vec<Delivery>> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sending side: one worker per target, sending its messages in order.
pub struct Notifier {
    workers: JoinSet<()>,
    skipped: Vec<Delivery>,
}

/// Reads the URL of each target `notifications` has for `environment` and
/// starts its worker; a target whose URL cannot be read is skipped (see
/// [`Notifier::skipped`]). HTTPS targets' certificates are verified
/// against the system's roots and `trust`'s CA bundle. Needs a tokio
/// runtime.
pub fn start(
    notifications: &[Notification],
    environment: &str,
    trust: &Trust,
) -> (Outbox, Notifier) {
    let client = crate::analysis::providers::http::client_trusting(trust);
    let mut routes = Vec::new();
    let mut skipped = Vec::new();
    let mut workers = JoinSet::new();
    let log: Log = Arc::default();
    for notification in notifications.iter().filter(|n| n.covers(environment)) {
        let url = targets::resolve(
            notification,
            |name| std::env::var(name).ok(),
            |path| std::fs::read_to_string(path),
        );
        let resolved = url.and_then(|url| {
            let client = client.clone().map_err(NotifyError::Client)?;
            Ok((url, client))
        });
        let (url, client) = match resolved {
            Ok(resolved) => resolved,
            Err(e) => {
                skipped.push(Delivery {
                    target: notification.name.clone(),
                    event: None,
                    outcome: DeliveryOutcome::Skipped,
                    attempts: 0,
                    detail: e.to_string(),
                });
                continue;
            }
        };
        let (queue, inbox) = mpsc::unbounded_channel();
        workers.spawn(worker(
            notification.clone(),
            url,
            client,
            inbox,
            log.clone(),
        ));
        routes.push(Route {
            notification: notification.clone(),
            queue,
        });
    }
    let outbox = Outbox {
        routes: Arc::new(routes),
        context: Arc::default(),
        log,
    };
    (outbox, Notifier { workers, skipped })
}

async fn worker(
    notification: Notification,
    url: WebhookUrl,
    client: Client,
    mut inbox: mpsc::UnboundedReceiver<Item>,
    log: Log,
) {
    while let Some(Item::Notice(index, notice)) = inbox.recv().await {
        let body = message::body(notification.kind, &notice);
        let (attempts, result) = delivery::post(&client, &url, &body).await;
        if let Some(entry) = lock(&log).get_mut(index) {
            entry.attempts = attempts;
            match result {
                Ok(()) => entry.outcome = DeliveryOutcome::Delivered,
                Err(e) => {
                    entry.outcome = DeliveryOutcome::Failed;
                    entry.detail = e.to_string();
                }
            }
        }
    }
}

impl Notifier {
    /// Targets that will receive nothing, and why: a deploy prints these
    /// as warnings before it starts.
    pub fn skipped(&self) -> &[Delivery] {
        &self.skipped
    }

    /// Lets every worker send what it has queued, for at most `bound`,
    /// then reports every message: the skipped targets first, then each
    /// message in the order it was sent.
    pub async fn finish(mut self, outbox: &Outbox, bound: Duration) -> Vec<Delivery> {
        for route in outbox.routes.iter() {
            let _ = route.queue.send(Item::Close);
        }
        let drained = tokio::time::timeout(bound, async {
            let mut stopped = None;
            while let Some(joined) = self.workers.join_next().await {
                if let Err(e) = joined {
                    stopped = Some(e.to_string());
                }
            }
            stopped
        })
        .await;
        self.workers.abort_all();
        let mut report = std::mem::take(&mut self.skipped);
        for mut entry in lock(&outbox.log).drain(..) {
            if entry.outcome == DeliveryOutcome::Pending {
                entry.outcome = DeliveryOutcome::Unsent;
                entry.detail = match &drained {
                    // Every worker ended, this one without sending it.
                    Ok(stopped) => NotifyError::Task(
                        stopped.clone().unwrap_or_else(|| "it ended early".into()),
                    )
                    .to_string(),
                    Err(_) => NotifyError::Unsent(bound).to_string(),
                };
            }
            report.push(entry);
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::routing::post;
    use serde_json::Value;

    use super::*;
    use crate::config::notifications::{TargetKind, UrlSource};

    /// Every body each path received, in order, and how many requests.
    type Seen = Arc<Mutex<HashMap<String, Vec<Value>>>>;

    /// `/ok/*` answers 200, `/flaky/*` 500 twice then 200, `/missing/*`
    /// 404, `/slow/*` after 30 s.
    async fn receiver() -> (String, Seen) {
        async fn hook(
            State(seen): State<Seen>,
            Path((how, name)): Path<(String, String)>,
            body: String,
        ) -> StatusCode {
            let count = {
                let mut seen = seen.lock().unwrap();
                let list = seen.entry(format!("{how}/{name}")).or_default();
                list.push(serde_json::from_str(&body).unwrap());
                list.len()
            };
            match how.as_str() {
                "flaky" if count <= 2 => StatusCode::INTERNAL_SERVER_ERROR,
                "missing" => StatusCode::NOT_FOUND,
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    StatusCode::OK
                }
                _ => StatusCode::OK,
            }
        }
        let seen = Seen::default();
        let app = axum::Router::new()
            .route("/{how}/{name}", post(hook))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, seen)
    }

    fn target(dir: &tempfile::TempDir, name: &str, url: &str) -> Notification {
        let path = dir.path().join(name);
        std::fs::write(&path, url).unwrap();
        Notification {
            name: name.into(),
            kind: TargetKind::Webhook,
            url_from: UrlSource::File(path),
            environments: vec![],
            events: vec![],
        }
    }

    fn context() -> DeployContext {
        DeployContext {
            service: "shop".into(),
            environment: "production".into(),
            clusters: vec!["eu".into()],
            revision: Revision::new("3f2a9c1d", "3f2a9c1"),
            previous_revision: None,
            by: "tests".into(),
            changes: None,
        }
    }

    fn started() -> Event {
        Event::Started { generation: 1 }
    }

    fn finished() -> Event {
        Event::Finished {
            outcome: Outcome::Deployed,
            message: String::new(),
        }
    }

    #[tokio::test]
    async fn each_target_gets_its_messages_in_order_retried_or_reported() {
        let (base, seen) = receiver().await;
        let dir = tempfile::tempdir().unwrap();
        let mut quiet = target(&dir, "quiet", &format!("{base}/ok/quiet"));
        quiet.events = vec![EventKind::Finished];
        let mut elsewhere = target(&dir, "elsewhere", &format!("{base}/ok/elsewhere"));
        elsewhere.environments = vec!["staging".into()];
        let mut unset = target(&dir, "unset", "");
        unset.url_from = UrlSource::File(dir.path().join("nothing-here"));
        let targets = [
            target(&dir, "chat", &format!("{base}/ok/chat")),
            target(&dir, "flaky", &format!("{base}/flaky/flaky")),
            target(&dir, "gone", &format!("{base}/missing/gone")),
            quiet,
            elsewhere,
            unset,
        ];
        let (outbox, notifier) = start(&targets, "production", &Trust::system());
        outbox.send(started()); // before the context: nobody is told
        outbox.begin(context());
        outbox.send(started());
        outbox.send(finished());
        let report = notifier.finish(&outbox, Duration::from_secs(10)).await;

        let seen = seen.lock().unwrap();
        let events = |path: &str| -> Vec<String> {
            seen.get(path)
                .map(|l| {
                    l.iter()
                        .map(|b| b["event"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(events("ok/chat"), ["started", "finished"]);
        assert_eq!(
            events("flaky/flaky"),
            ["started", "started", "started", "finished"]
        );
        assert_eq!(events("missing/gone"), ["started", "finished"]);
        assert_eq!(events("ok/quiet"), ["finished"]);
        assert!(events("ok/elsewhere").is_empty());

        let line = |target: &str, event: EventKind| {
            report
                .iter()
                .find(|d| d.target == target && d.event == Some(event))
                .unwrap_or_else(|| panic!("{target} {event}: {report:#?}"))
        };
        assert_eq!(
            line("chat", EventKind::Started).outcome,
            DeliveryOutcome::Delivered
        );
        let flaky = line("flaky", EventKind::Started);
        assert_eq!(
            (flaky.outcome, flaky.attempts),
            (DeliveryOutcome::Delivered, 3)
        );
        let gone = line("gone", EventKind::Finished);
        assert_eq!((gone.outcome, gone.attempts), (DeliveryOutcome::Failed, 1));
        assert_eq!(
            gone.detail,
            "the target answered HTTP 404 Not Found (after 1 attempt)"
        );
        assert_eq!(report[0].target, "unset");
        assert_eq!(report[0].outcome, DeliveryOutcome::Skipped);
        assert!(report[0].detail.starts_with("cannot read "), "{report:#?}");
        assert_eq!(report.len(), 1 + 2 + 2 + 2 + 1, "{report:#?}");
        let shown = format!("{report:?}");
        assert!(!shown.contains(&base), "no URL in the report: {shown}");
    }

    #[tokio::test]
    async fn a_target_that_hangs_delays_the_exit_by_the_bound_at_most() {
        let (base, _seen) = receiver().await;
        let dir = tempfile::tempdir().unwrap();
        let targets = [
            target(&dir, "slow", &format!("{base}/slow/slow")),
            target(&dir, "chat", &format!("{base}/ok/chat")),
        ];
        let (outbox, notifier) = start(&targets, "production", &Trust::system());
        outbox.begin(context());
        outbox.send(started());
        outbox.send(finished());
        let begun = std::time::Instant::now();
        let report = notifier.finish(&outbox, Duration::from_millis(500)).await;
        assert!(
            begun.elapsed() < Duration::from_secs(2),
            "{:?}",
            begun.elapsed()
        );
        let outcomes: Vec<(&str, DeliveryOutcome)> = report
            .iter()
            .map(|d| (d.target.as_str(), d.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("slow", DeliveryOutcome::Unsent),
                ("chat", DeliveryOutcome::Delivered),
                ("slow", DeliveryOutcome::Unsent),
                ("chat", DeliveryOutcome::Delivered),
            ]
        );
        assert_eq!(
            report[0].detail,
            "not delivered within the 0.5s the deploy waits for notifications at exit"
        );
    }
}
