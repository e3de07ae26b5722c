//! The front page: every service's environments and clusters from the
//! ledger, at a glance. Clusters mid-deploy or failed are listed first
//! under "Needs attention" and drawn with heavier borders; every state is
//! a word. Pure: `now` is an argument, so the benchmark measures exactly
//! the rendering.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::changes::changes_link;
use super::html::{cluster_href, esc};
use super::looks;
use super::overview::{ClusterOverview, EnvironmentOverview, Overview, ServiceOverview};
use super::page::Page;
use super::redact::without_credentials;
use super::time::time_tag;
use super::who::who;
use crate::gitops::ledger::short;

pub fn render(overview: &Overview, now: Timestamp) -> String {
    let mut body = String::with_capacity(512 + 900 * cells(overview));
    body.push_str("<h1>What runs where</h1>");
    let _ = write!(
        body,
        r#"<p class="meta">From the deploy ledger, read {}.</p>"#,
        time_tag(&now.to_string(), now)
    );
    attention(&mut body, overview);
    for problem in &overview.problems {
        let _ = write!(
            body,
            r#"<p class="error" role="alert">{}</p>"#,
            esc(&without_credentials(problem))
        );
    }
    if overview.services.is_empty() && overview.problems.is_empty() {
        body.push_str(
            "<p>No services are configured: add one under <code>conductor-config/</code>.</p>",
        );
    }
    for service in &overview.services {
        service_section(&mut body, service, now);
    }
    Page {
        title: "What runs where",
        crumbs: Vec::new(),
        body,
        live: false,
    }
    .render()
}

fn cells(overview: &Overview) -> usize {
    overview
        .services
        .iter()
        .flat_map(|s| &s.environments)
        .map(|e| e.clusters.len())
        .sum()
}

/// The id a cluster's cell carries, for the attention list to link to.
fn cell_id(service: &str, environment: &str, cluster: &str) -> String {
    format!("c-{service}-{environment}-{cluster}")
}

fn attention(body: &mut String, overview: &Overview) {
    let mut items = String::new();
    let mut count = 0;
    for service in &overview.services {
        for environment in &service.environments {
            for cluster in &environment.clusters {
                let look = looks::of_ledger(cluster.record.as_ref().map(|r| r.state));
                if !look.attention {
                    continue;
                }
                count += 1;
                let message = cluster
                    .record
                    .as_ref()
                    .and_then(|r| r.message.as_deref())
                    .map(|m| format!(": {}", esc(m)))
                    .unwrap_or_default();
                let _ = write!(
                    items,
                    "<li>{} <a href=\"#{}\">{} / {} / {}</a>{message}</li>",
                    look.badge(),
                    esc(&cell_id(&service.name, &environment.name, &cluster.name)),
                    esc(&service.name),
                    esc(&environment.name),
                    esc(&cluster.name)
                );
            }
        }
    }
    if count == 0 {
        body.push_str(
            r#"<p class="muted">Nothing needs attention: no cluster is mid-deploy or failed.</p>"#,
        );
        return;
    }
    let _ = write!(
        body,
        r#"<section class="attention" aria-labelledby="attention-h"><h2 id="attention-h">Needs attention ({count})</h2><ul>{items}</ul></section>"#
    );
}

fn service_section(body: &mut String, service: &ServiceOverview, now: Timestamp) {
    let _ = write!(
        body,
        r#"<section class="service" aria-labelledby="s-{0}"><h2 id="s-{0}">{0}</h2><p class="meta">Ledger {1}{2}</p>"#,
        esc(&service.name),
        esc(&service.ledger),
        service
            .head
            .as_deref()
            .map(|h| format!(" at <code>{}</code>", esc(short(h))))
            .unwrap_or_default()
    );
    if let Some(error) = &service.error {
        let _ = write!(
            body,
            r#"<p class="error" role="alert">The ledger could not be read: {}</p>"#,
            esc(&without_credentials(error))
        );
    }
    for environment in &service.environments {
        environment_section(body, service, environment, now);
    }
    body.push_str("</section>");
}

fn environment_section(
    body: &mut String,
    service: &ServiceOverview,
    environment: &EnvironmentOverview,
    now: Timestamp,
) {
    let _ = write!(
        body,
        r#"<section class="env" aria-label="{0} {1}"><h3>{1}</h3>"#,
        esc(&service.name),
        esc(&environment.name)
    );
    match &environment.intended {
        Some(intended) => {
            let _ = write!(
                body,
                r#"<p class="meta">Wants <code title="{}">{}</code>{} since {}, by {}.</p>"#,
                esc(&intended.revision),
                esc(&intended.label),
                if intended.rollback {
                    " (a rollback)"
                } else {
                    ""
                },
                time_tag(&intended.updated_at, now),
                who(&intended.by)
            );
        }
        None => body.push_str(r#"<p class="meta">No intended revision recorded.</p>"#),
    }
    body.push_str(r#"<ul class="cells">"#);
    for cluster in &environment.clusters {
        cell(body, service, environment, cluster, now);
    }
    body.push_str("</ul></section>");
}

fn cell(
    body: &mut String,
    service: &ServiceOverview,
    environment: &EnvironmentOverview,
    cluster: &ClusterOverview,
    now: Timestamp,
) {
    let look = looks::of_ledger(cluster.record.as_ref().map(|r| r.state));
    let _ = write!(
        body,
        r#"<li class="cell cell-{}" id="{}" data-cluster="{}" data-state="{}"><h4><a href="{}">{}</a></h4><p class="where">{} · wave {}</p>{}"#,
        look.class,
        esc(&cell_id(&service.name, &environment.name, &cluster.name)),
        esc(&cluster.name),
        look.word,
        esc(&cluster_href(
            &service.name,
            &environment.name,
            &cluster.name
        )),
        esc(&cluster.name),
        esc(&cluster.region),
        cluster.wave,
        look.badge()
    );
    if let Some(record) = &cluster.record {
        let _ = write!(
            body,
            r#"<dl><dt>Revision</dt><dd><code title="{}">{}</code></dd><dt>Since</dt><dd>{}</dd><dt>By</dt><dd>{}</dd><dt>Changes</dt><dd>"#,
            esc(&record.revision),
            esc(&record.label),
            time_tag(&record.updated_at, now),
            who(&record.by)
        );
        match record.previous_revision.as_deref() {
            Some(previous) if previous != record.revision => body.push_str(&changes_link(
                &service.name,
                service.compare_url.as_deref(),
                previous,
                &record.revision,
            )),
            Some(_) => body.push_str("none (a redeploy)"),
            None => body.push_str("first deploy"),
        }
        body.push_str("</dd></dl>");
        if let Some(message) = &record.message {
            let _ = write!(body, r#"<p class="message">{}</p>"#, esc(message));
        }
    }
    body.push_str("</li>");
}
