//! A release as the local platform runs it: the chart's Rollout and the
//! AnalysisTemplate its steps name, read from the rendered objects, and
//! how its processes run (the pod template's environment).

use crate::crd::analysis::AnalysisTemplateSpec;
use crate::crd::rollout::{Rollout, RolloutSpec};
use crate::render::RenderedObject;

use super::replicas::RevisionSettings;

#[derive(Debug, Clone)]
pub struct LocalRevision {
    pub label: String,
    /// The pod template's hash: the revision's identity, as on Kubernetes.
    pub hash: String,
    pub rollout: String,
    pub spec: RolloutSpec,
    pub template_name: String,
    pub template: AnalysisTemplateSpec,
    pub settings: RevisionSettings,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RevisionError {
    #[error("the release has no Rollout")]
    NoRollout,
    #[error("Rollout {name}: {message}")]
    BadRollout { name: String, message: String },
    #[error("the release has no AnalysisTemplate")]
    NoTemplate,
    #[error("AnalysisTemplate {name}: {message}")]
    BadTemplate { name: String, message: String },
}

impl LocalRevision {
    /// Reads the revision `label` from a release's rendered objects.
    pub fn from_objects(objects: &[RenderedObject], label: &str) -> Result<Self, RevisionError> {
        let find = |kind: &str| objects.iter().find(|o| o.kind == kind);
        let rollout_object = find("Rollout").ok_or(RevisionError::NoRollout)?;
        let rollout: Rollout =
            serde_json::from_value(rollout_object.manifest.clone()).map_err(|e| {
                RevisionError::BadRollout {
                    name: rollout_object.name.clone(),
                    message: e.to_string(),
                }
            })?;
        // As the operator reports them, but before anything runs: a field
        // Conductor did not read would make the release quietly different.
        if let Some(problem) = rollout.spec.unsupported.first() {
            return Err(RevisionError::BadRollout {
                name: rollout_object.name.clone(),
                message: problem.to_string(),
            });
        }
        if let Some(problem) = local_routes(&rollout.spec) {
            return Err(RevisionError::BadRollout {
                name: rollout_object.name.clone(),
                message: problem,
            });
        }
        let template = find("AnalysisTemplate").ok_or(RevisionError::NoTemplate)?;
        let template_spec: AnalysisTemplateSpec =
            serde_json::from_value(template.manifest.get("spec").cloned().unwrap_or_default())
                .map_err(|e| RevisionError::BadTemplate {
                    name: template.name.clone(),
                    message: e.to_string(),
                })?;
        if let Some(problem) = template_spec.unsupported.first() {
            return Err(RevisionError::BadTemplate {
                name: template.name.clone(),
                message: problem.to_string(),
            });
        }
        // The container's literal environment, as a pod would get it; a
        // value from a Secret or field has no meaning on this machine.
        let env = rollout
            .spec
            .template
            .as_ref()
            .and_then(|t| t.spec.as_ref())
            .and_then(|s| s.containers.first())
            .and_then(|c| c.env.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
            .collect();
        let settings = RevisionSettings {
            label: label.to_owned(),
            env,
        };
        Ok(Self {
            label: label.to_owned(),
            hash: crate::platform::template_hash(rollout.spec.template.as_ref()),
            rollout: rollout_object.name.clone(),
            spec: rollout.spec,
            template_name: template.name.clone(),
            template: template_spec,
            settings,
        })
    }
}

/// The local proxy splits by weight and nothing else: a header or mirror
/// route would be dropped without a word, so it stops the release.
fn local_routes(spec: &RolloutSpec) -> Option<String> {
    let canary = spec.strategy.canary.as_ref()?;
    canary.steps.iter().enumerate().find_map(|(i, step)| {
        let field = if step.set_header_route.is_some() {
            "setHeaderRoute"
        } else if step.set_mirror_route.is_some() {
            "setMirrorRoute"
        } else {
            return None;
        };
        Some(format!(
            "spec.strategy.canary.steps[{i}].{field}: the local platform's proxy splits by weight only; \
             managed routes need a cluster (istio or Gateway API)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(kind: &str, manifest: serde_json::Value) -> RenderedObject {
        RenderedObject {
            source: None,
            api_version: "conductor.dev/v1alpha1".into(),
            kind: kind.into(),
            name: "web".into(),
            manifest,
        }
    }

    fn revision(canary: serde_json::Value, provider: serde_json::Value) -> Result<(), String> {
        let rollout = object(
            "Rollout",
            serde_json::json!({
                "apiVersion": "conductor.dev/v1alpha1", "kind": "Rollout", "metadata": {"name": "web"},
                "spec": {"template": {}, "strategy": {"canary": canary}},
            }),
        );
        let template = object(
            "AnalysisTemplate",
            serde_json::json!({"spec": {"metrics": [{"name": "m", "provider": provider}]}}),
        );
        LocalRevision::from_objects(&[rollout, template], "v1")
            .map(drop)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn fields_conductor_does_not_read_stop_the_release_by_name() {
        let web = serde_json::json!({"web": {"url": "http://127.0.0.1/"}});
        assert_eq!(revision(serde_json::json!({}), web.clone()), Ok(()));
        assert_eq!(
            revision(
                serde_json::json!({"trafficRouting": {"ambassador": {}}}),
                web.clone()
            ),
            Err(
                "Rollout web: spec.strategy.canary.trafficRouting.ambassador: not supported by Conductor"
                    .into()
            )
        );
        assert_eq!(
            revision(
                serde_json::json!({"steps": [{"setHeaderRoute": {"name": "beta"}}]}),
                web.clone()
            ),
            Err("Rollout web: spec.strategy.canary.steps[0].setHeaderRoute: the local platform's proxy \
                 splits by weight only; managed routes need a cluster (istio or Gateway API)"
                .into())
        );
        assert_eq!(
            revision(
                serde_json::json!({}),
                serde_json::json!({"newRelic": {"query": "q"}})
            ),
            Err("AnalysisTemplate web: spec.metrics[0].provider.newRelic: not supported by Conductor".into())
        );
    }
}
