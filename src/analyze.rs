//! `conductor analyze`: run an AnalysisTemplate from a file against the
//! real providers and show every measurement.

use std::path::Path;
use std::sync::Arc;

use jiff::Timestamp;

use crate::analysis::args::ArgValue;
use crate::analysis::plan::plan_metrics;
use crate::analysis::providers::{Providers, StaticEndpoints, StaticKeys, Trust};
use crate::analysis::run::Run;
use crate::crd::analysis::AnalysisTemplateSpec;
use crate::crd::problem::joined;

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: {reason}")]
    Template { path: String, reason: String },
    #[error("{0}")]
    Plan(String),
    #[error("{0}")]
    Providers(String),
}

/// Finds the AnalysisTemplate (or ClusterAnalysisTemplate) named `name` in
/// a multi-document YAML file; with no name, the only one.
pub fn load_template(
    path: &Path,
    name: Option<&str>,
) -> Result<(String, AnalysisTemplateSpec), AnalyzeError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| AnalyzeError::Read {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let mut found = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value: serde_json::Value =
            serde::Deserialize::deserialize(document).map_err(|e| AnalyzeError::Template {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        if kind != "AnalysisTemplate" && kind != "ClusterAnalysisTemplate" {
            continue;
        }
        let template_name = value
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or("")
            .to_owned();
        let spec: AnalysisTemplateSpec = serde_json::from_value(
            value.get("spec").cloned().unwrap_or_default(),
        )
        .map_err(|e| AnalyzeError::Template {
            path: shown.clone(),
            reason: format!("{kind} {template_name}: spec: {e}"),
        })?;
        found.push((template_name, spec));
    }
    let names: Vec<String> = found.iter().map(|(n, _)| n.clone()).collect();
    let mut matching: Vec<_> = found
        .into_iter()
        .filter(|(n, _)| name.is_none_or(|want| want == n))
        .collect();
    match (matching.len(), name) {
        (1, _) => Ok(matching.remove(0)),
        (0, Some(want)) => Err(AnalyzeError::Template {
            path: shown,
            reason: format!(
                "no AnalysisTemplate named `{want}` (found: {})",
                names.join(", ")
            ),
        }),
        (0, None) => Err(AnalyzeError::Template {
            path: shown,
            reason: "no AnalysisTemplate in the file".into(),
        }),
        _ => Err(AnalyzeError::Template {
            path: shown,
            reason: format!(
                "several AnalysisTemplates ({}); pick one with --template",
                names.join(", ")
            ),
        }),
    }
}

/// Parses `--arg name=value`.
pub fn parse_arg(text: &str) -> Result<ArgValue, String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not name=value"))?;
    Ok(ArgValue::literal(name.trim(), value))
}

/// Runs the template to its end; `progress` sees the run after each round.
pub async fn analyze(
    name: &str,
    spec: &AnalysisTemplateSpec,
    args: &[ArgValue],
    trust: &Trust,
    endpoints: Vec<String>,
    progress: impl FnMut(&Run),
) -> Result<Run, AnalyzeError> {
    let plans = plan_metrics(name, spec, args).map_err(|p| AnalyzeError::Plan(joined(&p, "\n")))?;
    // Datadog keys for runs outside a cluster come from the environment.
    let keys = StaticKeys {
        api_key: std::env::var("DD_API_KEY").unwrap_or_default(),
        app_key: std::env::var("DD_APP_KEY").unwrap_or_default(),
    };
    let providers = Providers::new(trust, Arc::new(keys), Arc::new(StaticEndpoints(endpoints)))
        .map_err(AnalyzeError::Providers)?;
    let mut run = Run::new(plans, Timestamp::now());
    run.run_to_end(&providers, progress).await;
    Ok(run)
}
