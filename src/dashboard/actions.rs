//! Promote, abort and retry from the dashboard: a confirmation page asking
//! for the person's token, then the same request the CLI makes (the
//! `conductor.dev/request` annotation, acted on once by the controller),
//! preceded by an Event on the Rollout naming who asked. The Event comes
//! first: an action nobody could be named for is never made. The request
//! id carries the name too, so `status.lastRequest` says who as well.

use std::fmt::Write as _;
use std::time::Duration;

use jiff::Timestamp;
use kube::runtime::events::{Event, EventType, Reporter};
use kube::{Api, Client, Resource};

use super::action::{Action, Notice};
use super::error::DashboardError;
use super::html::esc;
use super::page::Page;
use super::rollout_page::Place;
use crate::crd::rollout::Rollout;
use crate::platform::kubernetes::events::Events;
use crate::platform::kubernetes::requests::encode;
use crate::platform::kubernetes::writes;

/// How long the page waits for the controller to acknowledge a request
/// before saying it has not yet.
const ACK_WAIT: Duration = Duration::from_secs(10);
const ACK_POLL: Duration = Duration::from_millis(100);
/// The reporter on the Events the dashboard writes.
pub const REPORTER: &str = "conductor-dashboard";

pub fn render_confirm(place: &Place, action: Action, problem: Option<&str>) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<h1>{} rollout {}?</h1><p>In namespace {} of cluster {} ({} / {}), this {}</p>"#,
        action.verb(),
        esc(&place.name),
        esc(&place.namespace),
        esc(&place.cluster),
        esc(&place.service),
        esc(&place.environment),
        esc(action.explanation())
    );
    if let Some(problem) = problem {
        let _ = write!(
            body,
            r#"<p class="error" role="alert">{}</p>"#,
            esc(problem)
        );
    }
    let _ = write!(
        body,
        r#"<form method="post" action="{}/actions/{}"><p><label for="token">Your dashboard token</label><br><input type="password" id="token" name="token" autocomplete="current-password" required autofocus></p><p class="muted">The request is recorded with the name your token belongs to.</p><p class="actions"><button type="submit" class="{}">Yes, {} {}</button> <a class="button" href="{}">Cancel</a></p></form>"#,
        esc(&place.href()),
        action.name(),
        if action.dangerous() { "danger" } else { "" },
        action.name(),
        esc(&place.name),
        esc(&place.href())
    );
    Page {
        title: &format!("{} {}", action.verb(), place.name),
        crumbs: vec![(place.href(), format!("{} in {}", place.name, place.cluster))],
        body,
        live: false,
    }
    .render()
}

/// Records who asked, asks the controller, and waits a little for it to
/// acknowledge.
pub async fn perform(
    client: Client,
    place: &Place,
    action: Action,
    user: &str,
) -> Result<Notice, DashboardError> {
    let failed = |what: String| {
        move |source| DashboardError::Kube {
            cluster: place.cluster.clone(),
            what,
            source,
        }
    };
    let api: Api<Rollout> = Api::namespaced(client.clone(), &place.namespace);
    let rollout = api
        .get_opt(&place.name)
        .await
        .map_err(failed(format!("get rollout {}", place.name)))?
        .ok_or_else(|| {
            DashboardError::NotFound(format!(
                "no Rollout {} in namespace {} of cluster {}",
                place.name, place.namespace, place.cluster
            ))
        })?;
    let event = Event {
        type_: EventType::Normal,
        reason: format!("{}Requested", action.verb()),
        note: Some(format!(
            "{user} asked to {} from the dashboard",
            action.name()
        )),
        action: action.verb().to_owned(),
        secondary: None,
    };
    let reporter = Reporter {
        controller: REPORTER.to_owned(),
        instance: std::env::var("HOSTNAME").ok(),
    };
    Events::new(client, reporter)
        .publish(&event, &rollout.object_ref(&()))
        .await
        .map_err(failed(format!(
            "record who asked (an Event on rollout {})",
            place.name
        )))?;
    // A rollout held by `spec.paused` (`conductor rollout pause`) is
    // resumed where it stands, as the CLI's promote does: the controller
    // does not lift a pause the spec asks for.
    if action == Action::Promote && rollout.spec.paused == Some(true) {
        writes::set_paused(&api, &place.name, false)
            .await
            .map_err(failed(format!("resume rollout {}", place.name)))?;
        return Ok(Notice {
            action,
            acknowledged: true,
        });
    }
    let id = format!("{}-{}", Timestamp::now().as_nanosecond(), slug(user));
    let value = encode(action.request(), &id);
    writes::request_action(&api, &place.name, &value)
        .await
        .map_err(failed(format!(
            "ask rollout {} to {}",
            place.name,
            action.name()
        )))?;
    let deadline = tokio::time::Instant::now() + ACK_WAIT;
    while tokio::time::Instant::now() < deadline {
        let handled = api
            .get_opt(&place.name)
            .await
            .ok()
            .flatten()
            .and_then(|r| r.status.and_then(|s| s.last_request));
        if handled.as_deref() == Some(value.as_str()) {
            return Ok(Notice {
                action,
                acknowledged: true,
            });
        }
        tokio::time::sleep(ACK_POLL).await;
    }
    Ok(Notice {
        action,
        acknowledged: false,
    })
}

/// The user's name as it may appear in a request id: lowercase letters,
/// digits, dots and dashes.
fn slug(user: &str) -> String {
    let slug: String = user
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    if slug.is_empty() {
        "someone".into()
    } else {
        slug
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_become_safe_request_ids() {
        assert_eq!(slug("Ada Lovelace"), "ada-lovelace");
        assert_eq!(slug("grace@example.com"), "grace-example.com");
        assert_eq!(slug(""), "someone");
    }
}
