//! An analysis template built from others, as Argo Rollouts allows
//! (`spec.templates` in an AnalysisTemplate): the metrics, arguments,
//! dry-run and retention settings of every template it names, recursively,
//! side by side with its own. One template's metric never silently
//! replaces another's: a name used twice is a problem, as is a cycle.

use std::collections::BTreeSet;

use crate::crd::analysis::{AnalysisArg, AnalysisTemplateRef, AnalysisTemplateSpec};

/// Why a composed template cannot be built; the caller says which field
/// of the rollout named it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error("{kind} {name} not found (named in the templates of {by})")]
    NotFound {
        kind: &'static str,
        name: String,
        by: String,
    },
    #[error("templates name each other in a cycle: {0}")]
    Cycle(String),
    #[error("metric `{metric}` is defined by both {first} and {second}")]
    DuplicateMetric {
        metric: String,
        first: String,
        second: String,
    },
    #[error("argument `{arg}` has different values in {first} and {second}")]
    ConflictingArg {
        arg: String,
        first: String,
        second: String,
    },
    #[error("{name}: {problem}")]
    Unsupported { name: String, problem: String },
}

/// `spec` (the template `name`) with every template it names folded in;
/// `lookup` finds a named template. A template with no `templates` comes
/// back as it is.
pub fn compose(
    name: &str,
    spec: AnalysisTemplateSpec,
    lookup: &dyn Fn(&AnalysisTemplateRef) -> Option<AnalysisTemplateSpec>,
) -> Result<AnalysisTemplateSpec, ComposeError> {
    if spec.templates.is_empty() {
        return Ok(spec);
    }
    let mut out = Composed::default();
    let mut path = vec![name.to_owned()];
    out.add(name, spec, lookup, &mut path)?;
    Ok(out.spec)
}

#[derive(Default)]
struct Composed {
    spec: AnalysisTemplateSpec,
    /// Which template each metric and argument came from, for problems.
    metric_from: Vec<(String, String)>,
    arg_from: Vec<(String, String)>,
    seen: BTreeSet<String>,
}

impl Composed {
    fn add(
        &mut self,
        name: &str,
        spec: AnalysisTemplateSpec,
        lookup: &dyn Fn(&AnalysisTemplateRef) -> Option<AnalysisTemplateSpec>,
        path: &mut Vec<String>,
    ) -> Result<(), ComposeError> {
        if let Some(problem) = spec.unsupported.first() {
            return Err(ComposeError::Unsupported {
                name: name.to_owned(),
                problem: problem.to_string(),
            });
        }
        for reference in &spec.templates {
            let key = format!("{} {}", reference.kind(), reference.template_name);
            if path.contains(&key) {
                let mut cycle = path.clone();
                cycle.push(key);
                return Err(ComposeError::Cycle(cycle.join(" → ")));
            }
            let nested = lookup(reference).ok_or_else(|| ComposeError::NotFound {
                kind: reference.kind(),
                name: reference.template_name.clone(),
                by: name.to_owned(),
            })?;
            // A template named twice (a diamond) is taken once.
            if !self.seen.insert(key.clone()) {
                continue;
            }
            path.push(key.clone());
            self.add(&key, nested, lookup, path)?;
            path.pop();
        }
        for metric in spec.metrics {
            if let Some((_, first)) = self.metric_from.iter().find(|(m, _)| *m == metric.name) {
                return Err(ComposeError::DuplicateMetric {
                    metric: metric.name,
                    first: first.clone(),
                    second: name.to_owned(),
                });
            }
            self.metric_from
                .push((metric.name.clone(), name.to_owned()));
            self.spec.metrics.push(metric);
        }
        for arg in spec.args {
            self.add_arg(name, arg)?;
        }
        self.spec.dry_run.extend(spec.dry_run);
        self.spec
            .measurement_retention
            .extend(spec.measurement_retention);
        Ok(())
    }

    fn add_arg(&mut self, name: &str, arg: AnalysisArg) -> Result<(), ComposeError> {
        let Some(existing) = self.spec.args.iter_mut().find(|a| a.name == arg.name) else {
            self.arg_from.push((arg.name.clone(), name.to_owned()));
            self.spec.args.push(arg);
            return Ok(());
        };
        match (&existing.value, &arg.value) {
            (Some(a), Some(b)) if a != b => {
                let first = self
                    .arg_from
                    .iter()
                    .find(|(n, _)| *n == arg.name)
                    .map(|(_, from)| from.clone())
                    .unwrap_or_default();
                Err(ComposeError::ConflictingArg {
                    arg: arg.name,
                    first,
                    second: name.to_owned(),
                })
            }
            (None, Some(_)) => {
                *existing = arg;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    fn spec(value: serde_json::Value) -> AnalysisTemplateSpec {
        serde_json::from_value(value).expect("a template spec")
    }

    fn library() -> HashMap<String, AnalysisTemplateSpec> {
        HashMap::from([
            (
                "errors".to_owned(),
                spec(json!({
                    "args": [{"name": "service"}],
                    "metrics": [{"name": "error-rate", "provider": {"web": {"url": "http://127.0.0.1/e"}}}]
                })),
            ),
            (
                "latency".to_owned(),
                spec(json!({
                    "args": [{"name": "service", "value": "checkout"}],
                    "metrics": [{"name": "p99", "provider": {"web": {"url": "http://127.0.0.1/l"}}}]
                })),
            ),
        ])
    }

    fn lookup(
        library: &HashMap<String, AnalysisTemplateSpec>,
    ) -> impl Fn(&AnalysisTemplateRef) -> Option<AnalysisTemplateSpec> + '_ {
        |r| library.get(&r.template_name).cloned()
    }

    #[test]
    fn a_template_of_templates_measures_all_their_metrics() {
        let library = library();
        let root =
            spec(json!({"templates": [{"templateName": "errors"}, {"templateName": "latency"}]}));
        let composed = compose("health", root, &lookup(&library)).expect("composed");
        let metrics: Vec<&str> = composed.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(metrics, ["error-rate", "p99"]);
        // The argument with a value wins over the one without.
        assert_eq!(composed.args.len(), 1);
        assert_eq!(composed.args[0].value.as_deref(), Some("checkout"));
    }

    #[test]
    fn cycles_missing_templates_and_duplicate_metrics_are_named() {
        let mut library = library();
        library.insert(
            "loop".into(),
            spec(json!({"templates": [{"templateName": "loop"}]})),
        );
        let looped = spec(json!({"templates": [{"templateName": "loop"}]}));
        let error = compose("AnalysisTemplate loop", looped, &lookup(&library)).unwrap_err();
        assert!(matches!(error, ComposeError::Cycle(_)), "{error}");

        let missing = spec(json!({"templates": [{"templateName": "nope"}]}));
        let error = compose("health", missing, &lookup(&library)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "AnalysisTemplate nope not found (named in the templates of health)"
        );

        let twice = spec(json!({
            "templates": [{"templateName": "errors"}],
            "metrics": [{"name": "error-rate", "provider": {"web": {"url": "http://127.0.0.1/x"}}}]
        }));
        let error = compose("health", twice, &lookup(&library)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "metric `error-rate` is defined by both AnalysisTemplate errors and health"
        );
    }
}
