//! The service's source repository: what a revision the user typed means,
//! and whether one commit is newer than another.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository, Sort};

use super::error::{Context, GitError};
use super::ledger;
use super::ordering::Relation;

pub struct SourceRepo {
    repo: Repository,
    /// For messages: the work tree when there is one, as the user knows it.
    path: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    /// 7 characters, as in `git log --oneline`.
    pub short: String,
    pub subject: String,
    pub author: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
}

impl SourceRepo {
    /// Opens the repository containing `path`, searching upward as git does.
    pub fn discover(path: &Path) -> Result<SourceRepo, GitError> {
        let repo = Repository::discover(path)
            .context(|| format!("open the source repository at {}", path.display()))?;
        let path = repo.workdir().unwrap_or(repo.path()).to_path_buf();
        Ok(SourceRepo { repo, path })
    }

    /// Resolves any revspec (sha prefix, tag, branch, `HEAD~2`) to a commit.
    pub fn resolve(&self, rev: &str) -> Result<Commit, GitError> {
        let commit = self
            .repo
            .revparse_single(rev)
            .and_then(|object| object.peel_to_commit())
            .map_err(|e| GitError::UnknownRevision {
                rev: rev.to_owned(),
                repo: self.path.clone(),
                message: e.message().to_owned(),
            })?;
        Ok(describe(&commit))
    }

    /// How `requested` relates to `intended` (both full shas).
    pub fn relation(&self, requested: &str, intended: &str) -> Result<Relation, GitError> {
        if requested == intended {
            return Ok(Relation::Same);
        }
        // A shallow history ends early, so a missing ancestry link would read
        // as "unrelated" and refuse or allow the wrong deploys.
        if self.repo.is_shallow() {
            return Err(GitError::Shallow {
                repo: self.path.clone(),
            });
        }
        let requested_id = self.known(requested)?;
        let intended_id = self.known(intended)?;
        let graph = |a, b| {
            self.repo
                .graph_descendant_of(a, b)
                .context(|| format!("compare {requested} with {intended}"))
        };
        Ok(if graph(requested_id, intended_id)? {
            Relation::Descendant
        } else if graph(intended_id, requested_id)? {
            Relation::Ancestor
        } else {
            Relation::Unrelated
        })
    }

    /// The commits reachable from `to` but not from `from`, newest first, at
    /// most `limit` of them, with how many there are in all.
    pub fn commits_between(
        &self,
        from: Option<&str>,
        to: &str,
        limit: usize,
    ) -> Result<(Vec<Commit>, usize), GitError> {
        let mut walk = self.repo.revwalk().context(|| "walk history".to_owned())?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)
            .context(|| "walk history".to_owned())?;
        walk.push(self.known(to)?)
            .context(|| format!("walk history from {to}"))?;
        if let Some(from) = from {
            walk.hide(self.known(from)?)
                .context(|| format!("walk history down to {from}"))?;
        }
        let mut commits = Vec::new();
        let mut total = 0;
        for id in walk {
            let id = id.context(|| format!("walk history from {to}"))?;
            total += 1;
            if commits.len() < limit {
                let commit = self
                    .repo
                    .find_commit(id)
                    .context(|| format!("read commit {id}"))?;
                commits.push(describe(&commit));
            }
        }
        Ok((commits, total))
    }

    fn known(&self, sha: &str) -> Result<Oid, GitError> {
        let unknown = || GitError::UnknownCommit {
            sha: sha.to_owned(),
            repo: self.path.clone(),
        };
        let id = Oid::from_str(sha).map_err(|_| unknown())?;
        self.repo.find_commit(id).map_err(|_| unknown())?;
        Ok(id)
    }
}

fn describe(commit: &git2::Commit<'_>) -> Commit {
    let sha = commit.id().to_string();
    Commit {
        short: ledger::short(&sha).to_owned(),
        sha,
        subject: commit.summary().unwrap_or_default().to_owned(),
        author: commit.author().name().unwrap_or_default().to_owned(),
        time: commit.time().seconds(),
    }
}
