//! The ledger's history for an environment or one cluster: every commit that
//! changed its files, oldest first.

use git2::{DiffOptions, Sort};

use super::error::{Context, GitError};
use super::ledger::{self, Record};
use super::store::LedgerStore;

#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEntry {
    pub commit: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    pub subject: String,
    /// The files of interest this commit changed, with their new records.
    pub changes: Vec<RecordChange>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordChange {
    pub path: String,
    /// `None` when the commit deleted the file.
    pub record: Option<Record>,
}

impl LedgerStore {
    /// Every commit that changed `cluster`'s file, or any file of the
    /// environment when `cluster` is `None`, oldest first.
    pub fn history(
        &mut self,
        service: &str,
        env: &str,
        cluster: Option<&str>,
    ) -> Result<Vec<HistoryEntry>, GitError> {
        let Some(head) = self.fetch()? else {
            return Ok(Vec::new());
        };
        let dir = format!("{service}/{env}");
        let pathspec = match cluster {
            Some(cluster) => ledger::cluster_path(service, env, cluster),
            None => dir.clone(),
        };
        let walking = || "walk the ledger history".to_owned();
        let mut walk = self.cache.revwalk().context(walking)?;
        // The ledger is written only by fast-forwards, so first parents are
        // the whole story.
        walk.simplify_first_parent().context(walking)?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)
            .context(walking)?;
        walk.push(head).context(walking)?;
        let mut entries = Vec::new();
        for id in walk {
            let commit = self
                .cache
                .find_commit(id.context(walking)?)
                .context(walking)?;
            let tree = commit.tree().context(walking)?;
            let parent_tree = match commit.parent(0) {
                Ok(parent) => Some(parent.tree().context(walking)?),
                Err(_) => None,
            };
            let mut options = DiffOptions::new();
            options.pathspec(&pathspec);
            let diff = self
                .cache
                .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut options))
                .context(|| format!("diff ledger commit {}", commit.id()))?;
            let mut changes = Vec::new();
            for delta in diff.deltas() {
                let file = delta.new_file();
                let Some(path) = file.path().and_then(|p| p.to_str()) else {
                    continue;
                };
                // Only records directly in the environment's folder.
                let in_dir = path.rsplit_once('/').is_some_and(|(d, _)| d == dir);
                if !in_dir || !path.ends_with(".yaml") {
                    continue;
                }
                let record = if file.exists() {
                    Some(self.record_at(file.id(), path)?)
                } else {
                    None
                };
                changes.push(RecordChange {
                    path: path.to_owned(),
                    record,
                });
            }
            if !changes.is_empty() {
                entries.push(HistoryEntry {
                    commit: commit.id().to_string(),
                    time: commit.time().seconds(),
                    subject: commit.summary().unwrap_or_default().to_owned(),
                    changes,
                });
            }
        }
        Ok(entries)
    }
}
