//! How a deploy ends: the exit code CI sees, and the failures that end it
//! early with their message.

use serde::Serialize;

use super::request::Request;

/// How a deploy ended; the process exit code CI sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Exit {
    Deployed,
    Failed,
    BadInput,
    /// Refused by the ordering rule, or superseded by a newer deploy.
    Refused,
    TimedOut,
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Self::Deployed => 0,
            Self::Failed => 1,
            Self::BadInput => 2,
            Self::Refused => 3,
            Self::TimedOut => 4,
            Self::Interrupted => 130,
        }
    }
}

/// A deploy that ends early: how, and why in words.
pub(super) type Failure = (Exit, String);

pub(super) fn bad_input(e: impl std::fmt::Display) -> Failure {
    (Exit::BadInput, e.to_string())
}

pub(super) fn failed(e: impl std::fmt::Display) -> Failure {
    (Exit::Failed, e.to_string())
}

pub(super) fn superseded_message(request: &Request, newer: &str) -> String {
    format!(
        "superseded: {} now wants {newer}, newer than {}; this deploy stopped and touched nothing more",
        request.environment, request.revision
    )
}
