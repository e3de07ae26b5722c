//! Many environments' records at once, for readers that show them side by
//! side (the dashboard's front page): one fetch for the lot, so the page
//! costs one `git fetch` however many environments it lists, and every
//! environment is read at the same ledger commit.

use super::error::GitError;
use super::store::{LedgerStore, Snapshot};

impl LedgerStore {
    /// Fetches the branch once and returns each of `environments`'
    /// records at that head, in the order given; empty snapshots while
    /// the branch does not exist yet.
    pub fn read_environments(
        &mut self,
        service: &str,
        environments: &[String],
    ) -> Result<Vec<Snapshot>, GitError> {
        if self.fetch()?.is_none() {
            return Ok(vec![Snapshot::default(); environments.len()]);
        }
        environments
            .iter()
            .map(|env| Ok(self.read_cached(service, env)?.unwrap_or_default()))
            .collect()
    }
}
