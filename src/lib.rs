//! Conductor: progressive delivery for Kubernetes, driven from Git.
//!
//! ```text
//!   conductor-config/<service>.yaml ─┐
//!   charts/<service>/values*.yaml ───┼─▶ config ─▶ render (helm template) ─▶ plan / validate
//!                                    │
//!   crd (Rollout, AnalysisTemplate, AnalysisRun) ─▶ crds/*.yaml
//! ```
#![forbid(unsafe_code)]

pub mod analysis;
pub mod analyze;
pub mod cli;
pub mod config;
pub mod crd;
pub mod demo;
pub mod deploy;
pub mod diagnostic;
pub mod engine;
pub mod gitops;
pub mod plan;
pub mod platform;
pub mod render;

pub mod validate;
pub mod yaml_lines;
