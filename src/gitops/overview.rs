//! Many environments' records at once, for readers that show them side by
//! side (the dashboard's front page): one fetch for the lot, so a page
//! costs one `git fetch` however many services and environments share the
//! ledger, and every one is read at the same ledger commit.

use super::error::GitError;
use super::store::{LedgerStore, Snapshot};

impl LedgerStore {
    /// Fetches the branch once and returns, for each `(service,
    /// environments)` asked for, each environment's records at that head,
    /// in the order given; empty snapshots while the branch does not exist.
    pub fn read_services(
        &mut self,
        wanted: &[(String, Vec<String>)],
    ) -> Result<Vec<Vec<Snapshot>>, GitError> {
        let exists = self.fetch()?.is_some();
        wanted
            .iter()
            .map(|(service, environments)| {
                environments
                    .iter()
                    .map(|env| match exists {
                        true => Ok(self.read_cached(service, env)?.unwrap_or_default()),
                        false => Ok(Snapshot::default()),
                    })
                    .collect()
            })
            .collect()
    }
}
