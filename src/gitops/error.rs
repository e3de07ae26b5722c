//! The one error type of the Git side: opening repositories, resolving
//! revisions, reading and writing the ledger branch.

use std::path::PathBuf;

use super::ledger::LedgerError;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{context}: {source}")]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },
    #[error("revision `{rev}` is not in the source repository at {}: {message}", repo.display())]
    UnknownRevision {
        rev: String,
        repo: PathBuf,
        message: String,
    },
    #[error(
        "commit {sha} is not in the source repository at {}; fetch it (`git fetch origin`) and retry",
        repo.display()
    )]
    UnknownCommit { sha: String, repo: PathBuf },
    #[error(
        "the source repository at {} is a shallow clone, so conductor cannot tell whether one \
         revision is newer than another; fetch full history (`git fetch --unshallow`, or \
         actions/checkout with `fetch-depth: 0`)",
        repo.display()
    )]
    Shallow { repo: PathBuf },
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("cannot create the ledger cache directory: {0}")]
    Cache(#[source] std::io::Error),
    #[error("git {command} failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error(
        "ledger branch {branch} at {repository} kept moving: gave up after {attempts} attempts"
    )]
    Contended {
        repository: String,
        branch: String,
        attempts: u32,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Adds what conductor was doing to a git2 error, which alone rarely says.
pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, GitError>;
}

impl<T> Context<T> for Result<T, git2::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, GitError> {
        self.map_err(|source| GitError::Git {
            context: what(),
            source,
        })
    }
}
