//! Rendering a service's chart for its clusters with the real `helm template`.

pub mod helm;
pub mod objects;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_yaml::Mapping;
use tokio::sync::Semaphore;

use crate::config::values::{self, LayerKind, ValuesLayer};
use crate::config::{Cluster, Service};
use crate::diagnostic::Diagnostic;
pub use helm::Helm;
pub use objects::RenderedObject;

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

/// What one cluster gets: its values, layer by layer, and the rendered objects.
#[derive(Debug, Clone)]
pub struct RenderedCluster {
    pub environment: String,
    pub cluster: Cluster,
    pub layers: Vec<ValuesLayer>,
    pub values: Mapping,
    pub objects: Vec<RenderedObject>,
    /// `helm template`'s output, as applied.
    pub manifest: String,
}

/// Revisions end up in image tags and file names.
pub fn check_revision(revision: &str) -> Result<(), RenderError> {
    let valid = !revision.is_empty()
        && revision.len() <= 128
        && revision.starts_with(|c: char| c.is_ascii_alphanumeric())
        && revision
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(RenderError::InvalidRevision(revision.to_owned()))
    }
}

/// The values layers of one cluster, the revision override last.
pub fn cluster_layers(
    repo: &Path,
    service: &Service,
    environment: &str,
    cluster: &Cluster,
    revision: Option<&str>,
) -> Result<Vec<ValuesLayer>, RenderError> {
    let mut layers = values::load_layers(repo, &service.chart, environment, &cluster.name)
        .map_err(RenderError::Values)?;
    if let Some(revision) = revision {
        check_revision(revision)?;
        layers.push(ValuesLayer::set_string(
            "--revision",
            &service.revision_value,
            revision,
        ));
    }
    Ok(layers)
}

/// Renders one cluster.
pub async fn render_cluster(
    helm: &Helm,
    repo: &Path,
    service: &Service,
    environment: &str,
    cluster: &Cluster,
    revision: Option<&str>,
) -> Result<RenderedCluster, RenderError> {
    render_cluster_with(helm, repo, service, environment, cluster, revision, &[]).await
}

/// Renders one cluster with extra `--set-string key=value` overrides last.
pub async fn render_cluster_with(
    helm: &Helm,
    repo: &Path,
    service: &Service,
    environment: &str,
    cluster: &Cluster,
    revision: Option<&str>,
    overrides: &[(&str, &str)],
) -> Result<RenderedCluster, RenderError> {
    let mut layers = cluster_layers(repo, service, environment, cluster, revision)?;
    for (key, value) in overrides {
        layers.push(ValuesLayer::set_string("--set-string", key, value));
    }
    let values = values::merge(&layers);
    let mut args = vec![
        service.release_name.clone(),
        service.chart.display().to_string(),
        "--namespace".to_owned(),
        cluster.namespace.clone(),
    ];
    for layer in &layers {
        match &layer.kind {
            LayerKind::Chart => {}
            LayerKind::File(path) => {
                args.push("--values".to_owned());
                args.push(path.display().to_string());
            }
            LayerKind::SetString { key, value } => {
                args.push("--set-string".to_owned());
                args.push(format!("{key}={value}"));
            }
        }
    }
    let chart = service.chart.strip_prefix(repo).unwrap_or(&service.chart);
    let manifest = helm
        .template(&args)
        .await
        .map_err(|message| RenderError::Template {
            chart: chart.to_path_buf(),
            cluster: cluster.name.clone(),
            message,
        })?;
    let objects = objects::parse(&manifest).map_err(|message| RenderError::Output {
        chart: chart.to_path_buf(),
        cluster: cluster.name.clone(),
        message,
    })?;
    Ok(RenderedCluster {
        environment: environment.to_owned(),
        cluster: cluster.clone(),
        layers,
        values,
        objects,
        manifest,
    })
}

/// Renders clusters concurrently, a few helm processes per core; results
/// come back in the order of `clusters`.
pub async fn render_clusters(
    helm: &Helm,
    repo: &Path,
    service: &Service,
    environment: &str,
    clusters: &[Cluster],
    revision: Option<&str>,
) -> Vec<Result<RenderedCluster, RenderError>> {
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    let permits = Arc::new(Semaphore::new(parallel));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, cluster) in clusters.iter().enumerate() {
        let (helm, repo, service) = (helm.clone(), repo.to_path_buf(), service.clone());
        let (environment, cluster) = (environment.to_owned(), cluster.clone());
        let revision = revision.map(str::to_owned);
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let result = render_cluster(
                &helm,
                &repo,
                &service,
                &environment,
                &cluster,
                revision.as_deref(),
            )
            .await;
            (index, result)
        });
    }
    let mut results: Vec<Option<Result<RenderedCluster, RenderError>>> =
        (0..clusters.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, result)) => results[index] = Some(result),
            // A render task only panics on a bug; surface it rather than hide it.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    results.into_iter().flatten().collect()
}
