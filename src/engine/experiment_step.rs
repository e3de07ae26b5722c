//! The canary `experiment` step: the rollout asks for an Experiment built
//! from its stable and canary templates, waits for its verdict, and aborts
//! when it fails, as it does for a failed analysis run.

use super::decision::{DecisionState, EventType};
use super::desired::DesiredExperiment;
use super::duration::parse_millis;
use super::lifecycle::{abort_for_run, hold_inconclusive};
use crate::crd::analysis::AnalysisPhase;
use crate::crd::problem::SpecProblem;
use crate::crd::rollout::{CanaryStatus, RolloutAnalysis, RolloutExperiment};

/// Checks a step's experiment; `check_refs` checks that an analysis
/// template exists, as for an analysis step.
pub fn check(
    experiment: &RolloutExperiment,
    field: &str,
    check_refs: &dyn Fn(&RolloutAnalysis, &str) -> Result<(), SpecProblem>,
) -> Result<(), SpecProblem> {
    if let Some(duration) = &experiment.duration {
        parse_millis(duration).map_err(|e| SpecProblem::new(format!("{field}.duration"), e))?;
    }
    if experiment.templates.is_empty() {
        return Err(SpecProblem::new(
            format!("{field}.templates"),
            "name at least one template (specRef: stable or canary)",
        ));
    }
    for (i, template) in experiment.templates.iter().enumerate() {
        let at = format!("{field}.templates[{i}]");
        check_name(&template.name, &format!("{at}.name"))?;
        if experiment.templates[..i]
            .iter()
            .any(|t| t.name == template.name)
        {
            return Err(SpecProblem::new(
                format!("{at}.name"),
                format!("`{}` is used by an earlier template", template.name),
            ));
        }
        if let Some(replicas) = template.replicas.filter(|r| *r < 0) {
            return Err(SpecProblem::new(
                format!("{at}.replicas"),
                format!("{replicas} is negative"),
            ));
        }
    }
    for (i, analysis) in experiment.analyses.iter().enumerate() {
        let at = format!("{field}.analyses[{i}]");
        check_name(&analysis.name, &format!("{at}.name"))?;
        if experiment.analyses[..i]
            .iter()
            .any(|a| a.name == analysis.name)
        {
            return Err(SpecProblem::new(
                format!("{at}.name"),
                format!("`{}` is used by an earlier analysis", analysis.name),
            ));
        }
        let as_step = RolloutAnalysis {
            templates: vec![analysis.template()],
            ..Default::default()
        };
        // The check names `<field>.templates[0].templateName`; here the
        // reference is the analysis itself.
        check_refs(&as_step, &at)
            .map_err(|p| SpecProblem::new(format!("{at}.templateName"), p.message))?;
    }
    Ok(())
}

/// Experiment, template and analysis names become parts of object names.
fn check_name(name: &str, field: &str) -> Result<(), SpecProblem> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(SpecProblem::new(
            field,
            format!("`{name}` is not a lowercase DNS label (a-z, 0-9 and -)"),
        ))
    }
}

/// `Some(true)` once the experiment succeeded, `Some(false)` while it runs
/// or is inconclusive, `None` when it failed and the rollout aborted.
pub fn walk(
    ctx: &mut DecisionState,
    experiment: &RolloutExperiment,
    index: usize,
    steps: usize,
    (canary_hash, stable_hash): (&str, &str),
) -> Option<bool> {
    let name = ctx.experiment_name(index);
    let status = ctx.status.canary.get_or_insert_with(CanaryStatus::default);
    if status.current_experiment.as_deref() != Some(name.as_str()) {
        status.current_experiment = Some(name.clone());
        ctx.event(
            EventType::Normal,
            "ExperimentStarted",
            format!("step {}/{steps}: experiment {name}", index + 1),
        );
    }
    let found = ctx.observed.experiment(&name).cloned();
    match found.as_ref().map(|e| e.phase) {
        Some(AnalysisPhase::Successful) => Some(true),
        Some(phase @ (AnalysisPhase::Failed | AnalysisPhase::Error)) => {
            abort_for_run(
                ctx,
                &format!("experiment {name}"),
                phase,
                found.and_then(|e| e.message),
            );
            None
        }
        phase => {
            keep(ctx, &name, index, experiment, (canary_hash, stable_hash));
            if phase == Some(AnalysisPhase::Inconclusive) {
                hold_inconclusive(ctx, &format!("experiment {name}"));
            } else {
                ctx.waiting = Some(format!(
                    "step {}/{steps}: waiting for experiment {name}",
                    index + 1
                ));
            }
            Some(false)
        }
    }
}

/// The step is over: its experiment is recorded and forgotten.
pub fn passed(ctx: &mut DecisionState, index: usize, steps: usize) {
    let name = ctx
        .status
        .canary
        .as_mut()
        .and_then(|c| c.current_experiment.take())
        .unwrap_or_default();
    ctx.event(
        EventType::Normal,
        "ExperimentSuccessful",
        format!("step {}/{steps}: experiment {name} passed", index + 1),
    );
}

/// Keeps the experiment going (once, however often it is asked for).
pub fn keep(
    ctx: &mut DecisionState,
    name: &str,
    index: usize,
    experiment: &RolloutExperiment,
    (canary_hash, stable_hash): (&str, &str),
) {
    if ctx.desired.experiments.iter().any(|e| e.name == name) {
        return;
    }
    ctx.desired.experiments.push(DesiredExperiment {
        name: name.to_owned(),
        step: index,
        canary_hash: canary_hash.to_owned(),
        stable_hash: stable_hash.to_owned(),
        experiment: experiment.clone(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::experiment::{ExperimentAnalysis, RolloutExperimentTemplate, SpecRef};

    fn experiment() -> RolloutExperiment {
        RolloutExperiment {
            duration: Some("5m".into()),
            templates: vec![
                RolloutExperimentTemplate {
                    name: "baseline".into(),
                    spec_ref: SpecRef::Stable,
                    replicas: None,
                },
                RolloutExperimentTemplate {
                    name: "canary".into(),
                    spec_ref: SpecRef::Canary,
                    replicas: Some(2),
                },
            ],
            analyses: vec![ExperimentAnalysis {
                name: "compare".into(),
                template_name: "mann-whitney".into(),
                ..Default::default()
            }],
        }
    }

    fn checked(experiment: &RolloutExperiment) -> Result<(), String> {
        let known = |analysis: &RolloutAnalysis, field: &str| {
            if analysis.templates[0].template_name == "mann-whitney" {
                Ok(())
            } else {
                Err(SpecProblem::new(
                    format!("{field}.templates[0].templateName"),
                    format!(
                        "AnalysisTemplate `{}` not found",
                        analysis.templates[0].template_name
                    ),
                ))
            }
        };
        check(
            experiment,
            "spec.strategy.canary.steps[1].experiment",
            &known,
        )
        .map_err(|p| p.to_string())
    }

    #[test]
    fn a_well_formed_experiment_passes() {
        assert_eq!(checked(&experiment()), Ok(()));
    }

    #[test]
    fn each_problem_names_its_field() {
        let mut bad = experiment();
        bad.duration = Some("soon".into());
        assert_eq!(
            checked(&bad).unwrap_err(),
            "spec.strategy.canary.steps[1].experiment.duration: `soon` is not a duration such as 30s, 5m or 1h30m"
        );
        let mut bad = experiment();
        bad.templates.clear();
        assert!(checked(&bad).unwrap_err().starts_with(
            "spec.strategy.canary.steps[1].experiment.templates: name at least one template"
        ));
        let mut bad = experiment();
        bad.templates[1].name = "baseline".into();
        assert_eq!(
            checked(&bad).unwrap_err(),
            "spec.strategy.canary.steps[1].experiment.templates[1].name: `baseline` is used by an earlier template"
        );
        let mut bad = experiment();
        bad.templates[0].name = "Baseline".into();
        assert!(
            checked(&bad)
                .unwrap_err()
                .contains("templates[0].name: `Baseline` is not a lowercase DNS label")
        );
        let mut bad = experiment();
        bad.templates[0].replicas = Some(-1);
        assert_eq!(
            checked(&bad).unwrap_err(),
            "spec.strategy.canary.steps[1].experiment.templates[0].replicas: -1 is negative"
        );
        let mut bad = experiment();
        bad.analyses[0].template_name = "missing".into();
        assert_eq!(
            checked(&bad).unwrap_err(),
            "spec.strategy.canary.steps[1].experiment.analyses[0].templateName: AnalysisTemplate `missing` not found"
        );
    }
}
