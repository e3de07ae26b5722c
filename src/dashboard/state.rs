//! What every request handler shares: where the config and source live,
//! how to reach clusters, who may act, and the ledger caches.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::clusters::ClusterClients;
use super::git_reader::Ledgers;
use super::tokens::Tokens;

/// A live page re-reads its rollout at least this often, for what no
/// watch reports (Events, the "5 min ago"s).
const REFRESH: Duration = Duration::from_secs(2);

pub struct Dashboard {
    /// The repository holding `conductor-config/`.
    pub repo: PathBuf,
    /// The services' source repository, for the commits between revisions.
    pub source: PathBuf,
    pub clusters: ClusterClients,
    /// `None`: read-only.
    pub tokens: Option<Tokens>,
    pub ledgers: Arc<Ledgers>,
    pub refresh: Duration,
}

impl Dashboard {
    /// Read-only, with the source repository at `repo`.
    pub fn new(repo: PathBuf, clusters: ClusterClients) -> Self {
        Self {
            source: repo.clone(),
            repo,
            clusters,
            tokens: None,
            ledgers: Arc::new(Ledgers::default()),
            refresh: REFRESH,
        }
    }

    /// Promote, abort and retry, for the people in `tokens`.
    pub fn with_tokens(mut self, tokens: Tokens) -> Self {
        self.tokens = Some(tokens);
        self
    }

    pub fn with_source(mut self, source: PathBuf) -> Self {
        self.source = source;
        self
    }

    pub fn actions_enabled(&self) -> bool {
        self.tokens.is_some()
    }
}
