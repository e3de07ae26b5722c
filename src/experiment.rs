//! An Experiment's state machine: what happens next to an experiment.
//!
//! ```text
//!   Pending ──every ReplicaSet available and──▶ Running ──duration over and the
//!      │       analysis template there            │      required analyses done──▶ Successful
//!      └──progress deadline──▶ Failed             └──an analysis fails──▶ Failed / Error
//!                                                 └──an analysis inconclusive──▶ Inconclusive
//! ```
//!
//! Pure like the rollout engine: the controller observes the experiment's
//! ReplicaSets and analysis runs, calls [`decide`], makes the desired world
//! real and writes the status back. Once over, an experiment's ReplicaSets
//! go to zero and its runs still measuring are told to stop.

use jiff::Timestamp;

use crate::crd::analysis::AnalysisPhase;
use crate::crd::experiment::{ExperimentAnalysis, TemplateStatus};
use crate::crd::experiment::{ExperimentAnalysisRunStatus, ExperimentSpec, ExperimentStatus};
use crate::engine::duration::parse_millis;
use crate::engine::{Event, EventType, MissingReference, blocker};

const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;

/// One template's ReplicaSet, as the platform sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplateState {
    pub name: String,
    pub pod_template_hash: String,
    pub replicas: i32,
    pub available: i32,
}

/// One analysis' run, as the platform sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunState {
    /// The analysis' name in `spec.analyses`.
    pub analysis: String,
    pub phase: AnalysisPhase,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExperimentObserved {
    pub name: String,
    pub created_at: Option<Timestamp>,
    /// Only templates whose ReplicaSet exists.
    pub templates: Vec<TemplateState>,
    pub runs: Vec<RunState>,
    /// The first analysis template `spec.analyses` names that is not
    /// there (yet): waited for like the pods, until the progress deadline.
    pub missing_template: Option<MissingReference>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentDecision {
    pub status: ExperimentStatus,
    /// Replicas for each template's ReplicaSet, in spec order.
    pub replicas: Vec<(String, i32)>,
    /// Analyses whose run is to be made now.
    pub start_runs: Vec<ExperimentAnalysis>,
    /// Analyses whose run, still measuring, is to stop.
    pub stop_runs: Vec<String>,
    pub events: Vec<Event>,
    /// Decide again after this many milliseconds even if nothing changes.
    pub requeue_after_ms: Option<i64>,
}

/// The AnalysisRun an analysis of `experiment` runs as.
pub fn run_name(experiment: &str, analysis: &str) -> String {
    format!("{experiment}-{analysis}")
}

/// The ReplicaSet a template of `experiment` runs as.
pub fn replica_set_name(experiment: &str, template: &str) -> String {
    format!("{experiment}-{template}")
}

/// `{{templates.<name>.podTemplateHash}}` in an analysis argument, with
/// the hash of that template's pods.
pub fn substitute_hashes(value: &str, templates: &[TemplateState]) -> String {
    templates.iter().fold(value.to_owned(), |text, t| {
        text.replace(
            &format!("{{{{templates.{}.podTemplateHash}}}}", t.name),
            &t.pod_template_hash,
        )
    })
}

pub fn decide(
    spec: &ExperimentSpec,
    status: &ExperimentStatus,
    observed: &ExperimentObserved,
    now: Timestamp,
) -> ExperimentDecision {
    let mut decision = ExperimentDecision {
        status: status.clone(),
        replicas: Vec::new(),
        start_runs: Vec::new(),
        stop_runs: Vec::new(),
        events: Vec::new(),
        requeue_after_ms: None,
    };
    decision.status.template_statuses = template_statuses(spec, observed);
    decision.status.analysis_runs = run_statuses(spec, observed);
    let phase = status.phase.unwrap_or_default();
    if !phase.is_final() {
        if let Err(problem) = check(spec) {
            end(&mut decision, AnalysisPhase::Error, problem);
        } else if spec.terminate == Some(true) {
            end(
                &mut decision,
                AnalysisPhase::Successful,
                "terminated".into(),
            );
        } else {
            progress(&mut decision, spec, observed, now);
        }
    }
    let running = !decision.status.phase.unwrap_or_default().is_final();
    for template in &spec.templates {
        let replicas = if running {
            template.replicas.unwrap_or(1).max(0)
        } else {
            0
        };
        decision.replicas.push((template.name.clone(), replicas));
    }
    if !running {
        decision.start_runs.clear();
        decision.stop_runs = observed
            .runs
            .iter()
            .filter(|r| !r.phase.is_final())
            .map(|r| r.analysis.clone())
            .collect();
    }
    decision
}

/// What is wrong with the spec, the first field named.
pub fn check(spec: &ExperimentSpec) -> Result<(), String> {
    if let Some(problem) = spec.unsupported.first() {
        return Err(problem.to_string());
    }
    if spec.templates.is_empty() {
        return Err("spec.templates: name at least one template".into());
    }
    if let Some(duration) = &spec.duration {
        parse_millis(duration).map_err(|e| format!("spec.duration: {e}"))?;
    }
    Ok(())
}

fn template_statuses(spec: &ExperimentSpec, observed: &ExperimentObserved) -> Vec<TemplateStatus> {
    spec.templates
        .iter()
        .map(|template| {
            let seen = observed.templates.iter().find(|t| t.name == template.name);
            TemplateStatus {
                name: template.name.clone(),
                pod_template_hash: seen.map(|t| t.pod_template_hash.clone()),
                replicas: seen.map_or(0, |t| t.replicas),
                available_replicas: seen.map_or(0, |t| t.available),
            }
        })
        .collect()
}

fn run_statuses(
    spec: &ExperimentSpec,
    observed: &ExperimentObserved,
) -> Vec<ExperimentAnalysisRunStatus> {
    spec.analyses
        .iter()
        .filter_map(|analysis| {
            let run = observed.runs.iter().find(|r| r.analysis == analysis.name)?;
            Some(ExperimentAnalysisRunStatus {
                name: analysis.name.clone(),
                analysis_run: run_name(&observed.name, &analysis.name),
                phase: Some(run.phase),
                message: run.message.clone(),
            })
        })
        .collect()
}

fn progress(
    decision: &mut ExperimentDecision,
    spec: &ExperimentSpec,
    observed: &ExperimentObserved,
    now: Timestamp,
) {
    let available_at = match &decision.status.available_at {
        Some(at) => at.parse::<Timestamp>().ok(),
        None => None,
    };
    let Some(available_at) = available_at else {
        wait_until_ready(decision, spec, observed, now);
        return;
    };
    decision.status.phase = Some(AnalysisPhase::Running);
    for analysis in &spec.analyses {
        let Some(run) = observed.runs.iter().find(|r| r.analysis == analysis.name) else {
            decision.start_runs.push(analysis.clone());
            continue;
        };
        // Over, and not a pass: the experiment ends as the run did.
        if run.phase.is_final() && run.phase != AnalysisPhase::Successful {
            let detail = run
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            let message = format!(
                "analysis {} {}{detail}",
                analysis.name,
                run.phase.as_str().to_lowercase()
            );
            end(decision, run.phase, message);
            return;
        }
    }
    let required_done = spec.analyses.iter().filter(|a| a.required()).all(|a| {
        observed
            .runs
            .iter()
            .any(|r| r.analysis == a.name && r.phase == AnalysisPhase::Successful)
    });
    let any_required = spec.analyses.iter().any(|a| a.required());
    let remaining = spec
        .duration
        .as_deref()
        .and_then(|d| parse_millis(d).ok())
        .map(|d| d - (now.as_millisecond() - available_at.as_millisecond()));
    match remaining {
        Some(left) if left > 0 => {
            decision.requeue_after_ms = Some(left);
            decision.status.message = Some(format!("running, {}s left", (left + 999) / 1000));
        }
        Some(_) if required_done => end(
            decision,
            AnalysisPhase::Successful,
            "duration passed".into(),
        ),
        None if any_required && required_done => end(
            decision,
            AnalysisPhase::Successful,
            "the analyses required for completion passed".into(),
        ),
        None if !any_required => {
            decision.status.message = Some("running until terminated".into());
        }
        _ => {
            decision.status.message =
                Some("waiting for the analyses required for completion".into());
        }
    }
}

/// Pending until every ReplicaSet is available and every analysis
/// template is there; Failed if that takes past the progress deadline.
fn wait_until_ready(
    decision: &mut ExperimentDecision,
    spec: &ExperimentSpec,
    observed: &ExperimentObserved,
    now: Timestamp,
) {
    let short = decision
        .status
        .template_statuses
        .iter()
        .zip(&spec.templates)
        .find(|(status, template)| status.available_replicas < template.replicas.unwrap_or(1));
    let waiting = match (short, &observed.missing_template) {
        (Some((status, template)), _) => format!(
            "template {}: {}/{} pods available",
            status.name,
            status.available_replicas,
            template.replicas.unwrap_or(1)
        ),
        (None, Some(missing)) => missing.to_string(),
        (None, None) => {
            decision.status.available_at = Some(now.to_string());
            decision.status.phase = Some(AnalysisPhase::Running);
            decision.status.message = None;
            decision.events.push(Event {
                type_: EventType::Normal,
                reason: "ExperimentRunning",
                message: format!(
                    "experiment {}: every ReplicaSet is available",
                    observed.name
                ),
            });
            // Running from now: the analyses start and the clock runs.
            progress(decision, spec, observed, now);
            return;
        }
    };
    decision.status.phase = Some(AnalysisPhase::Pending);
    let deadline_ms = i64::from(
        spec.progress_deadline_seconds
            .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS)
            .max(0),
    ) * 1000;
    let waited = observed
        .created_at
        .map_or(0, |at| now.as_millisecond() - at.as_millisecond());
    if waited >= deadline_ms {
        end(
            decision,
            AnalysisPhase::Failed,
            format!("{waiting} after {}s", deadline_ms / 1000),
        );
        return;
    }
    let mut requeue_ms = deadline_ms - waited;
    if short.is_none() {
        // Nothing watches templates for experiments: look again after as
        // long as the wait has lasted, as a blocked rollout does.
        requeue_ms = requeue_ms.min(blocker::retry_after(waited));
        if decision.status.message.as_deref() != Some(waiting.as_str()) {
            decision.events.push(Event {
                type_: EventType::Normal,
                reason: blocker::WAITING_FOR_REFERENCE,
                message: format!("experiment {}: {waiting}", observed.name),
            });
        }
    }
    decision.requeue_after_ms = Some(requeue_ms);
    decision.status.message = Some(waiting);
}

fn end(decision: &mut ExperimentDecision, phase: AnalysisPhase, message: String) {
    decision.status.phase = Some(phase);
    decision.status.message = Some(message.clone());
    decision.start_runs.clear();
    decision.requeue_after_ms = None;
    decision.events.push(Event {
        type_: if phase == AnalysisPhase::Successful {
            EventType::Normal
        } else {
            EventType::Warning
        },
        reason: match phase {
            AnalysisPhase::Successful => "ExperimentSuccessful",
            AnalysisPhase::Failed => "ExperimentFailed",
            AnalysisPhase::Inconclusive => "ExperimentInconclusive",
            _ => "ExperimentError",
        },
        message,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::experiment::ExperimentTemplate;

    fn spec(duration: Option<&str>, required: bool) -> ExperimentSpec {
        let template = |name: &str| ExperimentTemplate {
            name: name.into(),
            replicas: Some(2),
            ..Default::default()
        };
        ExperimentSpec {
            templates: vec![template("baseline"), template("canary")],
            duration: duration.map(Into::into),
            analyses: vec![ExperimentAnalysis {
                name: "compare".into(),
                template_name: "mann-whitney".into(),
                required_for_completion: required.then_some(true),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn observed(available: i32, run: Option<AnalysisPhase>) -> ExperimentObserved {
        let template = |name: &str, hash: &str| TemplateState {
            name: name.into(),
            pod_template_hash: hash.into(),
            replicas: 2,
            available,
        };
        ExperimentObserved {
            name: "web-1a2b-0-1".into(),
            created_at: Some(at(0)),
            templates: vec![template("baseline", "aaaa"), template("canary", "bbbb")],
            runs: run
                .map(|phase| RunState {
                    analysis: "compare".into(),
                    phase,
                    message: Some("p = 0.2".into()),
                })
                .into_iter()
                .collect(),
            missing_template: None,
        }
    }

    /// Decides until nothing changes, as a controller reconciling its own
    /// status writes would.
    fn settle(
        spec: &ExperimentSpec,
        observed: &ExperimentObserved,
        now: Timestamp,
    ) -> ExperimentDecision {
        let mut status = ExperimentStatus::default();
        loop {
            let decision = decide(spec, &status, observed, now);
            if decision.status == status {
                return decision;
            }
            status = decision.status;
        }
    }

    #[test]
    fn a_missing_analysis_template_is_waited_for_until_the_deadline() {
        let spec = spec(Some("5m"), true);
        let mut waiting = observed(2, None);
        waiting.missing_template = Some(MissingReference {
            field: "spec.analyses[0].templateName".into(),
            kind: "AnalysisTemplate".into(),
            namespace: Some("shop".into()),
            name: "mann-whitney".into(),
        });
        let expected = "waiting for AnalysisTemplate mann-whitney in namespace shop \
                        (named by spec.analyses[0].templateName): not found";
        let first = decide(&spec, &ExperimentStatus::default(), &waiting, at(30));
        assert_eq!(first.status.phase, Some(AnalysisPhase::Pending));
        assert_eq!(first.status.message.as_deref(), Some(expected));
        assert_eq!(first.status.available_at, None, "the clock has not started");
        assert!(first.start_runs.is_empty());
        // Looked at again after as long as it has waited, from 5 s.
        assert_eq!(first.requeue_after_ms, Some(30_000));
        let reasons: Vec<&str> = first.events.iter().map(|e| e.reason).collect();
        assert_eq!(reasons, ["WaitingForReference"]);
        let again = decide(&spec, &first.status, &waiting, at(60));
        assert!(again.events.is_empty(), "one Event per wait");
        assert_eq!(
            decide(&spec, &first.status, &waiting, at(2)).requeue_after_ms,
            Some(5_000)
        );

        // The template comes: running from then, the analysis starts.
        let there = decide(&spec, &first.status, &observed(2, None), at(90));
        assert_eq!(there.status.phase, Some(AnalysisPhase::Running));
        assert_eq!(there.status.available_at, Some(at(90).to_string()));
        assert_eq!(there.start_runs.len(), 1);

        // Never there: failed at the progress deadline, naming it.
        let late = decide(&spec, &first.status, &waiting, at(600));
        assert_eq!(late.status.phase, Some(AnalysisPhase::Failed));
        assert_eq!(
            late.status.message.as_deref(),
            Some(format!("{expected} after 600s").as_str())
        );
        assert_eq!(
            late.replicas,
            [("baseline".to_owned(), 0), ("canary".to_owned(), 0)]
        );
    }

    #[test]
    fn pending_until_every_replica_set_is_available_then_failed_at_the_deadline() {
        let spec = spec(Some("5m"), false);
        let decision = decide(
            &spec,
            &ExperimentStatus::default(),
            &observed(1, None),
            at(30),
        );
        assert_eq!(decision.status.phase, Some(AnalysisPhase::Pending));
        assert_eq!(
            decision.status.message.as_deref(),
            Some("template baseline: 1/2 pods available")
        );
        assert_eq!(decision.requeue_after_ms, Some(570_000));
        assert_eq!(
            decision.replicas,
            [("baseline".to_owned(), 2), ("canary".to_owned(), 2)]
        );
        assert!(decision.start_runs.is_empty());
        let late = decide(
            &spec,
            &ExperimentStatus::default(),
            &observed(1, None),
            at(600),
        );
        assert_eq!(late.status.phase, Some(AnalysisPhase::Failed));
        assert_eq!(
            late.status.message.as_deref(),
            Some("template baseline: 1/2 pods available after 600s")
        );
        assert_eq!(late.replicas[0].1, 0, "a failed experiment scales down");
    }

    #[test]
    fn running_starts_the_analyses_and_succeeds_when_the_duration_passes() {
        let spec = spec(Some("5m"), false);
        let running = decide(
            &spec,
            &ExperimentStatus::default(),
            &observed(2, None),
            at(60),
        );
        assert_eq!(running.status.phase, Some(AnalysisPhase::Running));
        assert_eq!(running.status.available_at, Some(at(60).to_string()));
        assert_eq!(running.start_runs.len(), 1);
        assert_eq!(running.requeue_after_ms, Some(300_000));
        let mid = decide(
            &spec,
            &running.status,
            &observed(2, Some(AnalysisPhase::Running)),
            at(200),
        );
        assert!(mid.start_runs.is_empty(), "the run exists");
        assert_eq!(mid.status.phase, Some(AnalysisPhase::Running));
        assert_eq!(mid.status.message.as_deref(), Some("running, 160s left"));
        assert_eq!(
            mid.status.analysis_runs[0].analysis_run,
            "web-1a2b-0-1-compare"
        );
        let done = decide(
            &spec,
            &running.status,
            &observed(2, Some(AnalysisPhase::Running)),
            at(360),
        );
        assert_eq!(done.status.phase, Some(AnalysisPhase::Successful));
        assert_eq!(done.stop_runs, ["compare"], "the run still measuring stops");
        assert!(done.replicas.iter().all(|(_, r)| *r == 0));
    }

    #[test]
    fn a_failed_analysis_fails_the_experiment_with_its_message() {
        let spec = spec(Some("1h"), false);
        let running = decide(
            &spec,
            &ExperimentStatus::default(),
            &observed(2, None),
            at(60),
        );
        let failed = decide(
            &spec,
            &running.status,
            &observed(2, Some(AnalysisPhase::Failed)),
            at(90),
        );
        assert_eq!(failed.status.phase, Some(AnalysisPhase::Failed));
        assert_eq!(
            failed.status.message.as_deref(),
            Some("analysis compare failed: p = 0.2")
        );
        assert_eq!(
            failed.events.last().map(|e| e.reason),
            Some("ExperimentFailed")
        );
        let again = decide(
            &spec,
            &failed.status,
            &observed(2, Some(AnalysisPhase::Failed)),
            at(95),
        );
        assert_eq!(again.status, failed.status, "over is over");
        assert!(again.events.is_empty());
    }

    #[test]
    fn required_analyses_hold_completion_past_the_duration() {
        let spec = spec(Some("1m"), true);
        let running = settle(&spec, &observed(2, None), at(0));
        let waiting = decide(
            &spec,
            &running.status,
            &observed(2, Some(AnalysisPhase::Running)),
            at(120),
        );
        assert_eq!(waiting.status.phase, Some(AnalysisPhase::Running));
        let done = decide(
            &spec,
            &running.status,
            &observed(2, Some(AnalysisPhase::Successful)),
            at(130),
        );
        assert_eq!(done.status.phase, Some(AnalysisPhase::Successful));
        let no_duration = spec_without_duration();
        let running = settle(&no_duration, &observed(2, None), at(0));
        assert_eq!(
            running.status.message.as_deref(),
            Some("running until terminated")
        );
    }

    fn spec_without_duration() -> ExperimentSpec {
        spec(None, false)
    }

    #[test]
    fn terminate_ends_it_and_unsupported_fields_are_an_error_naming_them() {
        let mut terminated = spec(None, false);
        terminated.terminate = Some(true);
        let decision = decide(
            &terminated,
            &ExperimentStatus::default(),
            &observed(2, Some(AnalysisPhase::Running)),
            at(10),
        );
        assert_eq!(decision.status.phase, Some(AnalysisPhase::Successful));
        assert_eq!(decision.stop_runs, ["compare"]);
        let with_service: ExperimentSpec = serde_json::from_value(serde_json::json!({
            "templates": [{"name": "a", "selector": {}, "template": {}, "service": {}}],
        }))
        .unwrap();
        let decision = decide(
            &with_service,
            &ExperimentStatus::default(),
            &ExperimentObserved::default(),
            at(0),
        );
        assert_eq!(decision.status.phase, Some(AnalysisPhase::Error));
        assert_eq!(
            decision.status.message.as_deref(),
            Some("spec.templates[0].service: not supported by Conductor")
        );
    }

    #[test]
    fn template_hashes_fill_analysis_arguments() {
        let observed = observed(2, None);
        assert_eq!(
            substitute_hashes(
                "{{templates.baseline.podTemplateHash}} vs {{templates.canary.podTemplateHash}}",
                &observed.templates
            ),
            "aaaa vs bbbb"
        );
    }
}
