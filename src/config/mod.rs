//! `conductor-config/<service>.yaml`: a service, its chart, and per
//! environment the clusters it runs in.
//!
//! ```yaml
//! service: helpdesk
//! chart: charts/helpdesk          # relative to the repository root
//! environments:
//!   production:
//!     clusters:
//!       - name: eu-west-1
//!         region: eu-west-1
//!         context: prod-eu-west-1  # kubeconfig context
//!         namespace: helpdesk
//!         wave: 1                  # lower waves deploy first
//! ```

pub mod names;
pub mod notifications;
pub mod values;
pub mod yaml11;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use self::names::check_dotted_key;
pub use self::names::{NameError, check_dns_label};
use self::notifications::{Notification, NotificationFile};
use crate::diagnostic::{Diagnostic, nearest};
use crate::yaml_lines::LineIndex;

/// Folder, under the repository root, holding one file per service.
pub const CONFIG_DIR: &str = "conductor-config";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Every problem found in one file, so a user fixes them in one pass.
    #[error("{}", join_lines(.0))]
    Invalid(Vec<Diagnostic>),
    #[error("unknown service `{name}`: no {}{}", path.display(), suggestion(.known, .name))]
    UnknownService {
        name: String,
        path: PathBuf,
        known: Vec<String>,
    },
    #[error("{}: unknown environment `{name}` for service `{service}`{}", file.display(), suggestion(.known, .name))]
    UnknownEnvironment {
        file: PathBuf,
        service: String,
        name: String,
        known: Vec<String>,
    },
    #[error("{}: unknown cluster `{name}` in environment `{environment}`{}", file.display(), suggestion(.known, .name))]
    UnknownCluster {
        file: PathBuf,
        environment: String,
        name: String,
        known: Vec<String>,
    },
}

impl ConfigError {
    /// The individual problems, for commands that list them all.
    pub fn diagnostics(&self) -> Vec<String> {
        match self {
            ConfigError::Invalid(list) => list.iter().map(ToString::to_string).collect(),
            other => vec![other.to_string()],
        }
    }
}

fn join_lines(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn suggestion(known: &[String], name: &str) -> String {
    let hint = nearest(name, known.iter().map(String::as_str))
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default();
    format!("{hint} (known: {})", known.join(", "))
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ServiceFile {
    service: String,
    chart: PathBuf,
    #[serde(default)]
    release_name: Option<String>,
    /// Dotted values key that receives `--revision`.
    #[serde(default = "default_revision_value")]
    revision_value: String,
    #[serde(default)]
    ledger: LedgerConfig,
    /// The source repository's compare page, `{from}` and `{to}` standing
    /// for the two commits; the dashboard links a deploy's changes there.
    #[serde(default)]
    compare_url: Option<String>,
    environments: BTreeMap<String, EnvironmentFile>,
    /// Where `deploy` says who shipped what, where.
    #[serde(default)]
    notifications: Vec<NotificationFile>,
}

fn default_revision_value() -> String {
    "image.tag".to_owned()
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnvironmentFile {
    clusters: Vec<Cluster>,
    /// How long a wave stays Healthy before the next starts (`10m`).
    #[serde(default)]
    bake_time: Option<String>,
}

/// One Kubernetes cluster of an environment.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cluster {
    pub name: String,
    pub region: String,
    /// kubeconfig context used to reach the cluster.
    pub context: String,
    pub namespace: String,
    /// Clusters deploy wave by wave, lowest first; default 1.
    #[serde(default = "default_wave")]
    pub wave: u32,
    /// Namespace of the Conductor controller whose lease `deploy` checks;
    /// default `conductor`.
    #[serde(default = "default_controller_namespace")]
    pub controller_namespace: String,
}

fn default_wave() -> u32 {
    1
}

fn default_controller_namespace() -> String {
    "conductor".to_owned()
}

/// Where `conductor deploy` records what runs where.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LedgerConfig {
    /// A local path (relative to the repository root) or a Git URL;
    /// default: the repository's `origin` remote, else the repository itself.
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default = "default_ledger_branch")]
    pub branch: String,
}

fn default_ledger_branch() -> String {
    "conductor/ledger".to_owned()
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            repository: None,
            branch: default_ledger_branch(),
        }
    }
}

/// A validated service configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    /// The file it was read from, for messages.
    pub file: PathBuf,
    /// Absolute or repository-relative path of the chart folder.
    pub chart: PathBuf,
    pub release_name: String,
    pub revision_value: String,
    pub ledger: LedgerConfig,
    /// e.g. `https://github.com/acme/helpdesk/compare/{from}...{to}`.
    pub compare_url: Option<String>,
    pub environments: BTreeMap<String, Environment>,
    /// Webhooks told about deploys; URLs are read at deploy time.
    pub notifications: Vec<Notification>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub name: String,
    pub clusters: Vec<Cluster>,
    /// Milliseconds a wave must stay Healthy before the next starts.
    pub bake_ms: i64,
}

impl Service {
    pub fn environment(&self, name: &str) -> Result<&Environment, ConfigError> {
        self.environments
            .get(name)
            .ok_or_else(|| ConfigError::UnknownEnvironment {
                file: self.file.clone(),
                service: self.name.clone(),
                name: name.to_owned(),
                known: self.environments.keys().cloned().collect(),
            })
    }
}

impl Environment {
    pub fn cluster(&self, file: &Path, name: &str) -> Result<&Cluster, ConfigError> {
        self.clusters
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| ConfigError::UnknownCluster {
                file: file.to_path_buf(),
                environment: self.name.clone(),
                name: name.to_owned(),
                known: self.clusters.iter().map(|c| c.name.clone()).collect(),
            })
    }
}

/// Path of a service's config file under `repo`.
pub fn service_path(repo: &Path, service: &str) -> PathBuf {
    repo.join(CONFIG_DIR).join(format!("{service}.yaml"))
}

/// Names of the services configured under `repo`, sorted.
pub fn service_names(repo: &Path) -> Result<Vec<String>, ConfigError> {
    let dir = repo.join(CONFIG_DIR);
    let entries = std::fs::read_dir(&dir).map_err(|source| ConfigError::Read {
        path: dir.clone(),
        source,
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| ConfigError::Read {
                path: dir.clone(),
                source,
            })?
            .path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            names.push(stem.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Reads and validates `conductor-config/<service>.yaml` under `repo`.
pub fn load_service(repo: &Path, service: &str) -> Result<Service, ConfigError> {
    let path = service_path(repo, service);
    if !path.exists() {
        return Err(ConfigError::UnknownService {
            name: service.to_owned(),
            path,
            known: service_names(repo).unwrap_or_default(),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    parse_service(repo, &path, service, &text)
}

/// Parses a service file's text; `path` names it in messages and `expected`
/// is the service name its file name promises.
pub fn parse_service(
    repo: &Path,
    path: &Path,
    expected: &str,
    text: &str,
) -> Result<Service, ConfigError> {
    let display = path.strip_prefix(repo).unwrap_or(path);
    let file: ServiceFile = serde_yaml::from_str(text).map_err(|e| {
        let mut d = Diagnostic::from_yaml_error(display, text, &e);
        if d.message.starts_with("duplicate field") || d.message.starts_with("duplicate entry") {
            d.line = LineIndex::build(text).first_duplicate().or(d.line);
        }
        ConfigError::Invalid(vec![d])
    })?;
    let lines = LineIndex::build(text);
    let problems = check(repo, display, &lines, expected, &file);
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    let environments = file
        .environments
        .into_iter()
        .map(|(name, env)| {
            let bake_ms = env
                .bake_time
                .as_deref()
                .and_then(|t| crate::engine::duration::parse_millis(t).ok())
                .unwrap_or(0);
            let environment = Environment {
                name: name.clone(),
                clusters: env.clusters,
                bake_ms,
            };
            (name, environment)
        })
        .collect();
    Ok(Service {
        release_name: file.release_name.unwrap_or_else(|| file.service.clone()),
        name: file.service,
        file: display.to_path_buf(),
        chart: repo.join(file.chart),
        revision_value: file.revision_value,
        ledger: file.ledger,
        compare_url: file.compare_url,
        environments,
        notifications: notifications::validated(file.notifications),
    })
}

/// Checks what the types cannot express; returns every problem found.
fn check(
    repo: &Path,
    file: &Path,
    lines: &LineIndex,
    expected: &str,
    config: &ServiceFile,
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let mut problem = |field: String, message: String| {
        problems.push(
            Diagnostic::new(file, message)
                .at_line(lines.line_of(&field))
                .field(field),
        );
    };
    if config.service != expected {
        problem(
            "service".into(),
            format!(
                "declares service `{}` but the file name says `{expected}`",
                config.service
            ),
        );
    }
    if let Err(reason) = check_dns_label(&config.service) {
        problem("service".into(), reason.to_string());
    }
    let chart = repo.join(&config.chart);
    if !chart.join("Chart.yaml").is_file() {
        problem(
            "chart".into(),
            format!(
                "chart `{}` not found: no Chart.yaml in {}",
                config.chart.display(),
                chart.display()
            ),
        );
    }
    if let Err(reason) = check_dotted_key(&config.revision_value) {
        problem("revisionValue".into(), reason.to_string());
    }
    if let Some(url) = &config.compare_url {
        let web = url.starts_with("https://") || url.starts_with("http://");
        if !web || !url.contains("{from}") || !url.contains("{to}") {
            problem(
                "compareUrl".into(),
                format!(
                    "`{url}` is not an http(s) URL with {{from}} and {{to}} in it, e.g. \
                     https://github.com/acme/helpdesk/compare/{{from}}...{{to}}"
                ),
            );
        }
    }
    if config.environments.is_empty() {
        problem(
            "environments".into(),
            "declares no environment; add at least one".into(),
        );
    }
    for (env_name, env) in &config.environments {
        let env_path = format!("environments.{env_name}");
        if let Err(reason) = check_dns_label(env_name) {
            problem(env_path.clone(), format!("environment name: {reason}"));
        }
        if let Some(bake) = &env.bake_time
            && let Err(reason) = crate::engine::duration::parse_millis(bake)
        {
            problem(format!("{env_path}.bakeTime"), reason.to_string());
        }
        if env.clusters.is_empty() {
            problem(
                format!("{env_path}.clusters"),
                "lists no cluster; add at least one".into(),
            );
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, cluster) in env.clusters.iter().enumerate() {
            let at = format!("{env_path}.clusters[{i}]");
            if let Some(first) = seen.insert(&cluster.name, i) {
                let first_line = lines
                    .line_of(&format!("{env_path}.clusters[{first}].name"))
                    .map(|l| format!(" (first at line {l})"))
                    .unwrap_or_default();
                problem(
                    format!("{at}.name"),
                    format!(
                        "duplicate cluster name `{}` in environment `{env_name}`{first_line}",
                        cluster.name
                    ),
                );
            }
            for (field, value) in [
                ("name", &cluster.name),
                ("namespace", &cluster.namespace),
                ("controllerNamespace", &cluster.controller_namespace),
            ] {
                if let Err(reason) = check_dns_label(value) {
                    problem(format!("{at}.{field}"), reason.to_string());
                }
            }
            for (field, value) in [("region", &cluster.region), ("context", &cluster.context)] {
                if value.trim().is_empty() {
                    problem(format!("{at}.{field}"), "must not be empty".into());
                }
            }
            if cluster.wave == 0 {
                problem(
                    format!("{at}.wave"),
                    "wave must be 1 or more (waves deploy in ascending order)".into(),
                );
            }
        }
    }
    for (field, message) in notifications::check(&config.notifications, &config.environments) {
        problem(field, message);
    }
    problems
}
