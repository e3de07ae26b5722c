//! Running the `git` command line for the network half of the ledger (fetch
//! and push), so the user's own credentials and transports apply.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::error::GitError;

/// Runs `git --git-dir=<git_dir> <args>` and returns its output whatever the
/// exit status: callers tell expected refusals from failures.
pub(crate) fn run(git_dir: &Path, args: &[&str]) -> Result<Output, GitError> {
    Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(args)
        // A CI job must fail, not hang, when credentials are missing.
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        // Refusals are recognised by git's English wording.
        .env("LC_ALL", "C")
        // Inherited from a hook or a wrapper, these would redirect git away
        // from the cache repository.
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .output()
        .map_err(GitError::Spawn)
}

/// A failed command as an error carrying git's own explanation.
pub(crate) fn failure(args: &[&str], output: &Output) -> GitError {
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    GitError::Command {
        command: args.first().copied().unwrap_or_default().to_owned(),
        stderr: if stderr.is_empty() { stdout } else { stderr },
    }
}
