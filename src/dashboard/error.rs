//! The dashboard's one error type: what failed, named, and the HTTP status
//! a page answers with when it does.

use std::path::PathBuf;

use axum::http::StatusCode;

use crate::config::ConfigError;
use crate::gitops::GitError;

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("ledger at {location}: {source}")]
    Ledger {
        location: String,
        #[source]
        source: GitError,
    },
    #[error("source repository: {0}")]
    Source(#[source] GitError),
    #[error("{0}")]
    NotFound(String),
    #[error("`{value}` is not a full commit sha (40 or 64 lowercase hex digits) for `{name}`")]
    BadRevision { name: &'static str, value: String },
    #[error("cluster {cluster}: {message}")]
    Unreachable { cluster: String, message: String },
    #[error("cluster {cluster}: {what}: {source}")]
    Kube {
        cluster: String,
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("cluster {cluster}: no answer within {seconds}s while reading {what}")]
    TimedOut {
        cluster: String,
        what: String,
        seconds: u64,
    },
    #[error("cannot read the token file {}: {source}", path.display())]
    TokenFileRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("token file {}:{line}: {reason}", path.display())]
    TokenFile {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error(
        "this dashboard is read-only: it was started without --token-file, so promote, abort and retry are off"
    )]
    ReadOnly,
    #[error("that token is not in the dashboard's token file")]
    WrongToken,
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("a background task failed: {0}")]
    Task(String),
}

impl DashboardError {
    /// What a page answers when it fails with this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) | Self::ReadOnly => StatusCode::NOT_FOUND,
            Self::Config(ConfigError::UnknownService { .. })
            | Self::Config(ConfigError::UnknownEnvironment { .. })
            | Self::Config(ConfigError::UnknownCluster { .. }) => StatusCode::NOT_FOUND,
            Self::BadRevision { .. } => StatusCode::BAD_REQUEST,
            Self::Source(GitError::UnknownCommit { .. }) => StatusCode::NOT_FOUND,
            Self::WrongToken => StatusCode::FORBIDDEN,
            Self::Unreachable { .. } | Self::Kube { .. } | Self::TimedOut { .. } => {
                StatusCode::BAD_GATEWAY
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
