//! What a notification says: a deploy's context and one event in, the body
//! a target receives out. Pure: no I/O and no clock (the time is part of
//! the notice), so every message shape is a unit test.

use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::config::notifications::{EventKind, TargetKind};
use crate::deploy::target::FailedMeasurement;
use crate::gitops::ledger::short;
use crate::gitops::source::Commit;
use crate::gitops::store::Snapshot;

/// At most this many commits are listed; the rest are "and N more".
pub const COMMITS_SHOWN: usize = 10;

/// What every message of one deploy carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployContext {
    pub service: String,
    pub environment: String,
    /// Every cluster of the environment, in wave order.
    pub clusters: Vec<String>,
    pub revision: Revision,
    /// What the environment ran (or wanted) before this deploy; `None` for
    /// its first deploy.
    pub previous_revision: Option<Revision>,
    /// Who deploys: `--by`, or the CI job's URL.
    pub by: String,
    /// The commits between the previous revision and this one.
    pub changes: Option<Changes>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    pub sha: String,
    pub short: String,
    /// As the user gave it (a tag, a short sha).
    pub label: String,
}

impl Revision {
    pub fn new(sha: &str, label: &str) -> Self {
        Self {
            sha: sha.to_owned(),
            short: short(sha).to_owned(),
            label: label.to_owned(),
        }
    }

    /// `v1.4.2 (3f2a9c1)`, or just `3f2a9c1` when the label is the sha.
    fn shown(&self) -> String {
        if self.label.is_empty() || self.sha.starts_with(&self.label) {
            self.short.clone()
        } else {
            format!("{} ({})", self.label, self.short)
        }
    }
}

/// The commits a deploy ships (or, stepping back, takes away).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    /// Newest first, at most [`COMMITS_SHOWN`].
    pub commits: Vec<CommitLine>,
    /// How many more there are beyond those listed.
    pub more: usize,
    /// The revision is older than the previous one: these commits are the
    /// ones rolled back.
    pub rollback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitLine {
    pub sha: String,
    pub short: String,
    pub subject: String,
    pub author: String,
}

impl Changes {
    /// From what `SourceRepo::commits_between` returns.
    pub fn new(commits: Vec<Commit>, total: usize, rollback: bool) -> Self {
        let commits: Vec<CommitLine> = commits
            .into_iter()
            .take(COMMITS_SHOWN)
            .map(|c| CommitLine {
                sha: c.sha,
                short: c.short,
                subject: c.subject,
                author: c.author,
            })
            .collect();
        Self {
            more: total.saturating_sub(commits.len()),
            commits,
            rollback,
        }
    }
}

/// What the environment ran before a deploy of `sha`: the revision its
/// ledger wanted, or, when a deploy of `sha` is resumed, what the clusters
/// ran before it.
pub fn previous_revision(snapshot: &Snapshot, sha: &str) -> Option<Revision> {
    let intended = snapshot.environment.as_ref()?;
    if intended.revision != sha {
        return Some(Revision::new(&intended.revision, &intended.label));
    }
    snapshot
        .clusters
        .values()
        .filter(|c| c.revision == sha)
        .find_map(|c| {
            let previous = c.previous_revision.as_deref()?;
            Some(Revision::new(
                previous,
                c.previous_label.as_deref().unwrap_or_default(),
            ))
        })
}

/// How a deploy that was not refused ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Deployed,
    Failed,
    TimedOut,
    Interrupted,
}

/// One thing that happened to a deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The ledger now wants this revision under `generation`.
    Started {
        generation: u64,
    },
    /// Every cluster of the wave is Healthy at the revision.
    WaveDone {
        wave: u32,
        clusters: Vec<String>,
    },
    ClusterFailed {
        cluster: String,
        wave: u32,
        reason: String,
        measurement: Option<FailedMeasurement>,
    },
    Finished {
        outcome: Outcome,
        message: String,
    },
    /// Older than what the environment wants, or superseded by a newer
    /// deploy.
    Refused {
        reason: String,
    },
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Self::Started { .. } => EventKind::Started,
            Self::WaveDone { .. } => EventKind::WaveDone,
            Self::ClusterFailed { .. } => EventKind::ClusterFailed,
            Self::Finished { .. } => EventKind::Finished,
            Self::Refused { .. } => EventKind::Refused,
        }
    }
}

/// An event of a deploy, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub context: std::sync::Arc<DeployContext>,
    pub event: Event,
    pub at: Timestamp,
}

/// The body a target of `kind` receives for `notice`.
pub fn body(kind: TargetKind, notice: &Notice) -> Value {
    match kind {
        TargetKind::Slack => serde_json::json!({ "text": slack_text(notice) }),
        TargetKind::Webhook => webhook_body(notice),
    }
}

/// The generic webhook's document: the context, the event's own fields,
/// and the same summary a person reads in chat, as plain text.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookBody<'a> {
    event: EventKind,
    at: String,
    #[serde(flatten)]
    context: &'a DeployContext,
    /// The clusters this event is about.
    event_clusters: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wave: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    measurement: Option<&'a FailedMeasurement>,
    text: String,
}

fn webhook_body(notice: &Notice) -> Value {
    let context = notice.context.as_ref();
    let mut body = WebhookBody {
        event: notice.event.kind(),
        at: notice.at.to_string(),
        context,
        event_clusters: context.clusters.iter().map(String::as_str).collect(),
        generation: None,
        wave: None,
        outcome: None,
        reason: None,
        measurement: None,
        text: plain_text(notice),
    };
    match &notice.event {
        Event::Started { generation } => body.generation = Some(*generation),
        Event::WaveDone { wave, clusters } => {
            body.wave = Some(*wave);
            body.event_clusters = clusters.iter().map(String::as_str).collect();
        }
        Event::ClusterFailed {
            cluster,
            wave,
            reason,
            measurement,
        } => {
            body.wave = Some(*wave);
            body.event_clusters = vec![cluster.as_str()];
            body.reason = Some(reason);
            body.measurement = measurement.as_ref();
        }
        Event::Finished { outcome, message } => {
            body.outcome = Some(*outcome);
            body.reason = (!message.is_empty()).then_some(message.as_str());
        }
        Event::Refused { reason } => body.reason = Some(reason),
    }
    // Serializing plain strings and numbers cannot fail.
    serde_json::to_value(&body).unwrap_or(Value::Null)
}

/// How text is set: Slack's mrkdwn (escaped, with emphasis) or plain.
#[derive(Clone, Copy)]
enum Style {
    Slack,
    Plain,
}

impl Style {
    /// User-written text (subjects, reasons): Slack needs `&`, `<` and `>`
    /// escaped, or `<!channel>` in a commit subject would ping everyone.
    fn text(self, text: &str) -> String {
        match self {
            Self::Slack => text
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;"),
            Self::Plain => text.to_owned(),
        }
    }

    fn strong(self, text: &str) -> String {
        match self {
            Self::Slack => format!("*{}*", self.text(text)),
            Self::Plain => text.to_owned(),
        }
    }

    fn code(self, text: &str) -> String {
        match self {
            Self::Slack => format!("`{}`", self.text(text)),
            Self::Plain => text.to_owned(),
        }
    }

    fn icon(self, icon: &str) -> String {
        match self {
            Self::Slack => format!("{icon} "),
            Self::Plain => String::new(),
        }
    }
}

/// The Slack message: a headline, the event's detail, and the commits.
pub fn slack_text(notice: &Notice) -> String {
    text(notice, Style::Slack)
}

/// The same message with no markup, for the generic webhook's `text`.
pub fn plain_text(notice: &Notice) -> String {
    text(notice, Style::Plain)
}

fn text(notice: &Notice, style: Style) -> String {
    let c = notice.context.as_ref();
    let what = format!(
        "{} to {}",
        style.strong(&c.service),
        style.strong(&c.environment)
    );
    let revision = style.code(&c.revision.shown());
    let previous = c
        .previous_revision
        .as_ref()
        .map(|p| format!(" (was {})", style.code(&p.shown())))
        .unwrap_or_else(|| " (first deploy)".to_owned());
    let list = |names: &[String]| style.text(&names.join(", "));
    let mut out = match &notice.event {
        Event::Started { .. } => format!(
            "{}{what}: deploying {revision}{previous} on {}, by {}",
            style.icon(":rocket:"),
            list(&c.clusters),
            style.text(&c.by)
        ),
        Event::WaveDone { wave, clusters } => format!(
            "{}{what}: wave {wave} Healthy at {revision} on {}",
            style.icon(":white_check_mark:"),
            list(clusters)
        ),
        Event::ClusterFailed {
            cluster,
            wave,
            reason,
            measurement,
        } => {
            let mut line = format!(
                "{}{what}: {revision} failed on {} (wave {wave}): {}",
                style.icon(":x:"),
                style.strong(cluster),
                style.text(reason)
            );
            if let Some(m) = measurement {
                let _ = write!(line, "\nanalysis: {}", style.text(&m.to_string()));
            }
            line
        }
        Event::Finished { outcome, message } => {
            let (icon, verb) = match outcome {
                Outcome::Deployed => (":tada:", "deployed"),
                Outcome::Failed => (":x:", "failed"),
                Outcome::TimedOut => (":hourglass:", "timed out"),
                Outcome::Interrupted => (":warning:", "interrupted"),
            };
            let mut line = format!("{}{what}: {revision}{previous} {verb}", style.icon(icon));
            if *outcome == Outcome::Deployed {
                let _ = write!(line, " on {}", list(&c.clusters));
            } else if !message.is_empty() {
                let _ = write!(line, ": {}", style.text(message));
            }
            line
        }
        Event::Refused { reason } => format!(
            "{}{what}: {revision} refused: {}",
            style.icon(":no_entry:"),
            style.text(reason)
        ),
    };
    if let Some(changes) = &c.changes {
        out.push('\n');
        out.push_str(&commit_list(changes, c, style));
    }
    out
}

fn commit_list(changes: &Changes, c: &DeployContext, style: Style) -> String {
    let total = changes.commits.len() + changes.more;
    let plural = if total == 1 { "commit" } else { "commits" };
    let mut out = match (&c.previous_revision, changes.rollback) {
        (Some(previous), true) => format!(
            "rolls back {total} {plural} since {}:",
            style.code(&previous.short)
        ),
        (Some(previous), false) => {
            format!("{total} {plural} since {}:", style.code(&previous.short))
        }
        (None, _) => "first deploy:".to_owned(),
    };
    for commit in &changes.commits {
        let _ = write!(
            out,
            "\n• {} {} ({})",
            style.code(&commit.short),
            style.text(&commit.subject),
            style.text(&commit.author)
        );
    }
    if changes.more > 0 {
        let _ = write!(out, "\n• and {} more", changes.more);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::gitops::ledger::{Applied, ClusterRecord, ClusterState, EnvironmentRecord};

    const SHA: &str = "3f2a9c1d0e0000000000000000000000000000aa";
    const OLD: &str = "1a2b3c4d0e0000000000000000000000000000bb";

    fn commit(n: usize) -> Commit {
        let sha = format!("{n:07}{}", "c".repeat(33));
        Commit {
            short: sha[..7].to_owned(),
            sha,
            subject: format!("change {n}"),
            author: "Ada".into(),
            time: 0,
        }
    }

    fn context(commits: usize) -> Arc<DeployContext> {
        Arc::new(DeployContext {
            service: "shop".into(),
            environment: "production".into(),
            clusters: vec!["eu".into(), "us".into(), "ap".into()],
            revision: Revision::new(SHA, "3f2a9c1"),
            previous_revision: Some(Revision::new(OLD, "v1.4.1")),
            by: "https://ci.example/run/7".into(),
            changes: Some(Changes::new(
                (0..commits.min(COMMITS_SHOWN)).map(commit).collect(),
                commits,
                false,
            )),
        })
    }

    fn notice(context: Arc<DeployContext>, event: Event) -> Notice {
        Notice {
            context,
            event,
            at: Timestamp::UNIX_EPOCH,
        }
    }

    fn failed_in_eu() -> Event {
        Event::ClusterFailed {
            cluster: "eu".into(),
            wave: 1,
            reason: "Rollout shop: Rollout aborted: analysis run shop-3f2a9c1-1 failed".into(),
            measurement: Some(FailedMeasurement {
                analysis_run: "shop-3f2a9c1-1".into(),
                metric: "error-rate".into(),
                value: Some("0.5".into()),
                condition: Some("success: result <= 0.05; failure: result > 0.05".into()),
                message: None,
            }),
        }
    }

    #[test]
    fn started_names_everything_and_lists_the_commits() {
        let text = slack_text(&notice(context(2), Event::Started { generation: 4 }));
        assert_eq!(
            text,
            "\
:rocket: *shop* to *production*: deploying `3f2a9c1` (was `v1.4.1 (1a2b3c4)`) on eu, us, ap, by https://ci.example/run/7
2 commits since `1a2b3c4`:
• `0000000` change 0 (Ada)
• `0000001` change 1 (Ada)"
        );
    }

    #[test]
    fn a_long_history_is_capped_with_and_n_more() {
        let text = plain_text(&notice(context(25), Event::Started { generation: 4 }));
        assert!(text.contains("25 commits since 1a2b3c4:"), "{text}");
        assert_eq!(text.matches("\n• ").count(), COMMITS_SHOWN + 1, "{text}");
        assert!(text.ends_with("• and 15 more"), "{text}");
    }

    #[test]
    fn a_failed_cluster_carries_the_measurement_that_decided_it() {
        let text = slack_text(&notice(context(1), failed_in_eu()));
        assert!(
            text.starts_with(
                ":x: *shop* to *production*: `3f2a9c1` failed on *eu* (wave 1): Rollout shop"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "\nanalysis: error-rate = 0.5 (success: result &lt;= 0.05; failure: result &gt; 0.05)"
            ),
            "{text}"
        );
        let body = body(TargetKind::Webhook, &notice(context(1), failed_in_eu()));
        assert_eq!(body["event"], "clusterFailed");
        assert_eq!(body["eventClusters"], serde_json::json!(["eu"]));
        assert_eq!(body["wave"], 1);
        assert_eq!(body["measurement"]["metric"], "error-rate");
        assert_eq!(body["measurement"]["value"], "0.5");
        assert_eq!(
            body["measurement"]["condition"],
            "success: result <= 0.05; failure: result > 0.05"
        );
    }

    #[test]
    fn the_webhook_document_carries_the_context_and_the_events_fields() {
        let body = body(
            TargetKind::Webhook,
            &notice(
                context(12),
                Event::WaveDone {
                    wave: 2,
                    clusters: vec!["us".into(), "ap".into()],
                },
            ),
        );
        assert_eq!(body["event"], "waveDone");
        assert_eq!(body["at"], "1970-01-01T00:00:00Z");
        assert_eq!(body["service"], "shop");
        assert_eq!(body["environment"], "production");
        assert_eq!(body["clusters"], serde_json::json!(["eu", "us", "ap"]));
        assert_eq!(body["eventClusters"], serde_json::json!(["us", "ap"]));
        assert_eq!(body["revision"]["sha"], SHA);
        assert_eq!(body["previousRevision"]["sha"], OLD);
        assert_eq!(body["previousRevision"]["label"], "v1.4.1");
        assert_eq!(
            body["changes"]["commits"].as_array().map(Vec::len),
            Some(10)
        );
        assert_eq!(body["changes"]["commits"][0]["author"], "Ada");
        assert_eq!(body["changes"]["more"], 2);
        assert_eq!(body["by"], "https://ci.example/run/7");
        assert!(body.get("measurement").is_none() && body.get("outcome").is_none());
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .starts_with("shop to production: wave 2")
        );
    }

    #[test]
    fn finished_and_refused_say_how_it_ended() {
        let finished = |outcome, message: &str| {
            plain_text(&notice(
                context(0),
                Event::Finished {
                    outcome,
                    message: message.into(),
                },
            ))
        };
        assert!(finished(Outcome::Deployed, "").starts_with(
            "shop to production: 3f2a9c1 (was v1.4.1 (1a2b3c4)) deployed on eu, us, ap"
        ));
        assert!(finished(Outcome::Failed, "failed in eu").contains("failed: failed in eu"));
        assert!(finished(Outcome::TimedOut, "x").contains(" timed out: x"));
        assert!(finished(Outcome::Interrupted, "x").contains(" interrupted: x"));
        let body = body(
            TargetKind::Webhook,
            &notice(
                context(0),
                Event::Finished {
                    outcome: Outcome::TimedOut,
                    message: "x".into(),
                },
            ),
        );
        assert_eq!(
            (body["outcome"].as_str(), body["reason"].as_str()),
            (Some("timedOut"), Some("x"))
        );
        let refused = slack_text(&notice(
            context(0),
            Event::Refused {
                reason: "production already wants a newer revision".into(),
            },
        ));
        assert!(refused.starts_with(
            ":no_entry: *shop* to *production*: `3f2a9c1` refused: production already"
        ));
    }

    #[test]
    fn slack_text_escapes_what_users_wrote() {
        let mut c = (*context(0)).clone();
        c.changes = Some(Changes::new(
            vec![Commit {
                subject: "<!channel> fix a & b".into(),
                ..commit(1)
            }],
            1,
            false,
        ));
        let text = slack_text(&notice(Arc::new(c), Event::Started { generation: 1 }));
        assert!(text.contains("&lt;!channel&gt; fix a &amp; b"), "{text}");
        assert!(!text.contains("<!channel>"), "{text}");
    }

    #[test]
    fn a_first_deploy_and_a_rollback_say_so() {
        let mut c = (*context(0)).clone();
        c.previous_revision = None;
        c.changes = Some(Changes::new(vec![commit(1)], 1, false));
        let text = plain_text(&notice(
            Arc::new(c.clone()),
            Event::Started { generation: 1 },
        ));
        assert!(text.contains("deploying 3f2a9c1 (first deploy)"), "{text}");
        assert!(
            text.contains("first deploy:\n• 0000001 change 1 (Ada)"),
            "{text}"
        );
        c.previous_revision = Some(Revision::new(OLD, OLD));
        c.changes = Some(Changes::new(vec![commit(1), commit(2)], 2, true));
        let text = plain_text(&notice(Arc::new(c), Event::Started { generation: 1 }));
        assert!(text.contains("(was 1a2b3c4)"), "{text}");
        assert!(
            text.contains("rolls back 2 commits since 1a2b3c4:"),
            "{text}"
        );
    }

    fn cluster(revision: &str, previous: Option<(&str, &str)>) -> ClusterRecord {
        ClusterRecord {
            revision: revision.into(),
            label: short(revision).into(),
            state: ClusterState::Healthy,
            previous_revision: previous.map(|p| p.0.to_owned()),
            previous_label: previous.map(|p| p.1.to_owned()),
            generation: 1,
            applied: Applied::default(),
            updated_at: String::new(),
            by: String::new(),
            message: None,
            rollback: false,
        }
    }

    #[test]
    fn the_previous_revision_is_the_one_wanted_before_or_for_a_resume_the_clusters_last() {
        let wanting = |revision: &str| EnvironmentRecord {
            revision: revision.into(),
            label: "v1.4.1".into(),
            generation: 3,
            updated_at: String::new(),
            by: String::new(),
            rollback: false,
        };
        let mut snapshot = Snapshot {
            head: None,
            environment: None,
            clusters: BTreeMap::new(),
        };
        assert_eq!(previous_revision(&snapshot, SHA), None);
        snapshot.environment = Some(wanting(OLD));
        assert_eq!(
            previous_revision(&snapshot, SHA),
            Some(Revision::new(OLD, "v1.4.1"))
        );
        snapshot.environment = Some(wanting(SHA));
        snapshot
            .clusters
            .insert("eu".into(), cluster(SHA, Some((OLD, "1a2b3c4"))));
        assert_eq!(
            previous_revision(&snapshot, SHA),
            Some(Revision::new(OLD, "1a2b3c4"))
        );
        snapshot.clusters.insert("eu".into(), cluster(SHA, None));
        assert_eq!(previous_revision(&snapshot, SHA), None);
    }
}
