//! A canary step's experiment, checked: the problems name the field, as
//! every other step's do.

use super::duration::parse_millis;
use crate::crd::problem::SpecProblem;
use crate::crd::rollout::{RolloutAnalysis, RolloutExperiment};

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
