//! A cluster reached through a kubeconfig context: the deploy's writes go
//! through server-side apply under one field manager, so ownership of
//! every field is recorded and a deploy never fights the controller.
//!
//! ```text
//!   preflight: context ─▶ /version ─▶ discovery (every kind served) ─▶ controller lease ─▶ access reviews
//!   hooks:     pre-install/pre-upgrade/pre-rollback objects by weight: recreate ─▶ wait for the Job ─▶ clean up
//!   apply:     per object in install order: read ─▶ fence (deploy generation) ─▶ apply (rv precondition)
//!                 409 field conflict with a runtime controller ─▶ leave that field to it, apply the rest
//!              then prune what the previous deploy applied and this one does not
//!   health:    Rollouts through engine::outcome, Deployments as `kubectl rollout status`
//! ```

mod apply;
mod client;
mod cluster;
mod discovery;
mod health;
mod hooks;
pub mod marks;
mod preflight;

use super::hooks::Hook;
use super::target::{Applied, ClusterTarget, Health, HookStatus, Release, TargetError};
use crate::gitops::ledger::ObjectRef;
pub use client::client_for;
pub use cluster::KubeCluster;
pub use preflight::CONTROLLER_LEASE;

impl ClusterTarget for KubeCluster {
    fn name(&self) -> &str {
        &self.cluster.name
    }

    async fn preflight(&self, release: &Release) -> Vec<String> {
        preflight::check(self, release).await
    }

    async fn apply(
        &self,
        release: &Release,
        previous: &[ObjectRef],
    ) -> Result<Applied, TargetError> {
        apply::apply(self, release, previous).await
    }

    async fn health(&self, release: &Release) -> Result<Health, TargetError> {
        health::health(self, release).await
    }

    async fn start_hook(&self, release: &Release, hook: &Hook) -> Result<Option<u64>, TargetError> {
        hooks::start(self, release, hook).await
    }

    async fn hook_status(&self, release: &Release, hook: &Hook) -> Result<HookStatus, TargetError> {
        hooks::status(self, release, hook).await
    }

    async fn finish_hook(
        &self,
        release: &Release,
        hook: &Hook,
        succeeded: bool,
    ) -> Result<(), TargetError> {
        hooks::finish(self, release, hook, succeeded).await
    }
}
