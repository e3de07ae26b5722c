//! `conductor plan`: what each cluster of an environment will get.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_yaml::Mapping;

use crate::config::values::{self, Provenance};
use crate::config::{self, ConfigError, Service};
use crate::crd::rollout::Rollout;
use crate::crd::schema::SchemaSet;
use crate::diagnostic::Diagnostic;
use crate::engine::Settings;
use crate::render::{self, Helm, RenderError, RenderedCluster, RenderedObject};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Render(#[from] RenderError),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    pub service: String,
    pub environment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub clusters: Vec<ClusterPlan>,
    /// Problems that make some cluster's plan unusable.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPlan {
    pub name: String,
    pub region: String,
    pub context: String,
    pub namespace: String,
    pub wave: u32,
    /// Values sources in the order they apply; later ones win.
    pub values_files: Vec<String>,
    pub values: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Vec<Provenance>>,
    pub objects: Vec<ObjectSummary>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSummary {
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
}

pub struct PlanRequest<'a> {
    pub repo: &'a Path,
    pub service: &'a str,
    pub environment: &'a str,
    pub cluster: Option<&'a str>,
    pub revision: Option<&'a str>,
    pub explain: bool,
}

/// Renders the requested clusters and summarises them. Render failures of
/// individual clusters become `problems`; config errors fail the whole plan.
pub async fn plan(request: &PlanRequest<'_>) -> Result<PlanReport, PlanError> {
    let service = config::load_service(request.repo, request.service)?;
    let environment = service.environment(request.environment)?;
    let clusters = match request.cluster {
        Some(name) => vec![environment.cluster(&service.file, name)?.clone()],
        None => environment.clusters.clone(),
    };
    if let Some(revision) = request.revision {
        render::check_revision(revision)?;
    }
    let helm = Helm::locate(request.repo).await?;
    let results = render::render_clusters(
        &helm,
        request.repo,
        &service,
        &environment.name,
        &clusters,
        request.revision,
    )
    .await;
    let schemas = SchemaSet::new();
    let mut report = PlanReport {
        service: service.name.clone(),
        environment: environment.name.clone(),
        revision: request.revision.map(str::to_owned),
        clusters: Vec::new(),
        problems: Vec::new(),
    };
    for result in results {
        match result {
            Ok(rendered) => {
                report.problems.extend(
                    check_objects(request.repo, &service, &schemas, &rendered)
                        .iter()
                        .map(ToString::to_string),
                );
                report.clusters.push(summarise(&rendered, request.explain));
            }
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    crate::diagnostic::dedup(&mut report.problems);
    Ok(report)
}

fn summarise(rendered: &RenderedCluster, explain: bool) -> ClusterPlan {
    let cluster = &rendered.cluster;
    ClusterPlan {
        name: cluster.name.clone(),
        region: cluster.region.clone(),
        context: cluster.context.clone(),
        namespace: cluster.namespace.clone(),
        wave: cluster.wave,
        values_files: rendered.layers.iter().map(layer_label).collect(),
        values: rendered.values.clone(),
        explain: explain.then(|| values::explain(&rendered.layers, &rendered.values)),
        objects: rendered.objects.iter().map(summarise_object).collect(),
    }
}

fn layer_label(layer: &values::ValuesLayer) -> String {
    match &layer.kind {
        values::LayerKind::SetString { key, value } => format!("{} ({key}={value})", layer.source),
        _ => layer.source.clone(),
    }
}

fn summarise_object(object: &RenderedObject) -> ObjectSummary {
    ObjectSummary {
        kind: object.kind.clone(),
        name: object.name.clone(),
        source: object.source.clone(),
        replicas: object.replicas(),
        images: object.images(),
        steps: object.strategy_steps(),
    }
}

/// Schema problems in the rendered objects of Conductor's own kinds, located
/// at the chart template that produced them.
pub fn check_objects(
    repo: &Path,
    service: &Service,
    schemas: &SchemaSet,
    rendered: &RenderedCluster,
) -> Vec<Diagnostic> {
    let chart_parent = service
        .chart
        .parent()
        .map(|p| p.strip_prefix(repo).unwrap_or(p).to_path_buf())
        .unwrap_or_default();
    let mut problems = Vec::new();
    for object in &rendered.objects {
        let Some(found) = schemas.check(&object.manifest) else {
            continue;
        };
        let file = object
            .source
            .as_deref()
            .map_or_else(|| service.chart.clone(), |s| chart_parent.join(s));
        if matches!(
            object.kind.as_str(),
            "AnalysisTemplate" | "ClusterAnalysisTemplate"
        ) && found.is_empty()
            && let Ok(spec) = serde_json::from_value::<crate::crd::analysis::AnalysisTemplateSpec>(
                object.manifest.get("spec").cloned().unwrap_or_default(),
            )
        {
            for problem in crate::analysis::plan::check_template(&object.name, &spec) {
                problems.push(Diagnostic::new(
                    &file,
                    format!("for cluster `{}`: {problem}", rendered.cluster.name),
                ));
            }
        }
        // What the engine would find: the operator reports it as
        // InvalidSpec, so CI should see it first (an empty trafficRouting,
        // a step doing nothing). Templates are not looked up here.
        if object.kind == "Rollout"
            && found.is_empty()
            && let Ok(rollout) = serde_json::from_value::<Rollout>(object.manifest.clone())
            && let Err(problem) = Settings::from_spec(&rollout.spec, None)
        {
            problems.push(
                Diagnostic::new(
                    &file,
                    format!(
                        "Rollout/{} for cluster `{}`: {}",
                        object.name, rendered.cluster.name, problem.message
                    ),
                )
                .field(problem.path),
            );
        }
        for problem in found {
            problems.push(
                Diagnostic::new(
                    &file,
                    format!(
                        "{}/{} for cluster `{}`: {}",
                        object.kind, object.name, rendered.cluster.name, problem.message
                    ),
                )
                .field(problem.field),
            );
        }
    }
    problems
}

/// The human form of a plan.
pub fn to_text(report: &PlanReport) -> String {
    let mut out = String::new();
    let revision = report
        .revision
        .as_deref()
        .map(|r| format!(" at revision {r}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "plan for {} in {}{revision}: {} cluster(s)",
        report.service,
        report.environment,
        report.clusters.len()
    );
    for cluster in &report.clusters {
        let _ = writeln!(
            out,
            "\n== {} (region {}, context {}, namespace {}, wave {})",
            cluster.name, cluster.region, cluster.context, cluster.namespace, cluster.wave
        );
        let _ = writeln!(out, "values files, in order:");
        for (i, file) in cluster.values_files.iter().enumerate() {
            let _ = writeln!(out, "  {}. {file}", i + 1);
        }
        match &cluster.explain {
            Some(explain) => {
                let _ = writeln!(out, "values, with the file that set each key:");
                for p in explain {
                    let value = serde_json::to_string(&p.value).unwrap_or_default();
                    let line = p.line.map(|l| format!(":{l}")).unwrap_or_default();
                    let _ = writeln!(out, "  {} = {value}    <- {}{line}", p.key, p.source);
                }
            }
            None => {
                let _ = writeln!(out, "values:");
                let yaml = serde_yaml::to_string(&cluster.values).unwrap_or_default();
                for line in yaml.lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
        let _ = writeln!(out, "objects:");
        for object in &cluster.objects {
            let mut line = format!("  {}/{}", object.kind, object.name);
            if let Some(replicas) = object.replicas {
                let _ = write!(line, "  replicas={replicas}");
            }
            for image in &object.images {
                let _ = write!(line, "  image={image}");
            }
            let _ = writeln!(out, "{line}");
            if !object.steps.is_empty() {
                let _ = writeln!(out, "    steps: {}", object.steps.join(" -> "));
            }
        }
    }
    if !report.problems.is_empty() {
        let _ = writeln!(out, "\n{} problem(s):", report.problems.len());
        for problem in &report.problems {
            let _ = writeln!(out, "  {problem}");
        }
    }
    out
}
