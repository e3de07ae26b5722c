//! A tiny simulated platform for the engine: ReplicaSets become available
//! as soon as they are asked for (minus injected unready pods), each with a
//! pod per replica (a restarted pod is replaced at once), analysis
//! runs start Running and finish with the outcome the test chose, and time
//! moves only when the test says so.
#![allow(dead_code)]

use std::collections::HashMap;

use conductor::crd::rollout::*;
use conductor::engine::{
    self, AnalysisPhase, AnalysisRunState, Blocker, Decision, Event, ExperimentState, Observed,
    PodState, ReplicaSetState, Request, RunKind,
};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

pub struct World {
    pub spec: RolloutSpec,
    pub status: RolloutStatus,
    pub now: Timestamp,
    pub template: (String, String),
    pub replica_sets: Vec<ReplicaSetState>,
    pub pods: Vec<PodState>,
    /// Pods created so far, to name and order them.
    pods_created: u64,
    pub runs: Vec<AnalysisRunState>,
    pub experiments: Vec<ExperimentState>,
    /// Outcome analysis runs (and, under `experiment`, experiments) reach
    /// on the decision after they start.
    pub outcomes: HashMap<&'static str, AnalysisPhase>,
    /// Pods per hash that never become available.
    pub unready: HashMap<String, i32>,
    pub requests: Vec<Request>,
    pub events: Vec<Event>,
    pub weight: i32,
    pub last: Option<Decision>,
    /// The `workloadRef` Deployment's replicas, when the spec names one.
    pub deployment: Option<i32>,
    /// ReplicaSets created so far.
    created: u64,
    /// What keeps the platform from acting, as it reports it.
    pub blocker: Option<Blocker>,
}

pub fn pod_template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some([("app".to_owned(), "helpdesk".to_owned())].into()),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "helpdesk".into(),
                image: Some(image.into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

pub fn canary_spec(replicas: i32, steps: Vec<CanaryStep>) -> RolloutSpec {
    RolloutSpec {
        replicas: Some(replicas),
        selector: Some(LabelSelector {
            match_labels: Some([("app".to_owned(), "helpdesk".to_owned())].into()),
            ..Default::default()
        }),
        template: Some(pod_template("helpdesk:v1")),
        strategy: RolloutStrategy {
            canary: Some(CanaryStrategy {
                canary_service: Some("helpdesk-canary".into()),
                stable_service: Some("helpdesk-stable".into()),
                steps,
                ..Default::default()
            }),
            blue_green: None,
        },
        ..Default::default()
    }
}

pub fn blue_green_spec(replicas: i32, strategy: BlueGreenStrategy) -> RolloutSpec {
    let mut spec = canary_spec(replicas, vec![]);
    spec.strategy = RolloutStrategy {
        canary: None,
        blue_green: Some(strategy),
    };
    spec
}

pub fn set_weight(w: i32) -> CanaryStep {
    CanaryStep {
        set_weight: Some(w),
        ..Default::default()
    }
}

pub fn pause(duration: Option<&str>) -> CanaryStep {
    CanaryStep {
        pause: Some(RolloutPause {
            duration: duration.map(|d| {
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(d.into())
            }),
        }),
        ..Default::default()
    }
}

pub fn analysis(template: &str) -> RolloutAnalysis {
    RolloutAnalysis {
        templates: vec![AnalysisTemplateRef {
            template_name: template.into(),
            cluster_scope: None,
        }],
        template_name: None,
        args: vec![],
        ..Default::default()
    }
}

pub fn analysis_step(template: &str) -> CanaryStep {
    CanaryStep {
        analysis: Some(analysis(template)),
        ..Default::default()
    }
}

pub fn canary_scale(scale: SetCanaryScale) -> CanaryStep {
    CanaryStep {
        set_canary_scale: Some(scale),
        ..Default::default()
    }
}

pub fn routed(mut spec: RolloutSpec) -> RolloutSpec {
    if let Some(c) = spec.strategy.canary.as_mut() {
        c.traffic_routing = Some(TrafficRouting {
            gateway_api: Some(GatewayApiTrafficRouting {
                http_route: Some("helpdesk".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    spec
}

/// `spec` taking over a Deployment of as many replicas as it asks for,
/// which gives its pods up as `scale_down` says.
pub fn workload_ref(mut spec: RolloutSpec, scale_down: Option<ScaleDown>) -> RolloutSpec {
    spec.template = None;
    spec.workload_ref = Some(WorkloadRef {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: "helpdesk".into(),
        scale_down,
    });
    spec
}

/// The Deployment a spec's `workloadRef` names starts with the rollout's replicas.
fn spec_deployment(spec: &RolloutSpec) -> Option<i32> {
    spec.workload_ref
        .as_ref()
        .map(|_| spec.replicas.unwrap_or(1))
}

impl World {
    /// A rollout whose first revision `v1` is deployed and healthy.
    pub fn healthy(spec: RolloutSpec) -> Self {
        let mut world = Self::new(spec);
        world.settle();
        assert_eq!(world.phase(), "Healthy", "{:?}", world.status.message);
        world
    }

    pub fn new(spec: RolloutSpec) -> Self {
        Self {
            deployment: spec_deployment(&spec),
            spec,
            status: RolloutStatus::default(),
            now: "2026-11-24T10:00:00Z".parse().unwrap(),
            template: ("h-v1".into(), "v1".into()),
            replica_sets: Vec::new(),
            pods: Vec::new(),
            pods_created: 0,
            runs: Vec::new(),
            experiments: Vec::new(),
            outcomes: HashMap::new(),
            unready: HashMap::new(),
            requests: Vec::new(),
            events: Vec::new(),
            weight: 0,
            last: None,
            created: 0,
            blocker: None,
        }
    }

    pub fn observed(&self) -> Observed {
        Observed {
            name: "helpdesk".into(),
            generation: 1,
            template_hash: self.template.0.clone(),
            template_label: self.template.1.clone(),
            replica_sets: self.replica_sets.clone(),
            pods: self.pods.clone(),
            analysis_runs: self.runs.clone(),
            experiments: self.experiments.clone(),
            traffic_weight: None,
            known_templates: None,
            requests: self.requests.clone(),
            problem: None,
            workload_replicas: self.deployment,
            blocker: self.blocker.clone(),
        }
    }

    /// Rolls out a new revision, as editing the template's image would.
    pub fn update(&mut self, label: &str) {
        self.template = (format!("h-{label}"), label.to_owned());
        if let Some(t) = self.spec.template.as_mut() {
            *t = pod_template(&format!("helpdesk:{label}"));
        }
    }

    pub fn request(&mut self, request: Request) {
        self.requests.push(request);
    }

    pub fn advance(&mut self, seconds: i64) {
        self.now = self
            .now
            .checked_add(SignedDuration::from_secs(seconds))
            .unwrap();
    }

    /// One decision, then the platform makes the desired world real.
    pub fn step(&mut self) -> Decision {
        let decision = engine::decide(&self.spec, &self.status, &self.observed(), self.now);
        // A blocked platform applies nothing and keeps the requests for later.
        if decision.blocker.is_none() {
            self.requests.clear();
            self.apply(&decision);
        }
        self.status = decision.status.clone();
        self.events.extend(decision.events.iter().cloned());
        self.last = Some(decision.clone());
        decision
    }

    fn apply(&mut self, decision: &Decision) {
        // Runs finish with the chosen outcome one decision after they start.
        for run in &mut self.runs {
            if run.phase == AnalysisPhase::Running {
                let key = ["step", "background", "pre", "post"]
                    .into_iter()
                    .find(|k| run.name.contains(&format!("-{k}")))
                    .unwrap_or("step");
                run.phase = self
                    .outcomes
                    .get(key)
                    .copied()
                    .unwrap_or(AnalysisPhase::Successful);
            }
        }
        for experiment in &mut self.experiments {
            let wanted = decision
                .desired
                .experiments
                .iter()
                .any(|e| e.name == experiment.name);
            if experiment.phase == AnalysisPhase::Running {
                (experiment.phase, experiment.message) = if wanted {
                    let outcome = self.outcomes.get("experiment").copied();
                    let phase = outcome.unwrap_or(AnalysisPhase::Successful);
                    (phase, Some(format!("analysis compare {phase}")))
                } else {
                    (AnalysisPhase::Successful, Some("terminated".into()))
                };
            }
        }
        for experiment in &decision.desired.experiments {
            if !self.experiments.iter().any(|e| e.name == experiment.name) {
                self.experiments.push(ExperimentState {
                    name: experiment.name.clone(),
                    phase: AnalysisPhase::Running,
                    message: None,
                });
            }
        }
        for run in &decision.desired.analysis_runs {
            if !self.runs.iter().any(|r| r.name == run.name) {
                self.runs.push(AnalysisRunState {
                    name: run.name.clone(),
                    phase: AnalysisPhase::Running,
                    message: None,
                });
            }
        }
        for desired in &decision.desired.replica_sets {
            let unready = self.unready.get(&desired.hash).copied().unwrap_or(0);
            let available = (desired.replicas - unready).max(0);
            match self
                .replica_sets
                .iter_mut()
                .find(|rs| rs.hash == desired.hash)
            {
                Some(rs) => {
                    rs.revision = desired.revision;
                    rs.replicas = desired.replicas;
                    rs.ready = available;
                    rs.available = available;
                    rs.scale_down_at = desired.scale_down_at;
                }
                // As on a cluster: only the template's ReplicaSet can be
                // made, the others' templates are gone with them.
                None if desired.hash != self.template.0 => {}
                None => {
                    let label = desired.hash.trim_start_matches("h-").to_owned();
                    self.created += 1;
                    self.replica_sets.push(ReplicaSetState {
                        hash: desired.hash.clone(),
                        label,
                        revision: desired.revision,
                        template: None,
                        // Apart, in the order they were created.
                        created_at: Some(
                            self.now
                                .checked_add(SignedDuration::from_millis(self.created as i64))
                                .unwrap(),
                        ),
                        replicas: desired.replicas,
                        ready: available,
                        available,
                        scale_down_at: desired.scale_down_at,
                    });
                }
            }
        }
        self.pods
            .retain(|p| !decision.desired.restart_pods.contains(&p.name));
        self.keep_pods();
        if let Some(hash) = &decision.desired.rollback_to {
            self.update(hash.trim_start_matches("h-"));
        }
        self.weight = decision.desired.canary_weight;
        if let Some(replicas) = decision.desired.workload_replicas {
            self.deployment = Some(replicas);
        }
    }

    /// A pod per replica of every ReplicaSet: new ones created now, the
    /// newest removed first.
    fn keep_pods(&mut self) {
        for rs in &self.replica_sets {
            let wanted = usize::try_from(rs.replicas).unwrap_or(0);
            let mut have = self.pods.iter().filter(|p| p.hash == rs.hash).count();
            while have > wanted {
                let newest = self.pods.iter().rposition(|p| p.hash == rs.hash).unwrap();
                self.pods.remove(newest);
                have -= 1;
            }
            while have < wanted {
                self.pods_created += 1;
                self.pods.push(PodState {
                    name: format!("{}-pod{}", rs.hash, self.pods_created),
                    hash: rs.hash.clone(),
                    created_at: Some(
                        self.now
                            .checked_add(SignedDuration::from_millis(self.pods_created as i64))
                            .unwrap(),
                    ),
                    terminating: false,
                });
                have += 1;
            }
        }
    }

    /// Decides until the status stops changing (at most 50 times), without time passing.
    pub fn settle(&mut self) {
        for _ in 0..50 {
            let before = (
                self.status.clone(),
                self.replica_sets.clone(),
                self.runs.clone(),
                self.experiments.clone(),
            );
            self.step();
            if before
                == (
                    self.status.clone(),
                    self.replica_sets.clone(),
                    self.runs.clone(),
                    self.experiments.clone(),
                )
            {
                return;
            }
        }
        panic!("no fixpoint after 50 decisions: {:?}", self.status.message);
    }

    pub fn phase(&self) -> &str {
        self.status.phase.map_or("", RolloutPhase::as_str)
    }

    pub fn step_index(&self) -> i32 {
        self.status.current_step_index.unwrap_or(-1)
    }

    pub fn replicas(&self, label: &str) -> i32 {
        self.replica_sets
            .iter()
            .find(|rs| rs.label == label)
            .map_or(0, |rs| rs.replicas)
    }

    pub fn condition(&self, type_: &str) -> Option<&conductor::crd::condition::Condition> {
        self.status.conditions.iter().find(|c| c.type_ == type_)
    }

    pub fn has_event(&self, reason: &str) -> bool {
        self.events.iter().any(|e| e.reason == reason)
    }

    pub fn run_names(&self, kind: RunKind) -> Vec<String> {
        self.last
            .iter()
            .flat_map(|d| d.desired.analysis_runs.iter())
            .filter(|r| r.kind == kind)
            .map(|r| r.name.clone())
            .collect()
    }
}
