//! How people and CI ask a rollout to promote, abort, retry or undo: an
//! annotation holding the action and a unique id. The controller hands
//! the action to the engine once and records the id in
//! `status.lastRequest`, which is also how the CLI knows it was acted on.
//! An annotation (rather than a status write) keeps the request in the
//! object's spec-side history and works with plain `kubectl annotate`.

use kube::Resource;

use crate::crd::problem::SpecProblem;
use crate::crd::rollout::Rollout;
use crate::engine::Request;

pub const REQUEST_ANNOTATION: &str = "conductor.dev/request";

const ACTIONS: [(&str, Request); 5] = [
    ("promote", Request::Promote),
    ("promote-full", Request::PromoteFull),
    ("abort", Request::Abort),
    ("retry", Request::Retry),
    ("undo", Request::Undo),
];

pub fn action_name(request: Request) -> &'static str {
    ACTIONS
        .iter()
        .find(|(_, r)| *r == request)
        .map_or("promote", |(name, _)| name)
}

/// `<action>/<id>`, e.g. `abort/1764000000123456789`.
pub fn encode(request: Request, id: &str) -> String {
    format!("{}/{id}", action_name(request))
}

pub fn decode(value: &str) -> Option<Request> {
    let (action, id) = value.split_once('/')?;
    if id.is_empty() {
        return None;
    }
    ACTIONS
        .iter()
        .find(|(name, _)| *name == action)
        .map(|(_, r)| *r)
}

/// The request the rollout carries and has not acted on yet, with the
/// annotation value to record once it is. An unreadable annotation is
/// returned as an error so the controller can say so.
pub fn pending(rollout: &Rollout) -> Result<Option<(Request, String)>, SpecProblem> {
    let Some(value) = rollout
        .meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(REQUEST_ANNOTATION))
    else {
        return Ok(None);
    };
    let handled = rollout
        .status
        .as_ref()
        .and_then(|s| s.last_request.as_deref());
    if handled == Some(value.as_str()) {
        return Ok(None);
    }
    match decode(value) {
        Some(request) => Ok(Some((request, value.clone()))),
        None => Err(SpecProblem::new(
            format!("annotation {REQUEST_ANNOTATION}"),
            format!(
                "`{value}` is not <action>/<id> with action one of promote, promote-full, abort, retry, undo"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips() {
        for (_, request) in ACTIONS {
            assert_eq!(decode(&encode(request, "42")), Some(request));
        }
        assert_eq!(decode("promote/"), None);
        assert_eq!(decode("promot/1"), None);
    }
}
