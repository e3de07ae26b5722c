//! The `notifications:` section: where `conductor deploy` says who shipped
//! what, where. Webhook URLs are secrets, so the config names where to find
//! one (an environment variable or a file) and never holds one itself.
//!
//! ```yaml
//! notifications:
//!   - name: team-chat            # how messages and problems name the target
//!     type: slack                # slack (incoming webhook) or webhook (generic JSON)
//!     urlFrom: {env: SLACK_WEBHOOK_URL}   # or {file: /run/secrets/hook}
//!     environments: [production] # optional; default every environment
//!     events: [clusterFailed, finished]   # optional; default every event
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::names::check_dns_label;
use crate::diagnostic::nearest;

/// What a target receives: a Slack-compatible incoming webhook gets
/// `{"text": ...}`, a generic webhook the whole event as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetKind {
    Slack,
    Webhook,
}

/// The deploy events a target can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EventKind {
    /// The environment's ledger now wants this revision.
    Started,
    /// Every cluster of a wave is Healthy at the revision.
    WaveDone,
    /// A cluster's rollout degraded, timed out or could not be applied.
    ClusterFailed,
    /// Deployed, failed, timed out or interrupted.
    Finished,
    /// Refused by the ordering rule, or superseded by a newer deploy.
    Refused,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        Self::Started,
        Self::WaveDone,
        Self::ClusterFailed,
        Self::Finished,
        Self::Refused,
    ];

    /// As spelled in the config and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::WaveDone => "waveDone",
            Self::ClusterFailed => "clusterFailed",
            Self::Finished => "finished",
            Self::Refused => "refused",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a target's URL is read at deploy time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    Env(String),
    File(PathBuf),
}

/// One validated notification target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub name: String,
    pub kind: TargetKind,
    pub url_from: UrlSource,
    /// Empty: every environment.
    pub environments: Vec<String>,
    /// Empty: every event.
    pub events: Vec<EventKind>,
}

impl Notification {
    /// Whether this target is told about a deploy to `environment` at all.
    pub fn covers(&self, environment: &str) -> bool {
        self.environments.is_empty() || self.environments.iter().any(|e| e == environment)
    }

    /// Whether this target wants `event`.
    pub fn wants(&self, event: EventKind) -> bool {
        self.events.is_empty() || self.events.contains(&event)
    }
}

/// The section as written; checked by [`check`] before it becomes
/// [`Notification`]s.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct NotificationFile {
    name: String,
    #[serde(rename = "type")]
    kind: TargetKind,
    #[serde(default)]
    url_from: Option<UrlFromFile>,
    /// Never accepted: read only to say why.
    #[serde(default, skip_serializing)]
    url: Option<serde_yaml::Value>,
    #[serde(default)]
    environments: Vec<String>,
    #[serde(default)]
    events: Vec<EventKind>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct UrlFromFile {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    file: Option<PathBuf>,
}

/// Every problem of the section, as `(field path, message)`, for the
/// caller to place on lines.
pub(super) fn check<E>(
    targets: &[NotificationFile],
    environments: &BTreeMap<String, E>,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, target) in targets.iter().enumerate() {
        let at = format!("notifications[{i}]");
        if let Err(reason) = check_dns_label(&target.name) {
            problems.push((format!("{at}.name"), reason.to_string()));
        }
        if let Some(first) = seen.insert(&target.name, i) {
            problems.push((
                format!("{at}.name"),
                format!(
                    "duplicate notification name `{}` (first at notifications[{first}])",
                    target.name
                ),
            ));
        }
        if target.url.is_some() {
            problems.push((
                format!("{at}.url"),
                "a webhook URL is a secret and must not be committed to Git: \
                 use `urlFrom: {env: VARIABLE}` or `urlFrom: {file: /path/to/secret}`"
                    .into(),
            ));
        }
        match &target.url_from {
            None if target.url.is_none() => problems.push((
                at.clone(),
                "missing `urlFrom`: where the webhook URL is read, \
                 `{env: VARIABLE}` or `{file: /path/to/secret}`"
                    .into(),
            )),
            None => {}
            Some(from) => {
                if let Some(problem) = check_url_from(from) {
                    problems.push((format!("{at}.urlFrom"), problem));
                }
            }
        }
        for (j, environment) in target.environments.iter().enumerate() {
            if !environments.contains_key(environment) {
                let hint = nearest(environment, environments.keys().map(String::as_str))
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                problems.push((
                    format!("{at}.environments[{j}]"),
                    format!("unknown environment `{environment}`{hint}"),
                ));
            }
        }
    }
    problems
}

fn check_url_from(from: &UrlFromFile) -> Option<String> {
    match (&from.env, &from.file) {
        (Some(_), Some(_)) => Some("give one of `env` or `file`, not both".into()),
        (None, None) => Some("give `env: VARIABLE` or `file: /path/to/secret`".into()),
        (Some(name), None) if looks_like_url(name) => Some(
            "`env` names the variable holding the URL, not the URL: a webhook URL is a \
             secret and must not be committed to Git"
                .into(),
        ),
        (Some(name), None) if !is_variable_name(name) => Some(format!(
            "`{name}` is not an environment variable name (letters, digits and `_`, \
             not starting with a digit)"
        )),
        (None, Some(path)) if looks_like_url(&path.to_string_lossy()) => Some(
            "`file` names the file holding the URL, not the URL: a webhook URL is a \
             secret and must not be committed to Git"
                .into(),
        ),
        (None, Some(path)) if !path.is_absolute() => Some(format!(
            "`{}` is relative: it would be read from the checkout, which is Git; \
             give an absolute path such as /run/secrets/hook",
            path.display()
        )),
        _ => None,
    }
}

fn looks_like_url(text: &str) -> bool {
    text.contains("://")
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The checked section as the rest of Conductor sees it.
pub(super) fn validated(targets: Vec<NotificationFile>) -> Vec<Notification> {
    targets
        .into_iter()
        .filter_map(|t| {
            let from = t.url_from?;
            let url_from = match (from.env, from.file) {
                (Some(name), None) => UrlSource::Env(name),
                (None, Some(path)) => UrlSource::File(path),
                _ => return None,
            };
            Some(Notification {
                name: t.name,
                kind: t.kind,
                url_from,
                environments: t.environments,
                events: t.events,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{EventKind, TargetKind, UrlSource};
    use crate::config::{ConfigError, parse_service};

    const BASE: &str = "\
service: shop
chart: charts/shop
environments:
  production:
    clusters:
      - name: eu
        region: eu-west-1
        context: ctx-eu
        namespace: shop
  staging:
    clusters:
      - name: eu
        region: eu-west-1
        context: ctx-eu
        namespace: shop
";

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("charts/shop")).unwrap();
        std::fs::write(
            dir.path().join("charts/shop/Chart.yaml"),
            "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
        )
        .unwrap();
        dir
    }

    fn parse(section: &str) -> Result<crate::config::Service, ConfigError> {
        let dir = repo();
        let path = dir.path().join("conductor-config/shop.yaml");
        parse_service(dir.path(), &path, "shop", &format!("{BASE}{section}"))
    }

    fn problems(section: &str) -> Vec<String> {
        match parse(section) {
            Ok(service) => panic!("accepted: {service:?}"),
            Err(e) => e.diagnostics(),
        }
    }

    fn one_problem(section: &str, located: &str, says: &str) {
        let problems = problems(section);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(located) && p.contains(says)),
            "expected `{located}` … `{says}` in {problems:#?}"
        );
    }

    #[test]
    fn a_valid_section_is_parsed_and_filters_by_environment_and_event() {
        let service = parse(
            "\
notifications:
  - name: team-chat
    type: slack
    urlFrom: {env: SLACK_WEBHOOK_URL}
    environments: [production]
    events: [clusterFailed, finished]
  - name: audit
    type: webhook
    urlFrom:
      file: /run/secrets/hook
",
        )
        .unwrap();
        let [chat, audit] = service.notifications.as_slice() else {
            panic!("{:?}", service.notifications);
        };
        assert_eq!(chat.url_from, UrlSource::Env("SLACK_WEBHOOK_URL".into()));
        assert_eq!(chat.kind, TargetKind::Slack);
        assert!(chat.covers("production") && !chat.covers("staging"));
        assert!(chat.wants(EventKind::Finished) && !chat.wants(EventKind::Started));
        assert_eq!(
            audit.url_from,
            UrlSource::File(Path::new("/run/secrets/hook").into())
        );
        assert!(audit.covers("staging"));
        assert!(EventKind::ALL.iter().all(|e| audit.wants(*e)));
    }

    #[test]
    fn no_section_means_no_targets() {
        assert!(parse("").unwrap().notifications.is_empty());
    }

    #[test]
    fn a_literal_url_is_refused_and_says_why() {
        one_problem(
            "\
notifications:
  - name: team-chat
    type: slack
    url: https://hooks.slack.com/services/T000/B000/XXXX
",
            "conductor-config/shop.yaml:19: notifications[0].url:",
            "secret and must not be committed to Git",
        );
    }

    #[test]
    fn a_url_where_a_variable_name_goes_is_refused() {
        one_problem(
            "\
notifications:
  - name: team-chat
    type: slack
    urlFrom: {env: 'https://hooks.slack.com/services/T000/B000/XXXX'}
",
            "conductor-config/shop.yaml:19: notifications[0].urlFrom:",
            "not the URL",
        );
    }

    #[test]
    fn every_bad_input_is_named_with_its_line_and_field() {
        let section = "\
notifications:
  - name: Team Chat
    type: slack
    urlFrom: {env: 1BAD, file: /x}
  - name: Team Chat
    type: webhook
    urlFrom: {file: secrets/hook}
    environments: [prodution]
  - name: quiet
    type: webhook
";
        let all = problems(section);
        for (located, says) in [
            ("shop.yaml:17: notifications[0].name:", "not a valid name"),
            ("shop.yaml:19: notifications[0].urlFrom:", "not both"),
            (
                "shop.yaml:20: notifications[1].name:",
                "duplicate notification name",
            ),
            ("shop.yaml:22: notifications[1].urlFrom:", "is relative"),
            (
                "shop.yaml:23: notifications[1].environments[0]:",
                "did you mean `production`?",
            ),
            ("shop.yaml:24: notifications[2]:", "missing `urlFrom`"),
        ] {
            assert!(
                all.iter().any(|p| p.contains(located) && p.contains(says)),
                "expected `{located}` … `{says}` in {all:#?}"
            );
        }
    }

    #[test]
    fn an_unknown_event_or_type_is_a_parse_error_naming_the_field() {
        one_problem(
            "\
notifications:
  - name: team-chat
    type: slack
    urlFrom: {env: HOOK}
    events: [waveDon]
",
            "conductor-config/shop.yaml:20: notifications[0].events[0]:",
            "did you mean `waveDone`?",
        );
        one_problem(
            "\
notifications:
  - name: team-chat
    type: teams
    urlFrom: {env: HOOK}
",
            "conductor-config/shop.yaml:18: notifications[0].type:",
            "unknown variant `teams`",
        );
    }
}
