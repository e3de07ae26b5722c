//! Apply: the AnalysisRuns a decision asks for, created from their
//! templates, and runs the rollout no longer needs told to stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kube::api::ObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};

use super::{HASH_LABEL, KubeError, ROLLOUT_LABEL, writes};
use crate::analysis::compose::compose;
use crate::crd::analysis::{
    AnalysisArg, AnalysisRun, AnalysisRunSpec, AnalysisTemplate, AnalysisTemplateSpec,
    ClusterAnalysisTemplate,
};
use crate::crd::experiment::ExperimentAnalysis;
use crate::crd::problem::SpecProblem;
use crate::crd::rollout::{AnalysisTemplateRef, Rollout, RolloutSpec};
use crate::engine::{
    AnalysisPhase, Desired, DesiredAnalysisRun, MissingReference, Observed, RunKind,
};

/// The analysis templates the controller's caches hold.
#[derive(Clone)]
pub struct Templates {
    namespaced: Store<AnalysisTemplate>,
    cluster: Store<ClusterAnalysisTemplate>,
    /// Set once both caches have been listed, which is for good: every
    /// reconcile asks.
    listed: Arc<AtomicBool>,
}

impl Templates {
    pub fn new(
        namespaced: Store<AnalysisTemplate>,
        cluster: Store<ClusterAnalysisTemplate>,
    ) -> Self {
        Self {
            namespaced,
            cluster,
            listed: Arc::default(),
        }
    }

    /// `read` of the template `reference` names, if the caches hold it.
    fn with<T>(
        &self,
        namespace: &str,
        reference: &AnalysisTemplateRef,
        read: impl FnOnce(&AnalysisTemplateSpec) -> T,
    ) -> Option<T> {
        if reference.cluster_scope.unwrap_or(false) {
            self.cluster
                .get(&ObjectRef::new(&reference.template_name))
                .map(|t| read(&t.spec.0))
        } else {
            self.namespaced
                .get(&ObjectRef::new(&reference.template_name).within(namespace))
                .map(|t| read(&t.spec))
        }
    }

    fn get(
        &self,
        namespace: &str,
        reference: &AnalysisTemplateRef,
    ) -> Option<AnalysisTemplateSpec> {
        self.with(namespace, reference, AnalysisTemplateSpec::clone)
    }

    /// Whether both caches have been listed once: before, a template not
    /// in them may well exist, and must not be reported missing.
    pub fn listed(&self) -> bool {
        use futures_util::FutureExt;
        if self.listed.load(Ordering::Relaxed) {
            return true;
        }
        let listed = self.namespaced.wait_until_ready().now_or_never().is_some()
            && self.cluster.wait_until_ready().now_or_never().is_some();
        self.listed.store(listed, Ordering::Relaxed);
        listed
    }

    /// The first analysis template of `analyses` not there (yet), named
    /// by its `spec.analyses[i].templateName`.
    pub fn first_missing(
        &self,
        namespace: &str,
        analyses: &[ExperimentAnalysis],
    ) -> Option<MissingReference> {
        analyses.iter().enumerate().find_map(|(i, analysis)| {
            let reference = analysis.template();
            let cluster = reference.cluster_scope.unwrap_or(false);
            self.with(namespace, &reference, |_| ())
                .is_none()
                .then(|| MissingReference {
                    field: format!("spec.analyses[{i}].templateName"),
                    kind: reference.kind().to_owned(),
                    namespace: (!cluster).then(|| namespace.to_owned()),
                    name: reference.template_name.clone(),
                })
        })
    }

    /// The first template `spec` names with fields Conductor does not
    /// read, as a problem with the rollout (see `RolloutSpec::template_problem`).
    pub fn unsupported(&self, namespace: &str, spec: &RolloutSpec) -> Option<SpecProblem> {
        spec.template_problem(|reference| {
            self.with(namespace, reference, |t| t.unsupported.clone())
        })
    }

    /// Every template a rollout in `namespace` can name, for the engine's
    /// "template not found" check.
    pub fn known(&self, namespace: &str) -> Vec<AnalysisTemplateRef> {
        let namespaced = self
            .namespaced
            .state()
            .into_iter()
            .filter(|t| t.namespace().as_deref() == Some(namespace))
            .map(|t| AnalysisTemplateRef {
                template_name: t.name_any(),
                cluster_scope: None,
            });
        let cluster = self
            .cluster
            .state()
            .into_iter()
            .map(|t| AnalysisTemplateRef {
                template_name: t.name_any(),
                cluster_scope: Some(true),
            });
        namespaced.chain(cluster).collect()
    }
}

/// The rollout field that asked for a run of this kind.
fn run_field(kind: RunKind) -> String {
    match kind {
        RunKind::Step(i) => format!("spec.strategy.canary.steps[{i}].analysis"),
        RunKind::Background => "spec.strategy.canary.analysis".to_owned(),
        RunKind::PrePromotion => "spec.strategy.blueGreen.prePromotionAnalysis".to_owned(),
        RunKind::PostPromotion => "spec.strategy.blueGreen.postPromotionAnalysis".to_owned(),
    }
}

/// One run's spec: the templates' metrics side by side, the rollout's
/// arguments over the templates' defaults.
fn run_spec(
    templates: &Templates,
    namespace: &str,
    run: &DesiredAnalysisRun,
) -> Result<AnalysisRunSpec, SpecProblem> {
    let field = run_field(run.kind);
    let fields: Vec<String> = (0..run.templates.len())
        .map(|i| format!("{field}.templates[{i}].templateName"))
        .collect();
    let mut spec = templates.run_spec(namespace, &run.templates, &fields, &run.args)?;
    spec.dry_run.extend(run.dry_run.iter().cloned());
    spec.measurement_retention
        .extend(run.measurement_retention.iter().cloned());
    Ok(spec)
}

impl Templates {
    /// A run's spec from `references` (each named in problems by the
    /// field at the same index of `fields`) and `args`, which override the
    /// templates' defaults.
    pub fn run_spec(
        &self,
        namespace: &str,
        references: &[AnalysisTemplateRef],
        fields: &[String],
        args: &[AnalysisArg],
    ) -> Result<AnalysisRunSpec, SpecProblem> {
        let mut spec = AnalysisRunSpec::default();
        for (reference, field) in references.iter().zip(fields) {
            let template = self.get(namespace, reference).ok_or_else(|| {
                SpecProblem::new(
                    field.clone(),
                    format!("analysis template {} not found", reference.template_name),
                )
            })?;
            let name = format!("{} {}", reference.kind(), reference.template_name);
            let lookup = |nested: &AnalysisTemplateRef| self.get(namespace, nested);
            let template = compose(&name, template, &lookup)
                .map_err(|error| SpecProblem::new(field.clone(), error.to_string()))?;
            if template.metrics.is_empty() {
                return Err(SpecProblem::new(
                    field.clone(),
                    format!("{name} has no metrics"),
                ));
            }
            // The rollout is checked for this before runs are made; the
            // template may have changed since.
            if let Some(problem) = template.unsupported.in_template(
                field.clone(),
                reference.kind(),
                &reference.template_name,
            ) {
                return Err(problem);
            }
            for arg in template.args {
                if !spec.args.iter().any(|a: &AnalysisArg| a.name == arg.name) {
                    spec.args.push(arg);
                }
            }
            spec.metrics.extend(template.metrics);
            spec.dry_run.extend(template.dry_run);
            spec.measurement_retention
                .extend(template.measurement_retention);
        }
        for arg in args {
            spec.args.retain(|a| a.name != arg.name);
            spec.args.push(arg.clone());
        }
        Ok(spec)
    }
}

/// Creates missing runs and terminates unneeded ones; returns the number
/// of writes; `KubeError::Spec` is a problem with a template for the user.
pub async fn apply(
    client: &Client,
    templates: &Templates,
    rollout: &Rollout,
    observed: &Observed,
    desired: &Desired,
    existing: &[Arc<AnalysisRun>],
) -> Result<usize, KubeError> {
    let namespace = rollout.namespace().unwrap_or_default();
    let mut writes = 0;
    for run in &desired.analysis_runs {
        if observed.analysis_runs.iter().any(|r| r.name == run.name) {
            continue;
        }
        let spec = run_spec(templates, &namespace, run)?;
        let owner = rollout
            .controller_owner_ref(&())
            .ok_or_else(|| KubeError::Invalid("the rollout has no uid yet".into()))?;
        let asked = run.metadata.clone().unwrap_or_default();
        // The rollout's own labels last: they are how it finds its runs.
        let mut labels = asked.labels;
        labels.insert(ROLLOUT_LABEL.to_owned(), rollout.name_any());
        labels.insert(HASH_LABEL.to_owned(), run.hash.clone());
        let object = AnalysisRun {
            metadata: ObjectMeta {
                name: Some(run.name.clone()),
                namespace: Some(namespace.clone()),
                labels: Some(labels),
                annotations: (!asked.annotations.is_empty()).then_some(asked.annotations),
                owner_references: Some(vec![owner]),
                ..Default::default()
            },
            spec,
            status: None,
        };
        writes += usize::from(writes::create_analysis_run(client, &object).await?);
    }
    for run in existing {
        let name = run.name_any();
        let needed = desired.analysis_runs.iter().any(|r| r.name == name);
        let running = observed.analysis_runs.iter().any(|r| {
            r.name == name && matches!(r.phase, AnalysisPhase::Pending | AnalysisPhase::Running)
        });
        if needed || !running || run.spec.terminate == Some(true) {
            continue;
        }
        writes += usize::from(writes::terminate_analysis_run(client, &namespace, &name).await?);
    }
    Ok(writes)
}
