//! A cluster on this machine behind the same contract as a Kubernetes one,
//! so `conductor deploy` walks local clusters (the embedded default) with
//! the same orchestrator, ledger and waves. Applying a release hands its
//! Rollout to the cluster's local controller (`platform::local`); health
//! is the engine's outcome for the spec applied, as on Kubernetes.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::hooks::Hook;
use super::target::{
    Applied, ClusterTarget, FailedMeasurement, Health, HookStatus, Release, TargetError,
};
use crate::crd::analysis::AnalysisPhase;
use crate::crd::rollout::RolloutStatus;
use crate::engine;
use crate::gitops::ledger::ObjectRef;
use crate::platform::local::controller::{LocalPlatform, Shared, Spec, Task};
use crate::platform::local::proxy::Proxy;
use crate::platform::local::revision::LocalRevision;

pub struct LocalCluster {
    name: String,
    spec: watch::Sender<Option<Spec>>,
    status: watch::Receiver<RolloutStatus>,
    /// The deploy generation of the last apply: an older deploy never
    /// overwrites a newer one's release, as on Kubernetes.
    deployed: Mutex<u64>,
    pub proxy: Arc<Proxy>,
    pub shared: Shared,
    _controller: Task,
}

impl LocalCluster {
    /// Starts the cluster's controller on `platform`; it runs until the
    /// cluster is dropped, and its processes stop with it.
    pub fn start(name: &str, platform: LocalPlatform, proxy: Arc<Proxy>) -> Self {
        let (spec, spec_rx) = watch::channel(None);
        let (status_tx, status) = watch::channel(RolloutStatus::default());
        let shared = platform.shared();
        let controller = Task(tokio::spawn(platform.run(spec_rx, status_tx)));
        Self {
            name: name.to_owned(),
            spec,
            status,
            deployed: Mutex::new(0),
            proxy,
            shared,
            _controller: controller,
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> TargetError {
        TargetError::Cluster {
            cluster: self.name.clone(),
            message: message.to_string(),
        }
    }

    /// The revision its users are served now.
    pub fn stable_revision(&self) -> Option<String> {
        self.status.borrow().stable_revision.clone()
    }

    /// The latest failed measurement, from the cluster's journal.
    fn failed_measurement(&self) -> Option<FailedMeasurement> {
        let journal = self
            .shared
            .journal
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let line = journal
            .measurements
            .iter()
            .rev()
            .find(|m| m.phase == AnalysisPhase::Failed)?;
        Some(FailedMeasurement {
            analysis_run: line.run.clone(),
            metric: line.metric.clone(),
            value: line.value.clone(),
            condition: line.condition.clone(),
            message: line.message.clone(),
        })
    }

    fn deployed(&self) -> std::sync::MutexGuard<'_, u64> {
        // A plain number behind the lock: still right after a panic elsewhere.
        self.deployed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ClusterTarget for LocalCluster {
    fn name(&self) -> &str {
        &self.name
    }

    async fn preflight(&self, release: &Release) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = LocalRevision::from_objects(&release.objects, &release.label) {
            problems.push(e.to_string());
        }
        if !release.hooks.is_empty() {
            problems.push("a local cluster runs no hooks; the release has some".into());
        }
        problems
    }

    async fn apply(
        &self,
        release: &Release,
        _previous: &[ObjectRef],
    ) -> Result<Applied, TargetError> {
        let revision = LocalRevision::from_objects(&release.objects, &release.label)
            .map_err(|e| self.error(e))?;
        {
            let mut deployed = self.deployed();
            if *deployed > release.generation {
                return Ok(Applied {
                    superseded_by: Some(*deployed),
                    ..Applied::default()
                });
            }
            *deployed = release.generation;
        }
        self.spec.send_modify(|spec| {
            let unchanged = spec.as_ref().is_some_and(|s| {
                s.revision.hash == revision.hash && s.revision.spec == revision.spec
            });
            if !unchanged {
                let generation = spec.as_ref().map_or(1, |s| s.generation + 1);
                *spec = Some(Spec {
                    generation,
                    revision,
                });
            }
        });
        let mut objects: Vec<ObjectRef> = release
            .objects
            .iter()
            .map(|o| ObjectRef {
                api_version: o.api_version.clone(),
                kind: o.kind.clone(),
                namespace: Some(release.cluster.namespace.clone()),
                name: o.name.clone(),
            })
            .collect();
        objects.sort();
        Ok(Applied {
            objects,
            ..Applied::default()
        })
    }

    async fn health(&self, release: &Release) -> Result<Health, TargetError> {
        let deployed = *self.deployed();
        if deployed > release.generation {
            return Ok(Health::Superseded {
                generation: deployed,
            });
        }
        let Some(spec) = self.spec.borrow().clone() else {
            return Ok(Health::Progressing {
                detail: "nothing applied yet".into(),
            });
        };
        let status = self.status.borrow().clone();
        let outcome = engine::outcome(Some(spec.generation), &spec.revision.spec, Some(&status));
        let measurement = matches!(outcome, engine::Outcome::Degraded { .. })
            .then(|| self.failed_measurement())
            .flatten();
        Ok(Health::of_rollout(
            &spec.revision.rollout,
            &outcome,
            &release.label,
            None,
            measurement,
        ))
    }

    async fn start_hook(
        &self,
        _release: &Release,
        hook: &Hook,
    ) -> Result<Option<u64>, TargetError> {
        Err(self.error(format!("hook {hook}: a local cluster runs no hooks")))
    }

    async fn hook_status(
        &self,
        _release: &Release,
        hook: &Hook,
    ) -> Result<HookStatus, TargetError> {
        Err(self.error(format!("hook {hook}: a local cluster runs no hooks")))
    }

    async fn finish_hook(
        &self,
        _release: &Release,
        _hook: &Hook,
        _succeeded: bool,
    ) -> Result<(), TargetError> {
        Ok(())
    }
}
