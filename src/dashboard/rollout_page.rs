//! A Rollout's page: where it stands (the engine's own word), its steps
//! with the current one marked, the canary weight, ReplicaSets and their
//! readiness, analysis charted against thresholds, and Events. The part
//! that changes is one fragment, rendered the same way for the first page
//! load and for every update the live stream sends. Pure.

use std::fmt::Write as _;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::ResourceExt;

use super::action::{Action, Notice};
use super::analysis_view;
use super::html::{cluster_href, esc, rollout_href};
use super::looks;
use super::page::Page;
use super::redact::without_credentials;
use super::steps::{StepState, canary_steps};
use super::time::time_tag;
use super::world::{RolloutWorld, when};
use crate::crd::rollout::RolloutStatus;
use crate::engine;
use crate::platform::kubernetes::owned_replica_set::written_revision;
use crate::platform::kubernetes::{HASH_LABEL, LABEL_ANNOTATION};

/// Which Rollout, where.
#[derive(Debug, Clone)]
pub struct Place {
    pub service: String,
    pub environment: String,
    pub cluster: String,
    pub namespace: String,
    pub name: String,
}

impl Place {
    pub fn href(&self) -> String {
        rollout_href(&self.service, &self.environment, &self.cluster, &self.name)
    }
}

/// What the page knows when it is rendered.
pub enum Seen<'a> {
    Rollout(&'a RolloutWorld),
    Missing,
    /// The cluster could not be read; the error in words.
    Unreadable(String),
}

pub fn render_page(
    place: &Place,
    seen: Seen<'_>,
    now: Timestamp,
    actions: bool,
    notice: Option<Notice>,
) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<h1>Rollout {}</h1><p class="meta">Namespace {} of cluster {} ({} / {}). <span id="live-state" class="live-state" role="status">Live updates start when the page has loaded.</span></p>"#,
        esc(&place.name),
        esc(&place.namespace),
        esc(&place.cluster),
        esc(&place.service),
        esc(&place.environment)
    );
    if let Some(notice) = notice {
        let _ = write!(
            body,
            r#"<p class="notice" role="status">{}</p>"#,
            esc(&notice.text())
        );
    }
    body.push_str(&actions_section(place, actions));
    let _ = write!(
        body,
        r#"<div id="live" data-stream="{}/live" aria-live="polite">{}</div>"#,
        esc(&place.href()),
        render_live(place, seen, now)
    );
    Page {
        title: &format!("{} in {}", place.name, place.cluster),
        crumbs: vec![(
            cluster_href(&place.service, &place.environment, &place.cluster),
            format!(
                "{} / {} / {}",
                place.service, place.environment, place.cluster
            ),
        )],
        body,
        live: true,
    }
    .render()
}

fn actions_section(place: &Place, enabled: bool) -> String {
    if !enabled {
        return r#"<p class="muted">Read-only: start the dashboard with <code>--token-file</code> to promote, abort or retry from here.</p>"#.to_owned();
    }
    let mut html = String::from(
        r#"<section aria-labelledby="actions-h"><h2 id="actions-h">Actions</h2><div class="actions">"#,
    );
    for action in Action::ALL {
        let _ = write!(
            html,
            r#"<a class="button{}" href="{}/actions/{}">{}…</a>"#,
            if action.dangerous() { " danger" } else { "" },
            esc(&place.href()),
            action.name(),
            action.verb()
        );
    }
    html.push_str(r#"</div><p class="muted">Each asks you to confirm, with your token; the request is recorded with your name in an Event on the rollout.</p></section>"#);
    html
}

/// The part of the page that the live stream replaces.
pub fn render_live(place: &Place, seen: Seen<'_>, now: Timestamp) -> String {
    let world = match seen {
        Seen::Rollout(world) => world,
        Seen::Missing => {
            return format!(
                r#"<p class="error" role="alert">No Rollout {} in namespace {} of cluster {}.</p>"#,
                esc(&place.name),
                esc(&place.namespace),
                esc(&place.cluster)
            );
        }
        Seen::Unreadable(error) => {
            return format!(
                r#"<p class="error" role="alert">Cannot read the rollout: {}</p>"#,
                esc(&without_credentials(&error))
            );
        }
    };
    let rollout = &world.rollout;
    let status = rollout.status.clone().unwrap_or_default();
    let mut html = String::with_capacity(8192);
    summary(&mut html, world, &status);
    steps(&mut html, world, &status);
    replica_sets(&mut html, &world.replica_sets, &status);
    html.push_str(&analysis_view::section(&world.runs, now));
    events(&mut html, world, now);
    html
}

fn summary(html: &mut String, world: &RolloutWorld, status: &RolloutStatus) {
    let rollout = &world.rollout;
    let outcome = engine::outcome(rollout.metadata.generation, &rollout.spec, Some(status));
    let look = looks::of_outcome(&outcome);
    let detail = match &outcome {
        engine::Outcome::Healthy { revision } => format!("every pod runs {revision}"),
        engine::Outcome::Degraded { reason } => reason.clone(),
        engine::Outcome::Paused { message } => message.clone(),
        engine::Outcome::Progressing { waiting, .. } => waiting.clone(),
    };
    let _ = write!(
        html,
        r#"<p class="outcome" data-state="{}">{} <span class="message">{}</span></p><dl class="facts">"#,
        look.word,
        look.badge(),
        esc(&detail)
    );
    let fact = |html: &mut String, name: &str, value: &str| {
        let _ = write!(html, "<dt>{name}</dt><dd>{}</dd>", esc(value));
    };
    fact(
        html,
        "Stable revision",
        status.stable_revision.as_deref().unwrap_or("–"),
    );
    fact(
        html,
        "Canary revision",
        status.canary_revision.as_deref().unwrap_or("–"),
    );
    let steps = rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .map_or(0, |c| c.steps.len());
    if steps > 0 {
        let index = status.current_step_index.unwrap_or(0).max(0) as usize;
        let text = if index >= steps {
            format!("all {steps} done")
        } else {
            format!("{} of {steps}", index + 1)
        };
        let _ = write!(html, r#"<dt>Step</dt><dd data-step="{index}">{text}</dd>"#);
    }
    let replicas = format!(
        "{} desired, {} ready, {} available",
        rollout.spec.replicas.unwrap_or(1),
        status.ready_replicas.unwrap_or(0),
        status.available_replicas.unwrap_or(0)
    );
    fact(html, "Pods", &replicas);
    html.push_str("</dl>");
    if let Some(weights) = status.canary.as_ref().and_then(|c| c.weights.as_ref()) {
        let canary = weights.canary.clamp(0, 100);
        let _ = write!(
            html,
            r#"<p data-weight="{canary}">Canary weight: <strong>{canary}%</strong>, stable {}%</p><svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="canary {canary}%, stable {}%"><rect class="canary" width="{canary}" height="10"/><rect class="stable" x="{canary}" width="{}" height="10"/></svg>"#,
            weights.stable,
            weights.stable,
            100 - canary
        );
    }
}

fn steps(html: &mut String, world: &RolloutWorld, status: &RolloutStatus) {
    let spec = &world.rollout.spec;
    if let Some(blue_green) = &spec.strategy.blue_green {
        let _ = write!(
            html,
            r#"<section aria-labelledby="steps-h"><h2 id="steps-h">Strategy</h2><p>Blue-green: active Service <code>{}</code>{}.</p></section>"#,
            esc(&blue_green.active_service),
            blue_green
                .preview_service
                .as_deref()
                .map(|p| format!(", preview Service <code>{}</code>", esc(p)))
                .unwrap_or_default()
        );
        return;
    }
    let lines = canary_steps(spec, Some(status));
    if lines.is_empty() {
        return;
    }
    html.push_str(
        r#"<section aria-labelledby="steps-h"><h2 id="steps-h">Steps</h2><ol class="steps">"#,
    );
    for line in lines {
        let (class, mark, tag) = match line.state {
            StepState::Done => ("done", "✓ ", ""),
            StepState::Current => ("current", "▶ ", r#"<span class="tag">current</span>"#),
            StepState::Stopped => ("current", "✗ ", r#"<span class="tag">aborted here</span>"#),
            StepState::Ahead => ("ahead", "", ""),
        };
        let current = if class == "current" {
            r#" aria-current="step""#
        } else {
            ""
        };
        let _ = write!(
            html,
            r#"<li class="step {class}"{current}><span aria-hidden="true">{mark}</span>{}{tag}</li>"#,
            esc(&line.text)
        );
    }
    html.push_str("</ol></section>");
}

fn replica_sets(html: &mut String, sets: &[ReplicaSet], status: &RolloutStatus) {
    html.push_str(r#"<section aria-labelledby="rs-h"><h2 id="rs-h">ReplicaSets</h2>"#);
    if sets.is_empty() {
        html.push_str(r#"<p class="muted">None yet.</p></section>"#);
        return;
    }
    html.push_str(r#"<table class="stack"><thead><tr><th>Name</th><th>Role</th><th class="num">Revision</th><th>Label</th><th>Ready</th></tr></thead><tbody>"#);
    let blue_green = status.blue_green.as_ref();
    for rs in sets {
        let hash = rs.labels().get(HASH_LABEL).map(String::as_str);
        let role = if hash.is_some()
            && blue_green.and_then(|b| b.active_selector.as_deref()) == hash
        {
            "active"
        } else if hash.is_some() && blue_green.and_then(|b| b.preview_selector.as_deref()) == hash {
            "preview"
        } else if hash.is_some() && status.stable_rs.as_deref() == hash {
            "stable"
        } else if hash.is_some() && status.current_pod_hash.as_deref() == hash {
            "canary"
        } else {
            "old"
        };
        let desired = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        let ready = rs
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        let _ = write!(
            html,
            r#"<tr><td data-label="Name"><code>{}</code></td><td data-label="Role">{role}</td><td class="num" data-label="Revision">{}</td><td data-label="Label">{}</td><td data-label="Ready"><meter min="0" max="{}" value="{ready}"></meter> {ready} of {desired} ready</td></tr>"#,
            esc(&rs.name_any()),
            esc(written_revision(rs.annotations()).unwrap_or("–")),
            esc(rs
                .annotations()
                .get(LABEL_ANNOTATION)
                .map_or("–", String::as_str)),
            desired.max(1),
        );
    }
    html.push_str("</tbody></table></section>");
}

fn events(html: &mut String, world: &RolloutWorld, now: Timestamp) {
    html.push_str(r#"<section aria-labelledby="events-h"><h2 id="events-h">Events</h2>"#);
    if world.events.is_empty() {
        html.push_str(r#"<p class="muted">No Events.</p></section>"#);
        return;
    }
    html.push_str(r#"<table class="stack"><thead><tr><th>When</th><th>Type</th><th>Reason</th><th>About</th><th>Message</th></tr></thead><tbody>"#);
    for event in &world.events {
        let at = when(event)
            .map(|t| time_tag(&t.to_string(), now))
            .unwrap_or_default();
        let about = event
            .regarding
            .as_ref()
            .map(|r| {
                format!(
                    "{} {}",
                    r.kind.as_deref().unwrap_or(""),
                    r.name.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default();
        let kind = event.type_.as_deref().unwrap_or("Normal");
        let repeated = match event.series.as_ref().map(|s| s.count) {
            Some(count) if count > 1 => format!(" (×{count})"),
            _ => String::new(),
        };
        let _ = write!(
            html,
            r#"<tr class="event-{}"><td data-label="When">{at}</td><td data-label="Type">{}</td><td data-label="Reason">{}{repeated}</td><td data-label="About">{}</td><td data-label="Message">{}</td></tr>"#,
            esc(&kind.to_ascii_lowercase()),
            esc(kind),
            esc(event.reason.as_deref().unwrap_or("")),
            esc(&about),
            esc(event.note.as_deref().unwrap_or(""))
        );
    }
    html.push_str("</tbody></table></section>");
}
