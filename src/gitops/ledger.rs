//! The ledger's file format: one small YAML file per cluster, plus the
//! environment's intended revision. Pure: no I/O, so the rules can be tested
//! without Git.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::yaml_lines::clamp_to_content;

/// The file that holds an environment's intended revision. Cluster names are
/// DNS labels, which cannot start with `_`, so it never collides with one.
pub const ENVIRONMENT_FILE: &str = "_environment.yaml";

/// Git keeps a subject line readable in `git log --oneline` up to this width.
const SUBJECT_MAX: usize = 72;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{path}{}: {message}", .line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        path: String,
        line: Option<usize>,
        message: String,
    },
    #[error("cannot write {what} as YAML: {message}")]
    Serialize { what: &'static str, message: String },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterRecord {
    /// Full commit sha.
    pub revision: String,
    /// The revision as the user gave it; rendered into the chart.
    pub label: String,
    pub state: ClusterState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_label: Option<String>,
    /// The environment generation this deploy runs under.
    pub generation: u64,
    #[serde(default)]
    pub applied: Applied,
    /// RFC 3339.
    pub updated_at: String,
    pub by: String,
    /// Why it failed, was interrupted, etc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub rollback: bool,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClusterState {
    Deploying,
    Healthy,
    Failed,
    RolledBack,
    Interrupted,
}

impl fmt::Display for ClusterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Deploying => "Deploying",
            Self::Healthy => "Healthy",
            Self::Failed => "Failed",
            Self::RolledBack => "RolledBack",
            Self::Interrupted => "Interrupted",
        })
    }
}

/// What was applied to the cluster, so a later deploy can prune what the new
/// revision no longer renders.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Applied {
    /// `sha256:<hex>` of the rendered manifests.
    pub digest: String,
    #[serde(default)]
    pub objects: Vec<ObjectRef>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentRecord {
    pub revision: String,
    pub label: String,
    /// +1 every time the intended revision changes; applied objects carry it
    /// as a fence so an older deploy cannot overwrite a newer one.
    pub generation: u64,
    pub updated_at: String,
    pub by: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub rollback: bool,
}

/// Any ledger file, told apart by its name.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Environment(EnvironmentRecord),
    Cluster(ClusterRecord),
}

fn is_false(b: &bool) -> bool {
    !*b
}

pub fn cluster_path(service: &str, env: &str, cluster: &str) -> String {
    format!("{service}/{env}/{cluster}.yaml")
}

pub fn environment_path(service: &str, env: &str) -> String {
    format!("{service}/{env}/{ENVIRONMENT_FILE}")
}

pub fn parse_cluster(path: &str, text: &str) -> Result<ClusterRecord, LedgerError> {
    let record: ClusterRecord = from_yaml(path, text)?;
    check_sha(path, text, "revision", &record.revision)?;
    if let Some(previous) = &record.previous_revision {
        check_sha(path, text, "previousRevision", previous)?;
    }
    check_time(path, text, &record.updated_at)?;
    let digest = &record.applied.digest;
    if !digest.is_empty() && !is_digest(digest) {
        return Err(field_error(
            path,
            text,
            "digest",
            format!("applied.digest: `{digest}` is not sha256:<64 hex digits>"),
        ));
    }
    Ok(record)
}

pub fn parse_environment(path: &str, text: &str) -> Result<EnvironmentRecord, LedgerError> {
    let record: EnvironmentRecord = from_yaml(path, text)?;
    check_sha(path, text, "revision", &record.revision)?;
    check_time(path, text, &record.updated_at)?;
    Ok(record)
}

/// Parses any ledger file; `_environment.yaml` is the environment's record,
/// every other file a cluster's.
pub fn parse_record(path: &str, text: &str) -> Result<Record, LedgerError> {
    if path.rsplit('/').next() == Some(ENVIRONMENT_FILE) {
        parse_environment(path, text).map(Record::Environment)
    } else {
        parse_cluster(path, text).map(Record::Cluster)
    }
}

pub fn to_yaml<T: Serialize>(value: &T) -> Result<String, LedgerError> {
    serde_yaml::to_string(value).map_err(|e| LedgerError::Serialize {
        what: std::any::type_name::<T>(),
        message: e.to_string(),
    })
}

/// `sha256:<hex>` of rendered manifests: equal digests mean nothing to apply.
pub fn digest(manifest: &str) -> String {
    let hash = Sha256::digest(manifest.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The 7-character abbreviation people recognise from `git log --oneline`.
pub fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// A commit message whose subject says where and what, e.g.
/// `shop/production/eu-west-1: Deploying 3f2a9c1 (was 1a2b3c4)`. Lines of
/// `text` after the first become the body; a subject too long for
/// `git log --oneline` is cut and kept whole in the body.
pub fn message(service: &str, env: &str, cluster: Option<&str>, text: &str) -> String {
    let place = match cluster {
        Some(cluster) => format!("{service}/{env}/{cluster}"),
        None => format!("{service}/{env}"),
    };
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let subject = format!("{place}: {}", first.trim());
    let mut body: Vec<&str> = Vec::new();
    let shown = if subject.chars().count() > SUBJECT_MAX {
        body.push(&subject);
        let cut: String = subject.chars().take(SUBJECT_MAX - 1).collect();
        format!("{cut}…")
    } else {
        subject.clone()
    };
    let rest = rest.trim();
    if !rest.is_empty() {
        body.push(rest);
    }
    if body.is_empty() {
        shown
    } else {
        format!("{shown}\n\n{}\n", body.join("\n\n"))
    }
}

/// The message text for a cluster record, e.g. `Deploying 3f2a9c1 (was
/// 1a2b3c4)`, with who did it and why in the body.
pub fn describe(record: &ClusterRecord) -> String {
    let mut text = format!("{} {}", record.state, short(&record.revision));
    if let Some(previous) = &record.previous_revision {
        text.push_str(&format!(" (was {})", short(previous)));
    }
    text.push_str(&format!("\n\nby: {}", record.by));
    if let Some(why) = &record.message {
        text.push_str(&format!("\n{why}"));
    }
    text
}

fn from_yaml<T: serde::de::DeserializeOwned>(path: &str, text: &str) -> Result<T, LedgerError> {
    serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map(|l| clamp_to_content(l.line(), text));
        let mut message = e.to_string();
        // serde_yaml appends the position; it is already in front as file:line.
        if let Some(l) = e.location() {
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_owned();
            }
        }
        LedgerError::Parse {
            path: path.to_owned(),
            line,
            message,
        }
    })
}

fn check_sha(path: &str, text: &str, field: &str, value: &str) -> Result<(), LedgerError> {
    let hex = value
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    // SHA-1 repositories use 40 digits, SHA-256 ones 64.
    if hex && (value.len() == 40 || value.len() == 64) {
        return Ok(());
    }
    Err(field_error(
        path,
        text,
        field,
        format!("{field}: `{value}` is not a full commit sha (40 or 64 lowercase hex digits)"),
    ))
}

fn check_time(path: &str, text: &str, value: &str) -> Result<(), LedgerError> {
    match value.parse::<jiff::Timestamp>() {
        Ok(_) => Ok(()),
        Err(e) => Err(field_error(
            path,
            text,
            "updatedAt",
            format!("updatedAt: `{value}` is not an RFC 3339 time: {e}"),
        )),
    }
}

fn is_digest(value: &str) -> bool {
    value
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// serde has checked the shape, so a key's first occurrence is a good enough
/// line for a value that parsed but is not valid.
fn field_error(path: &str, text: &str, key: &str, message: String) -> LedgerError {
    let line = text
        .lines()
        .position(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .starts_with(&format!("{key}:"))
        })
        .map(|i| i + 1);
    LedgerError::Parse {
        path: path.to_owned(),
        line,
        message,
    }
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
