//! Where the ledger lives: a repository and a branch.

use std::path::Path;

use crate::config::LedgerConfig;

/// The branch the ledger is kept on unless the config names another.
pub const DEFAULT_BRANCH: &str = "conductor/ledger";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerLocation {
    /// A local path or a URL, as `git fetch` understands it.
    pub repository: String,
    pub branch: String,
}

impl LedgerLocation {
    pub fn new(repository: impl Into<String>) -> Self {
        LedgerLocation {
            repository: repository.into(),
            branch: DEFAULT_BRANCH.to_owned(),
        }
    }

    /// Where a service's config says its ledger is: a URL as given, a path
    /// relative to `repo`, or (unset) the repository's `origin`, else the
    /// repository itself.
    pub fn of_service(repo: &Path, ledger: &LedgerConfig) -> Self {
        let repository = match &ledger.repository {
            Some(r) if r.contains("://") || r.contains('@') => r.clone(),
            Some(path) => repo.join(path).display().to_string(),
            None => git2::Repository::discover(repo)
                .ok()
                .and_then(|r| r.find_remote("origin").ok()?.url().map(str::to_owned))
                .unwrap_or_else(|| repo.display().to_string()),
        };
        LedgerLocation {
            repository,
            branch: ledger.branch.clone(),
        }
    }
}
