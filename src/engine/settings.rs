//! A rollout spec checked and resolved into the numbers the state machine
//! works with. Every problem becomes an `InvalidSpec` message naming the
//! field; an analysis template not there yet is waited for instead.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::blocker::MissingReference;
use super::desired::RouteKind;
use super::duration::{int_or_string_millis, scaled_value};
use super::routing::{self, Routing};
use crate::crd::experiment::RolloutExperiment;
use crate::crd::problem::SpecProblem;
use crate::crd::rollout::{AnalysisTemplateRef, RolloutAnalysis, RolloutSpec, ScaleDown};

const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;
/// With a traffic router, old pods stay up this long so in-flight requests
/// and router propagation finish (Argo Rollouts' default too).
const DEFAULT_ROUTED_SCALE_DOWN_DELAY_SECONDS: i32 = 30;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub replicas: i32,
    pub max_surge: i32,
    pub max_unavailable: i32,
    pub progress_deadline_ms: i64,
    pub progress_deadline_abort: bool,
    pub rollback_window: usize,
    pub paused: bool,
    /// `spec.restartAt`: pods created before it are to be restarted.
    pub restart_at: Option<jiff::Timestamp>,
    /// `spec.workloadRef.scaleDown` (`onsuccess` when unset); `None`
    /// without a `workloadRef`.
    pub workload_scale_down: Option<ScaleDown>,
    pub strategy: Strategy,
    /// The first analysis template the spec names that the platform said
    /// does not exist: the rollout waits for it.
    pub missing_template: Option<MissingReference>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    Canary(Canary),
    BlueGreen(BlueGreen),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Canary {
    pub steps: Vec<Step>,
    /// Weights go through a router (Gateway API, NGINX, Istio, SMI, ALB)
    /// rather than replica ratio.
    pub traffic_routed: bool,
    /// What the stable and canary weights add up to (100 unless
    /// `maxTrafficWeight` says otherwise).
    pub max_weight: i32,
    /// `trafficRouting.managedRoutes`, in precedence order.
    pub managed_routes: Vec<String>,
    pub background: Option<(RolloutAnalysis, usize)>,
    pub scale_down_delay_ms: i64,
    pub abort_scale_down_delay_ms: i64,
    /// `scaleDownDelayRevisionLimit`; `None`: every old ReplicaSet waits.
    pub delayed_revisions: Option<usize>,
    /// `minPodsPerReplicaSet`, read only with traffic routing (as Argo
    /// does); 0 otherwise.
    pub min_pods: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    SetWeight(i32),
    Pause(Option<i64>),
    Analysis(RolloutAnalysis),
    SetCanaryScale(CanaryScale),
    /// `setHeaderRoute` or `setMirrorRoute`: sets the named managed route,
    /// or removes it (`None`).
    Route(String, Option<RouteKind>),
    Experiment(RolloutExperiment),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryScale {
    Weight(i32),
    Replicas(i32),
    MatchTrafficWeight,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlueGreen {
    pub preview_replicas: Option<i32>,
    pub auto_promotion: bool,
    pub auto_promotion_ms: Option<i64>,
    pub scale_down_delay_ms: i64,
    pub abort_scale_down_delay_ms: i64,
    /// `scaleDownDelayRevisionLimit`; `None`: every old ReplicaSet waits.
    pub delayed_revisions: Option<usize>,
    pub pre_promotion: Option<RolloutAnalysis>,
    pub post_promotion: Option<RolloutAnalysis>,
}

impl Settings {
    pub fn from_spec(
        spec: &RolloutSpec,
        known_templates: Option<&[AnalysisTemplateRef]>,
    ) -> Result<Self, SpecProblem> {
        // First: a field Conductor did not read would otherwise make the
        // rollout quietly different from what was written (an Ambassador canary
        // run by replica ratio), whatever else is wrong with it.
        if let Some(problem) = spec.unsupported.first() {
            return Err(problem);
        }
        let replicas = spec.replicas.unwrap_or(1);
        if replicas < 0 {
            return Err(SpecProblem::new(
                "spec.replicas",
                format!("{replicas} is negative"),
            ));
        }
        check_workload(spec)?;
        check_anti_affinity(spec)?;
        let deadline = spec
            .progress_deadline_seconds
            .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
        if deadline <= 0 {
            return Err(SpecProblem::new(
                "spec.progressDeadlineSeconds",
                format!("{deadline} must be positive"),
            ));
        }
        let rollback_window = match &spec.rollback_window {
            Some(w) if w.revisions < 0 => {
                return Err(SpecProblem::new(
                    "spec.rollbackWindow.revisions",
                    format!("{} is negative", w.revisions),
                ));
            }
            Some(w) => usize::try_from(w.revisions).unwrap_or(0),
            None => 0,
        };
        // A template not there (yet) is not a fault of the spec: it is
        // waited for, so it is noted and the checks go on.
        let missing_template = std::cell::RefCell::new(None);
        let check_refs = |analysis: &RolloutAnalysis, field: &str| {
            let missing = check_analysis(analysis, field, known_templates)?;
            let mut first = missing_template.borrow_mut();
            if first.is_none() {
                *first = missing;
            }
            Ok(())
        };
        let (strategy, max_surge, max_unavailable) = match (
            &spec.strategy.canary,
            &spec.strategy.blue_green,
        ) {
            (Some(_), Some(_)) => {
                return Err(SpecProblem::new(
                    "spec.strategy",
                    "set either canary or blueGreen, not both",
                ));
            }
            (None, None) => {
                return Err(SpecProblem::new("spec.strategy", "set canary or blueGreen"));
            }
            (Some(canary), None) => {
                let surge = canary
                    .max_surge
                    .clone()
                    .unwrap_or(IntOrString::String("25%".into()));
                let unavailable = canary
                    .max_unavailable
                    .clone()
                    .unwrap_or(IntOrString::String("25%".into()));
                let max_surge = scaled_value(&surge, replicas, true)
                    .map_err(|e| SpecProblem::new("spec.strategy.canary.maxSurge", e))?;
                let max_unavailable = scaled_value(&unavailable, replicas, false)
                    .map_err(|e| SpecProblem::new("spec.strategy.canary.maxUnavailable", e))?;
                if max_surge == 0 && max_unavailable == 0 && replicas > 0 {
                    return Err(SpecProblem::new(
                        "spec.strategy.canary",
                        "maxSurge and maxUnavailable cannot both be 0: the rollout could never replace a pod",
                    ));
                }
                let routing = routing::check(canary)?;
                let traffic_routed = routing.is_some();
                if routing.as_ref().is_some_and(|r| r.needs_services)
                    && (canary.canary_service.as_deref().unwrap_or("").is_empty()
                        || canary.stable_service.as_deref().unwrap_or("").is_empty())
                {
                    return Err(SpecProblem::new(
                        "spec.strategy.canary",
                        "trafficRouting needs canaryService and stableService",
                    ));
                }
                if canary.canary_service.is_some() && canary.canary_service == canary.stable_service
                {
                    return Err(SpecProblem::new(
                        "spec.strategy.canary",
                        "canaryService and stableService must differ",
                    ));
                }
                let mut steps = Vec::with_capacity(canary.steps.len());
                for (i, step) in canary.steps.iter().enumerate() {
                    let field = format!("spec.strategy.canary.steps[{i}]");
                    steps.push(parse_step(step, &field, routing.as_ref(), &check_refs)?);
                }
                let background = match &canary.analysis {
                    Some(bg) => {
                        let analysis = RolloutAnalysis {
                            templates: bg.templates.clone(),
                            template_name: None,
                            args: bg.args.clone(),
                            dry_run: bg.dry_run.clone(),
                            measurement_retention: bg.measurement_retention.clone(),
                            analysis_run_metadata: bg.analysis_run_metadata.clone(),
                        };
                        check_refs(&analysis, "spec.strategy.canary.analysis")?;
                        let start = bg.starting_step.unwrap_or(0);
                        if start < 0 || start as usize > steps.len() {
                            return Err(SpecProblem::new(
                                "spec.strategy.canary.analysis.startingStep",
                                format!("{start} is outside 0..={}", steps.len()),
                            ));
                        }
                        Some((analysis, start as usize))
                    }
                    None => None,
                };
                let routed_default = if traffic_routed {
                    DEFAULT_ROUTED_SCALE_DOWN_DELAY_SECONDS
                } else {
                    0
                };
                let (max_weight, managed_routes) =
                    routing.map_or((100, Vec::new()), |r| (r.max_weight, r.managed_routes));
                let strategy = Strategy::Canary(Canary {
                    steps,
                    traffic_routed,
                    max_weight,
                    managed_routes,
                    background,
                    scale_down_delay_ms: seconds(
                        canary.scale_down_delay_seconds,
                        routed_default,
                        "spec.strategy.canary.scaleDownDelaySeconds",
                    )?,
                    abort_scale_down_delay_ms: seconds(
                        canary.abort_scale_down_delay_seconds,
                        routed_default,
                        "spec.strategy.canary.abortScaleDownDelaySeconds",
                    )?,
                    delayed_revisions: count(
                        canary.scale_down_delay_revision_limit,
                        "spec.strategy.canary.scaleDownDelayRevisionLimit",
                    )?,
                    min_pods: if traffic_routed {
                        count(
                            canary.min_pods_per_replica_set,
                            "spec.strategy.canary.minPodsPerReplicaSet",
                        )?
                        .map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX))
                    } else {
                        0
                    },
                });
                (strategy, max_surge, max_unavailable)
            }
            (None, Some(bg)) => {
                if bg.active_service.is_empty() {
                    return Err(SpecProblem::new(
                        "spec.strategy.blueGreen.activeService",
                        "must name a Service",
                    ));
                }
                if bg.preview_service.as_deref() == Some(bg.active_service.as_str()) {
                    return Err(SpecProblem::new(
                        "spec.strategy.blueGreen",
                        "previewService and activeService must differ",
                    ));
                }
                if let Some(n) = bg.preview_replica_count
                    && n < 0
                {
                    return Err(SpecProblem::new(
                        "spec.strategy.blueGreen.previewReplicaCount",
                        format!("{n} is negative"),
                    ));
                }
                for (analysis, field) in [
                    (
                        &bg.pre_promotion_analysis,
                        "spec.strategy.blueGreen.prePromotionAnalysis",
                    ),
                    (
                        &bg.post_promotion_analysis,
                        "spec.strategy.blueGreen.postPromotionAnalysis",
                    ),
                ] {
                    if let Some(analysis) = analysis {
                        check_refs(analysis, field)?;
                    }
                }
                let auto_promotion_ms = match bg.auto_promotion_seconds {
                    Some(s) if s < 0 => {
                        return Err(SpecProblem::new(
                            "spec.strategy.blueGreen.autoPromotionSeconds",
                            format!("{s} is negative"),
                        ));
                    }
                    Some(s) => Some(i64::from(s) * 1000),
                    None => None,
                };
                let strategy = Strategy::BlueGreen(BlueGreen {
                    preview_replicas: bg.preview_replica_count,
                    auto_promotion: bg.auto_promotion_enabled.unwrap_or(true),
                    auto_promotion_ms,
                    scale_down_delay_ms: seconds(
                        bg.scale_down_delay_seconds,
                        DEFAULT_ROUTED_SCALE_DOWN_DELAY_SECONDS,
                        "spec.strategy.blueGreen.scaleDownDelaySeconds",
                    )?,
                    abort_scale_down_delay_ms: seconds(
                        bg.abort_scale_down_delay_seconds,
                        DEFAULT_ROUTED_SCALE_DOWN_DELAY_SECONDS,
                        "spec.strategy.blueGreen.abortScaleDownDelaySeconds",
                    )?,
                    delayed_revisions: count(
                        bg.scale_down_delay_revision_limit,
                        "spec.strategy.blueGreen.scaleDownDelayRevisionLimit",
                    )?,
                    pre_promotion: bg.pre_promotion_analysis.clone(),
                    post_promotion: bg.post_promotion_analysis.clone(),
                });
                // Blue-green brings the new side up beside the old one.
                (strategy, replicas, 0)
            }
        };
        Ok(Self {
            replicas,
            max_surge,
            max_unavailable,
            progress_deadline_ms: i64::from(deadline) * 1000,
            progress_deadline_abort: spec.progress_deadline_abort.unwrap_or(false),
            rollback_window,
            paused: spec.paused.unwrap_or(false),
            restart_at: match &spec.restart_at {
                Some(text) => Some(text.parse().map_err(|_| {
                    SpecProblem::new(
                        "spec.restartAt",
                        format!("`{text}` is not an RFC 3339 time such as 2026-11-24T10:00:00Z"),
                    )
                })?),
                None => None,
            },
            workload_scale_down: spec
                .workload_ref
                .as_ref()
                .map(|w| w.scale_down.unwrap_or(ScaleDown::OnSuccess)),
            strategy,
            missing_template: missing_template.into_inner(),
        })
    }
}

/// `antiAffinity`: one rule, and a weight the scheduler takes.
fn check_anti_affinity(spec: &RolloutSpec) -> Result<(), SpecProblem> {
    let Some(rule) = spec.strategy.anti_affinity() else {
        return Ok(());
    };
    let field = if spec.strategy.canary.is_some() {
        "spec.strategy.canary.antiAffinity"
    } else {
        "spec.strategy.blueGreen.antiAffinity"
    };
    match (
        &rule.required_during_scheduling_ignored_during_execution,
        &rule.preferred_during_scheduling_ignored_during_execution,
    ) {
        (Some(_), None) => Ok(()),
        (None, Some(preferred)) if (1..=100).contains(&preferred.weight) => Ok(()),
        (None, Some(preferred)) => Err(SpecProblem::new(
            format!("{field}.preferredDuringSchedulingIgnoredDuringExecution.weight"),
            format!("{} is outside 1..=100", preferred.weight),
        )),
        _ => Err(SpecProblem::new(
            field,
            "set either requiredDuringSchedulingIgnoredDuringExecution or preferredDuringSchedulingIgnoredDuringExecution",
        )),
    }
}

/// A count the spec may leave out; never negative.
fn count(value: Option<i32>, field: &str) -> Result<Option<usize>, SpecProblem> {
    match value {
        Some(n) => usize::try_from(n)
            .map(Some)
            .map_err(|_| SpecProblem::new(field, format!("{n} is negative"))),
        None => Ok(None),
    }
}

fn seconds(value: Option<i32>, default: i32, field: &str) -> Result<i64, SpecProblem> {
    match value.unwrap_or(default) {
        s if s < 0 => Err(SpecProblem::new(field, format!("{s} is negative"))),
        s => Ok(i64::from(s) * 1000),
    }
}

fn check_workload(spec: &RolloutSpec) -> Result<(), SpecProblem> {
    match (&spec.template, &spec.workload_ref) {
        (Some(_), Some(_)) => {
            return Err(SpecProblem::new(
                "spec",
                "set template or workloadRef, not both",
            ));
        }
        (None, None) => return Err(SpecProblem::new("spec", "set template or workloadRef")),
        _ => {}
    }
    if let (Some(template), Some(selector)) = (&spec.template, &spec.selector) {
        let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
        for (key, value) in selector.match_labels.iter().flatten() {
            if labels.and_then(|l| l.get(key)) != Some(value) {
                return Err(SpecProblem::new(
                    "spec.selector.matchLabels",
                    format!("`{key}: {value}` does not match spec.template.metadata.labels"),
                ));
            }
        }
    }
    Ok(())
}

/// Checks `analysis`; the first template it names that `known` lacks.
fn check_analysis(
    analysis: &RolloutAnalysis,
    field: &str,
    known: Option<&[AnalysisTemplateRef]>,
) -> Result<Option<MissingReference>, SpecProblem> {
    if analysis.templates.is_empty() {
        return Err(SpecProblem::new(
            format!("{field}.templates"),
            "name at least one analysis template",
        ));
    }
    for (i, template) in analysis.templates.iter().enumerate() {
        if template.template_name.is_empty() {
            return Err(SpecProblem::new(
                format!("{field}.templates[{i}].templateName"),
                "must not be empty",
            ));
        }
        if let Some(known) = known {
            let cluster = template.cluster_scope.unwrap_or(false);
            let found = known.iter().any(|k| {
                k.template_name == template.template_name
                    && k.cluster_scope.unwrap_or(false) == cluster
            });
            if !found {
                let kind = if cluster {
                    "ClusterAnalysisTemplate"
                } else {
                    "AnalysisTemplate"
                };
                return Ok(Some(MissingReference {
                    field: format!("{field}.templates[{i}].templateName"),
                    kind: kind.to_owned(),
                    namespace: None,
                    name: template.template_name.clone(),
                }));
            }
        }
    }
    Ok(None)
}

fn parse_step(
    step: &crate::crd::rollout::CanaryStep,
    field: &str,
    routing: Option<&Routing>,
    check_refs: &dyn Fn(&RolloutAnalysis, &str) -> Result<(), SpecProblem>,
) -> Result<Step, SpecProblem> {
    let set = [
        step.set_weight.is_some(),
        step.pause.is_some(),
        step.analysis.is_some(),
        step.set_canary_scale.is_some(),
        step.set_header_route.is_some(),
        step.set_mirror_route.is_some(),
        step.experiment.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        return Err(SpecProblem::new(
            field,
            "a step sets exactly one of setWeight, pause, analysis, setCanaryScale, setHeaderRoute, setMirrorRoute or experiment",
        ));
    }
    let traffic_routed = routing.is_some();
    if let Some(weight) = step.set_weight {
        let max = routing.map_or(100, |r| r.max_weight);
        return check_range(weight, max, &format!("{field}.setWeight")).map(Step::SetWeight);
    }
    if let Some(pause) = &step.pause {
        return match &pause.duration {
            Some(d) => int_or_string_millis(d)
                .map(|ms| Step::Pause(Some(ms)))
                .map_err(|e| SpecProblem::new(format!("{field}.pause.duration"), e)),
            None => Ok(Step::Pause(None)),
        };
    }
    if let Some(analysis) = &step.analysis {
        check_refs(analysis, &format!("{field}.analysis"))?;
        return Ok(Step::Analysis(analysis.clone()));
    }
    if let Some(experiment) = &step.experiment {
        super::experiment_check::check(experiment, &format!("{field}.experiment"), check_refs)?;
        return Ok(Step::Experiment(experiment.clone()));
    }
    if let Some(header) = &step.set_header_route {
        let (name, route) = routing::header_step(header, field, routing)?;
        return Ok(Step::Route(name, route));
    }
    if let Some(mirror) = &step.set_mirror_route {
        let (name, route) = routing::mirror_step(mirror, field, routing)?;
        return Ok(Step::Route(name, route));
    }
    let scale = step
        .set_canary_scale
        .as_ref()
        .map_or((None, None, None), |s| {
            (s.weight, s.replicas, s.match_traffic_weight)
        });
    if !traffic_routed {
        return Err(SpecProblem::new(
            format!("{field}.setCanaryScale"),
            "needs trafficRouting; with replica-ratio routing the canary's scale is its weight",
        ));
    }
    match scale {
        (Some(w), None, None | Some(false)) => {
            check_percent(w, &format!("{field}.setCanaryScale.weight"))
                .map(|w| Step::SetCanaryScale(CanaryScale::Weight(w)))
        }
        (None, Some(r), None | Some(false)) if r >= 0 => {
            Ok(Step::SetCanaryScale(CanaryScale::Replicas(r)))
        }
        (None, Some(r), None | Some(false)) => Err(SpecProblem::new(
            format!("{field}.setCanaryScale.replicas"),
            format!("{r} is negative"),
        )),
        (None, None, Some(true)) => Ok(Step::SetCanaryScale(CanaryScale::MatchTrafficWeight)),
        _ => Err(SpecProblem::new(
            format!("{field}.setCanaryScale"),
            "set exactly one of weight, replicas or matchTrafficWeight: true",
        )),
    }
}

fn check_percent(value: i32, field: &str) -> Result<i32, SpecProblem> {
    check_range(value, 100, field)
}

fn check_range(value: i32, max: i32, field: &str) -> Result<i32, SpecProblem> {
    if (0..=max).contains(&value) {
        Ok(value)
    } else {
        Err(SpecProblem::new(
            field,
            format!("{value} is outside 0..={max}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::rollout::{CanaryStep, CanaryStrategy, RolloutStrategy};

    #[test]
    fn a_problem_names_its_field_apart_from_what_is_wrong() {
        let spec = RolloutSpec {
            template: Some(Default::default()),
            strategy: RolloutStrategy {
                canary: Some(CanaryStrategy {
                    steps: vec![
                        CanaryStep {
                            set_weight: Some(20),
                            ..Default::default()
                        },
                        CanaryStep {
                            set_weight: Some(120),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }),
                blue_green: None,
            },
            ..Default::default()
        };
        let problem = Settings::from_spec(&spec, None).unwrap_err();
        assert_eq!(problem.path, "spec.strategy.canary.steps[1].setWeight");
        assert_eq!(problem.message, "120 is outside 0..=100");
        assert_eq!(
            problem.to_string(),
            "spec.strategy.canary.steps[1].setWeight: 120 is outside 0..=100"
        );
    }

    fn decoded(canary: serde_json::Value) -> RolloutSpec {
        serde_json::from_value(serde_json::json!({
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}},
            "strategy": {"canary": canary},
        }))
        .unwrap()
    }

    fn problem(canary: serde_json::Value) -> String {
        Settings::from_spec(&decoded(canary), None)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_field_conductor_does_not_read_is_the_problem_before_any_other() {
        assert_eq!(
            problem(serde_json::json!({
                "canaryService": "c", "stableService": "s",
                "trafficRouting": {"ambassador": {"mappings": ["m"]}},
                "steps": [{"setWeight": 120}],
            })),
            "spec.strategy.canary.trafficRouting.ambassador: not supported by Conductor"
        );
        assert_eq!(
            problem(serde_json::json!({"steps": [
                {"setWeight": 20},
                {"experiment": {"templates": [{"name": "a", "specRef": "canary", "weight": 5}]}},
            ]})),
            "spec.strategy.canary.steps[1].experiment.templates[0].weight: not supported by Conductor"
        );
    }

    #[test]
    fn a_router_block_naming_no_router_is_not_replica_ratio() {
        assert_eq!(
            problem(
                serde_json::json!({"canaryService": "c", "stableService": "s", "trafficRouting": {}})
            ),
            "spec.strategy.canary.trafficRouting: set a router (nginx, gatewayAPI, istio, smi, alb or plugins.argoproj-labs/gatewayAPI), or remove trafficRouting for replica-ratio routing"
        );
        assert_eq!(
            problem(serde_json::json!({"steps": [{}]})),
            "spec.strategy.canary.steps[0]: a step sets exactly one of setWeight, pause, analysis, setCanaryScale, setHeaderRoute, setMirrorRoute or experiment"
        );
        assert!(
            Settings::from_spec(
                &decoded(serde_json::json!({"steps": [{"setWeight": 20}]})),
                None
            )
            .is_ok()
        );
    }
}
