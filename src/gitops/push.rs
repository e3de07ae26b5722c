//! Pushing a ledger commit and telling "the branch moved" apart from real
//! failures (authentication, network, hooks).

use git2::{Oid, Repository};

use super::error::GitError;
use super::git_cli;
use super::location::LedgerLocation;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pushed {
    Landed,
    Moved,
}

/// Pushes `commit` to the location's branch if, and only if, the branch is
/// still at `base` (still absent without one): an exact compare-and-swap
/// that the remote checks under its ref lock, so even a branch reset to an
/// older commit is seen as moved rather than overwritten.
pub(super) fn push(
    cache: &Repository,
    location: &LedgerLocation,
    commit: Oid,
    base: Option<&str>,
) -> Result<Pushed, GitError> {
    let target = format!("refs/heads/{}", location.branch);
    let refspec = format!("{commit}:{target}");
    // The lease names the exact head the commit was computed from: the push
    // lands only if the branch is still there (an empty value: still absent).
    let lease = format!("--force-with-lease={target}:{}", base.unwrap_or_default());
    let args = [
        "push",
        "--porcelain",
        lease.as_str(),
        location.repository.as_str(),
        refspec.as_str(),
    ];
    let output = git_cli::run(cache.path(), &args)?;
    if output.status.success() {
        return Ok(Pushed::Landed);
    }
    match classify(&String::from_utf8_lossy(&output.stdout), &target) {
        Some(Pushed::Moved) => Ok(Pushed::Moved),
        _ => Err(git_cli::failure(&args, &output)),
    }
}

/// Reads `git push --porcelain` output: a `!` line for our ref whose reason
/// says the branch is not where we based the commit.
pub(super) fn classify(porcelain: &str, target: &str) -> Option<Pushed> {
    porcelain
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let flag = fields.next()?;
            let refs = fields.next()?;
            let summary = fields.next().unwrap_or_default();
            refs.ends_with(&format!(":{target}"))
                .then_some((flag, summary))
        })
        .find_map(|(flag, summary)| match flag {
            "!" if MOVED.iter().any(|reason| summary.contains(reason)) => Some(Pushed::Moved),
            "!" => None,
            _ => Some(Pushed::Landed),
        })
}

/// Reasons git gives when the ref is not at the expected value. "failed to
/// update ref" and "failed to lock" come from the remote when another push
/// took the ref between the advertisement and ours.
const MOVED: [&str; 5] = [
    "non-fast-forward",
    "fetch first",
    "stale info",
    "failed to update ref",
    "failed to lock",
];

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: &str = "refs/heads/conductor/ledger";

    #[test]
    fn rejections_that_mean_the_branch_moved() {
        for reason in [
            "[rejected] (non-fast-forward)",
            "[rejected] (fetch first)",
            "[rejected] (stale info)",
            "[remote rejected] (failed to update ref)",
        ] {
            let out = format!("To /tmp/x\n!\tabc:{TARGET}\t{reason}\nDone\n");
            assert_eq!(classify(&out, TARGET), Some(Pushed::Moved), "{reason}");
        }
    }

    #[test]
    fn a_hook_refusal_is_not_a_move() {
        let out = format!(
            "To /tmp/x\n!\tabc:{TARGET}\t[remote rejected] (pre-receive hook declined)\nDone\n"
        );
        assert_eq!(classify(&out, TARGET), None);
    }

    #[test]
    fn another_refs_rejection_is_ignored() {
        let out = "To /tmp/x\n!\tabc:refs/heads/main\t[rejected] (non-fast-forward)\nDone\n";
        assert_eq!(classify(out, TARGET), None);
    }
}
