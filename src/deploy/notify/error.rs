//! Why a notification target could not be used, or a message not delivered.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("environment variable {variable} is not set (or empty)")]
    MissingVariable { variable: String },
    #[error("cannot read {}: {reason}", path.display())]
    UnreadableFile { path: PathBuf, reason: String },
    #[error("file {} is empty", path.display())]
    EmptyFile { path: PathBuf },
    /// `from` says where the value was read, never what it was.
    #[error("{from} holds no http(s) URL")]
    NotAUrl { from: String },
    #[error("{0}")]
    Client(String),
    #[error("the target answered {status} ({})", attempts_text(*.attempts))]
    Rejected { status: String, attempts: u32 },
    #[error("the target answered {status} asking to retry after {seconds}s; not waiting that long")]
    RetryAfterTooLong { status: String, seconds: u64 },
    #[error("no answer: {message} ({})", attempts_text(*.attempts))]
    Transport { message: String, attempts: u32 },
    /// The target's certificate is not trusted (not retried).
    #[error("not sent: {0}")]
    Untrusted(String),
    #[error(
        "not delivered within the {} the deploy waits for notifications at exit",
        seconds(*.0)
    )]
    Unsent(Duration),
    #[error("the notification task stopped: {0}")]
    Task(String),
}

/// `10s`, or `0.5s` under a second.
fn seconds(bound: Duration) -> String {
    if bound.subsec_millis() == 0 {
        format!("{}s", bound.as_secs())
    } else {
        format!("{:.1}s", bound.as_secs_f64())
    }
}

fn attempts_text(attempts: u32) -> String {
    match attempts {
        1 => "after 1 attempt".to_owned(),
        n => format!("after {n} attempts"),
    }
}
