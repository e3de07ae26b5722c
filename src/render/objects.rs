//! The objects in `helm template` output, and what a reviewer wants to see
//! of each: replicas, images, canary steps.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderedObject {
    /// Template file the object came from (helm's `# Source:` comment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(skip)]
    pub manifest: Value,
}

/// Splits helm's multi-document output into objects, skipping empty documents.
pub fn parse(output: &str) -> Result<Vec<RenderedObject>, String> {
    let mut objects = Vec::new();
    for chunk in split_documents(output) {
        let source = chunk
            .lines()
            .find_map(|l| l.strip_prefix("# Source: "))
            .map(str::to_owned);
        let value: Value = serde_yaml::from_str(chunk)
            .map_err(|e| format!("{}: {e}", source.as_deref().unwrap_or("(unknown template)")))?;
        if value.is_null() {
            continue;
        }
        let text = |key: &str| {
            value
                .pointer(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        objects.push(RenderedObject {
            api_version: text("/apiVersion"),
            kind: text("/kind"),
            name: text("/metadata/name"),
            source,
            manifest: value,
        });
    }
    Ok(objects)
}

fn split_documents(output: &str) -> Vec<&str> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in output.split_inclusive('\n') {
        if line.trim_end() == "---" {
            documents.push(&output[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    documents.push(&output[start..]);
    documents
        .into_iter()
        .filter(|d| !d.trim().is_empty())
        .collect()
}

impl RenderedObject {
    pub fn replicas(&self) -> Option<i64> {
        self.manifest
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
    }

    /// Every container image in the object's pod templates.
    pub fn images(&self) -> Vec<String> {
        let mut images = Vec::new();
        collect_images(&self.manifest, &mut images);
        images
    }

    /// A Rollout's strategy in one line per step, e.g. `setWeight 20`.
    pub fn strategy_steps(&self) -> Vec<String> {
        if self.kind != "Rollout" {
            return Vec::new();
        }
        if let Some(blue_green) = self.manifest.pointer("/spec/strategy/blueGreen") {
            let service = |key: &str| {
                blue_green
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or("-")
                    .to_owned()
            };
            return vec![format!(
                "blueGreen active={} preview={}",
                service("activeService"),
                service("previewService")
            )];
        }
        let steps = self
            .manifest
            .pointer("/spec/strategy/canary/steps")
            .and_then(Value::as_array);
        steps.into_iter().flatten().map(describe_step).collect()
    }
}

fn collect_images(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if (key == "containers" || key == "initContainers")
                    && let Some(containers) = child.as_array()
                {
                    out.extend(
                        containers
                            .iter()
                            .filter_map(|c| c.get("image").and_then(Value::as_str))
                            .map(str::to_owned),
                    );
                } else {
                    collect_images(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_images(i, out)),
        _ => {}
    }
}

fn describe_step(step: &Value) -> String {
    if let Some(weight) = step.get("setWeight") {
        return format!("setWeight {weight}");
    }
    if let Some(pause) = step.get("pause") {
        return match pause.get("duration") {
            Some(Value::String(d)) => format!("pause {d}"),
            Some(Value::Number(n)) => format!("pause {n}s"),
            _ => "pause (until promoted)".to_owned(),
        };
    }
    if let Some(analysis) = step.get("analysis") {
        let names: Vec<&str> = analysis
            .get("templates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("templateName").and_then(Value::as_str))
            .collect();
        return format!("analysis {}", names.join(", "));
    }
    if let Some(scale) = step.get("setCanaryScale").and_then(Value::as_object) {
        let parts: Vec<String> = scale.iter().map(|(k, v)| format!("{k}={v}")).collect();
        return format!("setCanaryScale {}", parts.join(" "));
    }
    step.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_helm_output_with_sources() {
        let out = "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n---\n# Source: c/templates/empty.yaml\n---\n# Source: c/templates/r.yaml\napiVersion: conductor.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n        - image: img:1\n  strategy:\n    canary:\n      steps:\n        - setWeight: 20\n        - pause: {duration: 1m}\n        - pause: {}\n        - analysis: {templates: [{templateName: error-rate}]}\n";
        let objects = parse(out).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0].source.as_deref(), Some("c/templates/a.yaml"));
        let rollout = &objects[1];
        assert_eq!(rollout.replicas(), Some(3));
        assert_eq!(rollout.images(), vec!["img:1"]);
        assert_eq!(
            rollout.strategy_steps(),
            vec![
                "setWeight 20",
                "pause 1m",
                "pause (until promoted)",
                "analysis error-rate"
            ]
        );
    }
}
