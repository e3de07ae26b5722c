//! Where the ledger lives: a repository and a branch.

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
}
