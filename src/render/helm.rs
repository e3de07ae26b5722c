//! Locating and running the real `helm` binary.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use super::error::RenderError;

/// Oldest helm whose `template` output and values coalescing Conductor relies on.
pub const MINIMUM_VERSION: (u64, u64) = (3, 12);
const TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct Helm {
    pub path: PathBuf,
    pub version: String,
}

impl Helm {
    /// Finds helm: `$CONDUCTOR_HELM`, then `PATH`, then the repository's
    /// `.tools/bin/helm` installed by `scripts/install-tools.sh`; checks its version.
    pub async fn locate(repo: &Path) -> Result<Self, RenderError> {
        let path = match std::env::var_os("CONDUCTOR_HELM") {
            Some(path) => PathBuf::from(path),
            None => find_on_path("helm")
                .or_else(|| {
                    let local = repo.join(".tools/bin/helm");
                    local.is_file().then_some(local)
                })
                .ok_or(RenderError::HelmMissing)?,
        };
        let output = run(Command::new(&path).args(["version", "--template", "{{.Version}}"]))
            .await
            .map_err(|source| RenderError::HelmUnusable {
                path: path.clone(),
                reason: source.to_string(),
            })?;
        if !output.status.success() {
            return Err(RenderError::HelmUnusable {
                path,
                reason: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        match parse_version(&version) {
            Some(found) if found >= MINIMUM_VERSION => Ok(Self { path, version }),
            _ => Err(RenderError::HelmTooOld { path, version }),
        }
    }

    /// Runs `helm template` and returns its standard output.
    pub async fn template(&self, args: &[String]) -> Result<String, String> {
        let mut command = Command::new(&self.path);
        command.arg("template").args(args);
        // helm template is a short-lived process: collecting garbage costs it
        // a quarter of its run time. A memory limit keeps big charts safe.
        if std::env::var_os("GOGC").is_none() && std::env::var_os("GOMEMLIMIT").is_none() {
            command.env("GOGC", "off").env("GOMEMLIMIT", "1GiB");
        }
        let output = run(&mut command).await.map_err(|e| e.to_string())?;
        if output.status.success() {
            String::from_utf8(output.stdout).map_err(|_| "helm printed invalid UTF-8".to_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
    }
}

async fn run(command: &mut Command) -> std::io::Result<std::process::Output> {
    command
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
    match tokio::time::timeout(TIMEOUT, command.output()).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("helm did not finish within {}s", TIMEOUT.as_secs()),
        )),
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `v3.14.2` or `v4.1.4+g05fa379` to (major, minor).
fn parse_version(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.trim_start_matches('v').split(['.', '+', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("v4.1.4+g05fa379"), Some((4, 1)));
        assert_eq!(parse_version("v3.11.0"), Some((3, 11)));
        assert!(parse_version("v3.11.0").unwrap() < MINIMUM_VERSION);
        assert_eq!(parse_version("garbage"), None);
    }
}
