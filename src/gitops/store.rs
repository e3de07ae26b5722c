//! The ledger branch: reading a snapshot and writing a commit on top of it
//! with compare-and-swap semantics.
//!
//! Transport: git2 does all object work (reading trees and blobs, building
//! trees, creating commits, walking history) in-process, because that is
//! fast and needs no work tree. Fetch and push go through the `git` command
//! line instead, so the user's usual credentials (ssh-agent, ~/.ssh/config,
//! credential helpers, the CI checkout's token) work exactly as in their CI,
//! as Argo CD and Kargo do; it also keeps git2 free of TLS and SSH features.
//! Each store keeps a private bare cache repository in a temp dir, so
//! nothing touches the user's checkout and repeated fetches are incremental.

use std::collections::BTreeMap;
use std::path::Path;

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Oid, Repository, Signature, Tree};
use tempfile::TempDir;

use super::error::{Context, GitError};
use super::git_cli;
use super::ledger::{self, ClusterRecord, EnvironmentRecord, Record};
use super::location::LedgerLocation;
use super::push::{self, Pushed};
use super::random::random_u64;

/// Where the fetched branch is kept in the cache; outside refs/heads so it
/// reads as what it is, a copy of the remote.
pub(super) const REMOTE_REF: &str = "refs/conductor/ledger";

/// An environment's records as of one commit of the ledger branch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The commit the snapshot was read at; `None` while the branch does not
    /// exist yet.
    pub head: Option<String>,
    pub environment: Option<EnvironmentRecord>,
    pub clusters: BTreeMap<String, ClusterRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Put { path: String, text: String },
    Delete { path: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitResult {
    Landed {
        head: String,
    },
    /// The branch moved since the snapshot: re-read and decide again.
    Moved,
}

pub struct LedgerStore {
    pub(super) location: LedgerLocation,
    pub(super) cache: Repository,
    // Dropping it removes the cache; kept last so the repository closes first.
    _dir: TempDir,
}

impl LedgerStore {
    /// Creates the private cache and fetches the branch once, so a wrong
    /// location or missing credentials fail here. A branch that does not
    /// exist yet is an empty ledger.
    pub fn open(location: &LedgerLocation) -> Result<LedgerStore, GitError> {
        let dir = tempfile::Builder::new()
            .prefix("conductor-ledger-")
            .tempdir()
            .map_err(GitError::Cache)?;
        let cache = Repository::init_bare(dir.path())
            .context(|| format!("create the ledger cache at {}", dir.path().display()))?;
        let mut location = location.clone();
        // A relative path must keep meaning the directory the user named,
        // whatever the working directory is when a later fetch runs. URLs do
        // not exist on disk and stay as they are.
        if let Ok(absolute) = Path::new(&location.repository).canonicalize() {
            location.repository = absolute.to_string_lossy().into_owned();
        }
        let mut store = LedgerStore {
            location,
            cache,
            _dir: dir,
        };
        store.fetch()?;
        Ok(store)
    }

    pub fn location(&self) -> &LedgerLocation {
        &self.location
    }

    /// Fetches the branch and returns the environment's records at its head.
    pub fn read(&mut self, service: &str, env: &str) -> Result<Snapshot, GitError> {
        match self.fetch()? {
            Some(head) => self.snapshot_at(head, service, env),
            None => Ok(Snapshot::default()),
        }
    }

    /// The environment's records at the head this store last fetched or
    /// wrote, without asking the remote; `None` before the branch exists.
    /// Only for decisions that write: the push's compare-and-swap refuses
    /// one made on a head that has moved.
    pub(super) fn read_cached(
        &mut self,
        service: &str,
        env: &str,
    ) -> Result<Option<Snapshot>, GitError> {
        let Ok(reference) = self.cache.find_reference(REMOTE_REF) else {
            return Ok(None);
        };
        let Some(head) = reference.target() else {
            return Ok(None);
        };
        self.snapshot_at(head, service, env).map(Some)
    }

    fn snapshot_at(&self, head: Oid, service: &str, env: &str) -> Result<Snapshot, GitError> {
        let tree = self.tree_of(head)?;
        let mut snapshot = Snapshot {
            head: Some(head.to_string()),
            ..Snapshot::default()
        };
        for (path, record) in self.records_under(&tree, &format!("{service}/{env}"))? {
            match record {
                Record::Environment(record) => snapshot.environment = Some(record),
                Record::Cluster(record) => {
                    let name = path
                        .rsplit('/')
                        .next()
                        .and_then(|file| file.strip_suffix(".yaml"))
                        .unwrap_or(&path)
                        .to_owned();
                    snapshot.clusters.insert(name, record);
                }
            }
        }
        Ok(snapshot)
    }

    /// Writes `changes` in one commit whose parent is exactly `base.head` and
    /// pushes it without force: if the branch moved, git refuses and the
    /// result is [`CommitResult::Moved`].
    pub fn commit(
        &mut self,
        base: &Snapshot,
        changes: &[Change],
        message: &str,
    ) -> Result<CommitResult, GitError> {
        let parent = match &base.head {
            Some(head) => {
                let id = Oid::from_str(head).context(|| format!("read snapshot head {head}"))?;
                Some(
                    self.cache
                        .find_commit(id)
                        .context(|| format!("read commit {head}"))?,
                )
            }
            None => None,
        };
        let base_tree = match &parent {
            Some(commit) => commit
                .tree()
                .context(|| "read the snapshot's tree".to_owned())?,
            None => self.empty_tree()?,
        };
        let mut update = TreeUpdateBuilder::new();
        for change in changes {
            match change {
                Change::Put { path, text } => {
                    let blob = self
                        .cache
                        .blob(text.as_bytes())
                        .context(|| format!("write {path}"))?;
                    update.upsert(path.as_str(), blob, FileMode::Blob);
                }
                Change::Delete { path } => {
                    update.remove(path.as_str());
                }
            }
        }
        let tree_id = update
            .create_updated(&self.cache, &base_tree)
            .context(|| "build the ledger tree".to_owned())?;
        let tree = self
            .cache
            .find_tree(tree_id)
            .context(|| "read the new ledger tree".to_owned())?;
        // `by` goes in the message body: the committer is always conductor,
        // so ledger commits are easy to tell from hand edits.
        let signature = Signature::now("conductor", "conductor@localhost")
            .context(|| "make the commit signature".to_owned())?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        // Two writers making the same change on the same snapshot within one
        // second would otherwise build the very same commit, and both pushes
        // would "land": the write id keeps the compare-and-swap exclusive.
        let message = format!(
            "{}\n\nLedger-Write: {:016x}\n",
            message.trim_end(),
            random_u64()
        );
        let id = self
            .cache
            .commit(None, &signature, &signature, &message, &tree, &parents)
            .context(|| "create the ledger commit".to_owned())?;
        match push::push(&self.cache, &self.location, id, base.head.as_deref())? {
            Pushed::Landed => {
                // The next read then fetches nothing new.
                self.cache
                    .reference(REMOTE_REF, id, true, "landed")
                    .context(|| format!("record {id} in the cache"))?;
                Ok(CommitResult::Landed {
                    head: id.to_string(),
                })
            }
            Pushed::Moved => Ok(CommitResult::Moved),
        }
    }

    /// Fetches the branch into the cache; `None` when it does not exist.
    pub(super) fn fetch(&mut self) -> Result<Option<Oid>, GitError> {
        let refspec = format!("+refs/heads/{}:{REMOTE_REF}", self.location.branch);
        let args = [
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            self.location.repository.as_str(),
            refspec.as_str(),
        ];
        let output = git_cli::run(self.cache.path(), &args)?;
        if output.status.success() {
            let id = self
                .cache
                .refname_to_id(REMOTE_REF)
                .context(|| "read the fetched ledger head".to_owned())?;
            return Ok(Some(id));
        }
        if String::from_utf8_lossy(&output.stderr).contains("couldn't find remote ref") {
            // A deleted branch must not leave a stale head behind.
            if let Ok(mut stale) = self.cache.find_reference(REMOTE_REF) {
                stale
                    .delete()
                    .context(|| "forget the deleted ledger branch".to_owned())?;
            }
            return Ok(None);
        }
        Err(git_cli::failure(&args, &output))
    }

    pub(super) fn tree_of(&self, commit: Oid) -> Result<Tree<'_>, GitError> {
        self.cache
            .find_commit(commit)
            .and_then(|c| c.tree())
            .context(|| format!("read the tree of ledger commit {commit}"))
    }

    /// Parses every `*.yaml` directly under `dir` in `tree`, by path.
    pub(super) fn records_under(
        &self,
        tree: &Tree<'_>,
        dir: &str,
    ) -> Result<Vec<(String, Record)>, GitError> {
        let Ok(entry) = tree.get_path(Path::new(dir)) else {
            return Ok(Vec::new());
        };
        let Ok(subtree) = self.cache.find_tree(entry.id()) else {
            return Ok(Vec::new());
        };
        let mut records = Vec::new();
        for entry in subtree.iter() {
            let Some(name) = entry.name() else { continue };
            let is_file = entry.kind() == Some(git2::ObjectType::Blob);
            if !is_file || !name.ends_with(".yaml") {
                continue;
            }
            let path = format!("{dir}/{name}");
            let record = self.record_at(entry.id(), &path)?;
            records.push((path, record));
        }
        Ok(records)
    }

    pub(super) fn record_at(&self, blob: Oid, path: &str) -> Result<Record, GitError> {
        let blob = self
            .cache
            .find_blob(blob)
            .context(|| format!("read {path}"))?;
        let text = String::from_utf8_lossy(blob.content());
        Ok(ledger::parse_record(path, &text)?)
    }

    fn empty_tree(&self) -> Result<Tree<'_>, GitError> {
        let id = self
            .cache
            .treebuilder(None)
            .and_then(|builder| builder.write())
            .context(|| "build an empty tree".to_owned())?;
        self.cache
            .find_tree(id)
            .context(|| "read the empty tree".to_owned())
    }
}
