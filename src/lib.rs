//! Conductor: progressive delivery for Kubernetes, driven from Git.
//!
//! ```text
//!   CI ─▶ cli ─▶ deploy ────────────────────────────────────────────────┐
//!                 │ gitops: source repo (ordering) + ledger branch (CAS) │
//!   conductor-config/<service>.yaml ─┐                                  │ waves, per cluster:
//!   charts/<service>/values*.yaml ───┴─▶ config ─▶ render (helm) ───────┤ apply + prune + health
//!                                           └─▶ plan / validate         ▼
//!                          each cluster: deploy::kubernetes ─▶ platform::kubernetes (operator)
//!                                 or     deploy::local      ─▶ platform::local (processes, demo)
//!   crd (Rollout, AnalysisTemplate, AnalysisRun) ─▶ crds/*.yaml         │ watch ─▶ engine::decide ─▶ apply
//!                                                                       │ analysis (providers) ─▶ verdicts
//!   experiment: an Experiment's ReplicaSets and analyses, decided as the engine decides a rollout
//!   engine::outcome: the one answer to "is it done?" (rollout status, deploy)
//!   demo: the deploy through three local clusters in two waves, with users and a report
//!   dashboard: the ledger's matrix and live rollouts in a browser (routes ─▶ gitops + clusters ─▶ pure pages)
//! ```
#![forbid(unsafe_code)]

pub mod analysis;
pub mod analyze;
pub mod cli;
pub mod config;
pub mod convert;
pub mod crd;
pub mod dashboard;
pub mod demo;
pub mod deploy;
pub mod diagnostic;
pub mod engine;
pub mod experiment;
pub mod gitops;
pub mod plan;
pub mod platform;
pub mod render;
pub mod validate;
pub mod yaml_lines;
