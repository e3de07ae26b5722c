//! Where each target's URL comes from, read at deploy time: an environment
//! variable or a file (a mounted secret), never the config in Git. The URL
//! is a secret: it is kept in [`WebhookUrl`], which never prints it.

use std::path::Path;

use super::error::NotifyError;
use crate::config::notifications::{Notification, UrlSource};

/// A webhook URL. Its `Debug` hides it, and nothing else shows it: targets
/// are named by their config name everywhere.
#[derive(Clone)]
pub struct WebhookUrl(reqwest::Url);

impl WebhookUrl {
    /// The URL itself, for the request and nothing else.
    pub fn expose(&self) -> reqwest::Url {
        self.0.clone()
    }
}

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookUrl(<secret>)")
    }
}

/// Reads a target's URL through `env` and `read` (the process environment
/// and the file system, or stand-ins in tests).
pub fn resolve(
    notification: &Notification,
    env: impl Fn(&str) -> Option<String>,
    read: impl Fn(&Path) -> std::io::Result<String>,
) -> Result<WebhookUrl, NotifyError> {
    let (text, from) = match &notification.url_from {
        UrlSource::Env(name) => {
            let value = env(name).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                NotifyError::MissingVariable {
                    variable: name.clone(),
                }
            })?;
            (value, format!("environment variable {name}"))
        }
        UrlSource::File(path) => {
            let value = read(path).map_err(|e| NotifyError::UnreadableFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            if value.trim().is_empty() {
                return Err(NotifyError::EmptyFile { path: path.clone() });
            }
            (value, format!("file {}", path.display()))
        }
    };
    match reqwest::Url::parse(text.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            Ok(WebhookUrl(url))
        }
        // The parse error never quotes its input; still, say only where.
        _ => Err(NotifyError::NotAUrl { from }),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::notifications::TargetKind;

    const SECRET: &str = "https://hooks.example.com/services/T000/B000/s3cr3t";

    fn target(from: UrlSource) -> Notification {
        Notification {
            name: "team-chat".into(),
            kind: TargetKind::Slack,
            url_from: from,
            environments: vec![],
            events: vec![],
        }
    }

    fn no_file(_: &Path) -> std::io::Result<String> {
        Err(std::io::Error::from(std::io::ErrorKind::NotFound))
    }

    #[test]
    fn a_variable_or_a_file_holds_the_url() {
        let env = |name: &str| (name == "HOOK").then(|| SECRET.to_owned());
        let url = resolve(&target(UrlSource::Env("HOOK".into())), env, no_file).unwrap();
        assert_eq!(url.expose().as_str(), SECRET);
        assert_eq!(format!("{url:?}"), "WebhookUrl(<secret>)");
        let file = |_: &Path| Ok(format!("{SECRET}\n"));
        let url = resolve(&target(UrlSource::File("/run/hook".into())), |_| None, file).unwrap();
        assert_eq!(url.expose().as_str(), SECRET);
    }

    #[test]
    fn what_is_missing_is_named_and_the_url_never_is() {
        let problem = |from: UrlSource, env: Option<&str>, file: Option<&str>| {
            resolve(
                &target(from),
                |_| env.map(str::to_owned),
                |_| {
                    file.map(str::to_owned)
                        .ok_or(std::io::ErrorKind::NotFound.into())
                },
            )
            .unwrap_err()
            .to_string()
        };
        let env = || UrlSource::Env("HOOK".into());
        let file = || UrlSource::File(PathBuf::from("/run/hook"));
        assert_eq!(
            problem(env(), None, None),
            "environment variable HOOK is not set (or empty)"
        );
        assert_eq!(
            problem(env(), Some("  "), None),
            "environment variable HOOK is not set (or empty)"
        );
        assert!(problem(file(), None, None).starts_with("cannot read /run/hook: "));
        assert_eq!(problem(file(), None, Some("\n")), "file /run/hook is empty");
        let bad = "ftp://hooks.example.com/s3cr3t";
        let said = problem(env(), Some(bad), None);
        assert_eq!(said, "environment variable HOOK holds no http(s) URL");
        assert!(!said.contains("s3cr3t"));
        assert_eq!(
            problem(file(), None, Some("s3cr3t")),
            "file /run/hook holds no http(s) URL"
        );
    }
}
