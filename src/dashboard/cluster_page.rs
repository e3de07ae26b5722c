//! A cluster's page: what the ledger says it runs, its Rollouts (each
//! linking to its live page, with the engine's word for it now), and its
//! history from the ledger, newest first. Pure.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::changes::changes_link;
use super::html::{esc, rollout_href};
use super::looks;
use super::page::Page;
use super::time::{time_tag, time_tag_at};
use super::who::who;
use crate::config::Cluster;
use crate::engine::Outcome;
use crate::gitops::ledger::short;
use crate::gitops::{ClusterRecord, HistoryEntry, Record};

pub struct ClusterView {
    pub service: String,
    pub environment: String,
    pub cluster: Cluster,
    pub compare_url: Option<String>,
    /// Where the ledger is, safe to show.
    pub ledger: String,
    pub record: Option<ClusterRecord>,
    pub rollouts: Vec<RolloutLine>,
    /// Oldest first, as the ledger keeps it.
    pub history: Vec<HistoryEntry>,
}

pub struct RolloutLine {
    pub name: String,
    pub namespace: String,
    /// The engine's answer, or why the cluster could not say.
    pub now: Result<Option<Outcome>, String>,
}

pub fn render(view: &ClusterView, now: Timestamp) -> String {
    let mut body = String::new();
    let cluster = &view.cluster;
    let _ = write!(
        body,
        r#"<h1>{} / {} / {}</h1><p class="meta">Region {}, wave {}, kubeconfig context <code>{}</code>, namespace <code>{}</code>. Ledger {}.</p>"#,
        esc(&view.service),
        esc(&view.environment),
        esc(&cluster.name),
        esc(&cluster.region),
        cluster.wave,
        esc(&cluster.context),
        esc(&cluster.namespace),
        esc(&view.ledger)
    );
    body.push_str(r#"<section aria-labelledby="now-h"><h2 id="now-h">Now, by the ledger</h2>"#);
    let look = looks::of_ledger(view.record.as_ref().map(|r| r.state));
    match &view.record {
        Some(record) => {
            let _ = write!(
                body,
                r#"<div class="cell cell-{}"><p>{}</p><dl><dt>Revision</dt><dd><code title="{}">{}</code></dd><dt>Since</dt><dd>{}</dd><dt>By</dt><dd>{}</dd><dt>Generation</dt><dd>{}</dd><dt>Changes</dt><dd>{}</dd></dl>{}</div>"#,
                look.class,
                look.badge(),
                esc(&record.revision),
                esc(&record.label),
                time_tag(&record.updated_at, now),
                who(&record.by),
                record.generation,
                changes(view, record),
                record
                    .message
                    .as_deref()
                    .map(|m| format!(r#"<p class="message">{}</p>"#, esc(m)))
                    .unwrap_or_default()
            );
        }
        None => body.push_str("<p>Never deployed.</p>"),
    }
    body.push_str("</section>");
    rollouts(&mut body, view);
    history(&mut body, view, now);
    Page {
        title: &format!("{} / {}", view.environment, cluster.name),
        crumbs: Vec::new(),
        body,
        live: false,
    }
    .render()
}

fn changes(view: &ClusterView, record: &ClusterRecord) -> String {
    match record.previous_revision.as_deref() {
        Some(previous) if previous != record.revision => changes_link(
            &view.service,
            view.compare_url.as_deref(),
            previous,
            &record.revision,
        ),
        Some(_) => "none (a redeploy)".into(),
        None => "first deploy".into(),
    }
}

fn rollouts(body: &mut String, view: &ClusterView) {
    body.push_str(r#"<section aria-labelledby="rollouts-h"><h2 id="rollouts-h">Rollouts</h2>"#);
    if view.rollouts.is_empty() {
        body.push_str(
            r#"<p class="muted">The ledger records no Rollout applied here.</p></section>"#,
        );
        return;
    }
    body.push_str("<ul>");
    for line in &view.rollouts {
        let now = match &line.now {
            Ok(Some(outcome)) => format!(
                "{} <span class=\"message\">{}</span>",
                looks::of_outcome(outcome).badge(),
                esc(&outcome.to_string())
            ),
            Ok(None) => "not found in the cluster".to_owned(),
            Err(e) => format!("cannot tell: {}", esc(e)),
        };
        let _ = write!(
            body,
            r#"<li><a href="{}">{}</a> <span class="muted">(namespace {})</span>: {now}</li>"#,
            esc(&rollout_href(
                &view.service,
                &view.environment,
                &view.cluster.name,
                &line.name
            )),
            esc(&line.name),
            esc(&line.namespace)
        );
    }
    body.push_str("</ul></section>");
}

fn history(body: &mut String, view: &ClusterView, now: Timestamp) {
    body.push_str(r#"<section aria-labelledby="history-h"><h2 id="history-h">History</h2>"#);
    if view.history.is_empty() {
        body.push_str(r#"<p class="muted">No deploys recorded yet.</p></section>"#);
        return;
    }
    body.push_str(r#"<table class="stack"><thead><tr><th>When</th><th>State</th><th>Revision</th><th>By</th><th>Message</th><th>Ledger commit</th></tr></thead><tbody>"#);
    for entry in view.history.iter().rev() {
        let record = entry.changes.iter().find_map(|c| match &c.record {
            Some(Record::Cluster(r)) => Some(r),
            _ => None,
        });
        let when = Timestamp::from_second(entry.time)
            .map(|t| time_tag_at(t, now))
            .unwrap_or_default();
        let (state, revision, by, message) = match record {
            Some(r) => (
                looks::of_ledger(Some(r.state)).badge(),
                format!(
                    r#"<code title="{}">{}</code>{}"#,
                    esc(&r.revision),
                    esc(&r.label),
                    match r.previous_revision.as_deref() {
                        Some(p) if p != r.revision => format!(" ({})", changes(view, r)),
                        _ => String::new(),
                    }
                ),
                who(&r.by),
                esc(r.message.as_deref().unwrap_or("")).to_string(),
            ),
            None => (
                "removed".to_owned(),
                String::new(),
                String::new(),
                esc(&entry.subject).to_string(),
            ),
        };
        let _ = write!(
            body,
            r#"<tr><td data-label="When">{when}</td><td data-label="State">{state}</td><td data-label="Revision">{revision}</td><td data-label="By">{by}</td><td data-label="Message">{message}</td><td data-label="Ledger commit"><code title="{}">{}</code></td></tr>"#,
            esc(&entry.commit),
            esc(short(&entry.commit))
        );
    }
    body.push_str("</tbody></table></section>");
}
