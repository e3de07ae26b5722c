//! Why a chart did not render, per cluster.

use std::path::PathBuf;

use crate::diagnostic::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "helm not found: set CONDUCTOR_HELM, put helm on PATH, or run scripts/install-tools.sh"
    )]
    HelmMissing,
    #[error("helm at {} is {version}; conductor needs 3.12 or newer", path.display())]
    HelmTooOld { path: PathBuf, version: String },
    #[error("helm at {} does not run: {reason}", path.display())]
    HelmUnusable { path: PathBuf, reason: String },
    #[error(
        "invalid revision `{0}`: use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    InvalidRevision(String),
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Values(Vec<Diagnostic>),
    #[error("{}: helm template failed for cluster `{cluster}`: {message}", chart.display())]
    Template {
        chart: PathBuf,
        cluster: String,
        message: String,
    },
    #[error("{}: helm printed a document that is not YAML for cluster `{cluster}`: {message}", chart.display())]
    Output {
        chart: PathBuf,
        cluster: String,
        message: String,
    },
}

impl RenderError {
    /// A helm failure shared by every cluster with the same helm input,
    /// reported for one of them.
    pub(super) fn for_cluster(&self, cluster: &str) -> Self {
        let cluster = cluster.to_owned();
        match self {
            Self::Template { chart, message, .. } => Self::Template {
                chart: chart.clone(),
                cluster,
                message: message.clone(),
            },
            Self::Output { chart, message, .. } => Self::Output {
                chart: chart.clone(),
                cluster,
                message: message.clone(),
            },
            other => Self::Template {
                chart: PathBuf::new(),
                cluster,
                message: other.to_string(),
            },
        }
    }
}
