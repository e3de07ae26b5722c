//! The three things a person may do from the dashboard, and the notices a
//! rollout page shows after one. A closed set each: the URL carries a name
//! from it, never free text that would be echoed into a page.

use crate::engine::Request;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Promote,
    Abort,
    Retry,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Promote, Action::Abort, Action::Retry];

    pub fn from_name(name: &str) -> Option<Action> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// In URLs and Event reasons.
    pub fn name(self) -> &'static str {
        match self {
            Action::Promote => "promote",
            Action::Abort => "abort",
            Action::Retry => "retry",
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Action::Promote => "Promote",
            Action::Abort => "Abort",
            Action::Retry => "Retry",
        }
    }

    /// What it does, said before anyone confirms it.
    pub fn explanation(self) -> &'static str {
        match self {
            Action::Promote => {
                "moves the rollout to its next step: a pause ends and the next weight or analysis starts (a rollout held by spec.paused resumes where it stands)."
            }
            Action::Abort => {
                "stops the rollout and sends all traffic back to the stable revision; the canary is scaled down and the rollout is Degraded until retried."
            }
            Action::Retry => "starts an aborted rollout's steps again from the first.",
        }
    }

    /// Aborting takes traffic away from a release: drawn as a danger.
    pub fn dangerous(self) -> bool {
        self == Action::Abort
    }

    pub fn request(self) -> Request {
        match self {
            Action::Promote => Request::Promote,
            Action::Abort => Request::Abort,
            Action::Retry => Request::Retry,
        }
    }
}

/// Said at the top of a rollout page after an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    pub action: Action,
    /// The controller recorded it in `status.lastRequest`.
    pub acknowledged: bool,
}

impl Notice {
    /// `promote-done` or `promote-pending`.
    pub fn code(self) -> String {
        let state = if self.acknowledged { "done" } else { "pending" };
        format!("{}-{state}", self.action.name())
    }

    pub fn from_code(code: &str) -> Option<Notice> {
        let (action, state) = code.rsplit_once('-')?;
        let action = Action::from_name(action)?;
        let acknowledged = match state {
            "done" => true,
            "pending" => false,
            _ => return None,
        };
        Some(Notice {
            action,
            acknowledged,
        })
    }

    pub fn text(self) -> String {
        if self.acknowledged {
            format!(
                "{} requested and acknowledged by the controller.",
                self.action.verb()
            )
        } else {
            format!(
                "{} requested, but the controller has not acknowledged it yet; is `conductor controller` running in this cluster?",
                self.action.verb()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_and_nothing_else_parses() {
        for action in Action::ALL {
            for acknowledged in [true, false] {
                let notice = Notice {
                    action,
                    acknowledged,
                };
                assert_eq!(Notice::from_code(&notice.code()), Some(notice));
            }
        }
        assert_eq!(Notice::from_code("<script>-done"), None);
        assert_eq!(Notice::from_code("promote-maybe"), None);
        assert_eq!(Action::from_name("undo"), None);
    }
}
