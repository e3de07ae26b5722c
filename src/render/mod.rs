//! Rendering a service's chart for its clusters with the real `helm template`.

pub mod error;
pub mod helm;
pub mod objects;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_yaml::Mapping;
use tokio::sync::Semaphore;

use crate::config::values::{self, LayerKind, ValuesLayer};
use crate::config::{Cluster, Service};
pub use error::RenderError;
pub use helm::Helm;
pub use objects::RenderedObject;

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
    let (manifest, objects) = template(helm, repo, service, cluster, &layers).await?;
    Ok(rendered(environment, cluster, layers, manifest, objects))
}

fn rendered(
    environment: &str,
    cluster: &Cluster,
    layers: Vec<ValuesLayer>,
    manifest: String,
    objects: Vec<RenderedObject>,
) -> RenderedCluster {
    RenderedCluster {
        environment: environment.to_owned(),
        cluster: cluster.clone(),
        values: values::merge(&layers),
        layers,
        objects,
        manifest,
    }
}

/// The arguments of `helm template` for `layers`, in order.
fn helm_args(service: &Service, cluster: &Cluster, layers: &[ValuesLayer]) -> Vec<String> {
    let mut args = vec![
        service.release_name.clone(),
        service.chart.display().to_string(),
        "--namespace".to_owned(),
        cluster.namespace.clone(),
    ];
    for layer in layers {
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
    args
}

/// Runs helm for one cluster's layers: the manifest and its objects.
async fn template(
    helm: &Helm,
    repo: &Path,
    service: &Service,
    cluster: &Cluster,
    layers: &[ValuesLayer],
) -> Result<(String, Vec<RenderedObject>), RenderError> {
    let chart = service.chart.strip_prefix(repo).unwrap_or(&service.chart);
    let manifest = helm
        .template(&helm_args(service, cluster, layers))
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
    Ok((manifest, objects))
}

/// What helm reads for a cluster, byte for byte: its namespace, the
/// contents of its values files and its overrides, in order. Clusters with
/// the same input get the same manifest, so helm runs once for them all.
/// `None` when a file cannot be read again: that cluster renders alone.
fn helm_input(cluster: &Cluster, layers: &[ValuesLayer]) -> Option<Vec<u8>> {
    let mut input = cluster.namespace.as_bytes().to_vec();
    for layer in layers {
        // Lengths first, so no two different inputs concatenate alike.
        let part = match &layer.kind {
            LayerKind::Chart => b"chart".to_vec(),
            LayerKind::File(path) => std::fs::read(path).ok()?,
            LayerKind::SetString { key, value } => format!("{key}={value}").into_bytes(),
        };
        input.extend_from_slice(&part.len().to_le_bytes());
        input.extend_from_slice(&part);
    }
    Some(input)
}

/// Renders clusters concurrently, a few helm processes per core, one per
/// distinct helm input; results come back in the order of `clusters`.
pub async fn render_clusters(
    helm: &Helm,
    repo: &Path,
    service: &Service,
    environment: &str,
    clusters: &[Cluster],
    revision: Option<&str>,
) -> Vec<Result<RenderedCluster, RenderError>> {
    let mut results: Vec<Option<Result<RenderedCluster, RenderError>>> =
        (0..clusters.len()).map(|_| None).collect();
    // Indexes of the clusters sharing one helm input, first one renders.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut layers_of: Vec<Option<Vec<ValuesLayer>>> = (0..clusters.len()).map(|_| None).collect();
    for (index, cluster) in clusters.iter().enumerate() {
        let layers = match cluster_layers(repo, service, environment, cluster, revision) {
            Ok(layers) => layers,
            Err(error) => {
                results[index] = Some(Err(error));
                continue;
            }
        };
        match helm_input(cluster, &layers) {
            Some(input) => match group_of.get(&input) {
                Some(&group) => groups[group].push(index),
                None => {
                    group_of.insert(input, groups.len());
                    groups.push(vec![index]);
                }
            },
            None => groups.push(vec![index]),
        }
        layers_of[index] = Some(layers);
    }

    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    let permits = Arc::new(Semaphore::new(parallel));
    let mut tasks = tokio::task::JoinSet::new();
    for group in groups {
        let first = group[0];
        let layers = layers_of[first].clone().unwrap_or_default();
        let (helm, repo, service) = (helm.clone(), repo.to_path_buf(), service.clone());
        let cluster = clusters[first].clone();
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let result = template(&helm, &repo, &service, &cluster, &layers).await;
            (group, result)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((group, result)) => {
                for index in group {
                    let layers = layers_of[index].take().unwrap_or_default();
                    let cluster = &clusters[index];
                    results[index] = Some(match &result {
                        Ok((manifest, objects)) => Ok(rendered(
                            environment,
                            cluster,
                            layers,
                            manifest.clone(),
                            objects.clone(),
                        )),
                        Err(error) => Err(error.for_cluster(&cluster.name)),
                    });
                }
            }
            // A render task only panics on a bug; surface it rather than hide it.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    results.into_iter().flatten().collect()
}
