//! `conductor deploy`: one revision from CI through every cluster of an
//! environment, wave by wave, recorded in the Git ledger.
//!
//! ```text
//!   resolve the revision (source repo) ─▶ ordering against the ledger (never older over newer)
//!     ─▶ render every cluster (helm) ─▶ preflight every cluster (nothing applied if any fails)
//!     ─▶ ledger: intended revision, generation N
//!     ─▶ waves::next ─┬─ Start wave ─▶ ledger Deploying ─▶ hooks ─▶ apply + prune ─▶ health until final
//!                     ├─ Wait (in flight, baking; superseded? re-read the ledger)
//!                     ├─ Done ─▶ exit 0
//!                     └─ Stop ─▶ (--on-failure rollback) ─▶ exit 1
//! ```
//! The pure parts are [`waves`] (what next), [`fields`] (yielding runtime
//! fields) and `gitops::ordering`; [`kubernetes`] is the cluster adapter
//! behind the [`target::ClusterTarget`] contract.

mod cluster_task;
pub mod exit;
pub mod fields;
pub mod hooks;
pub mod kubernetes;
mod ledger;
pub mod local;
pub mod notify;
mod prepared;
pub mod report;
pub mod request;
mod rollback;
pub mod run;
pub mod target;
mod walk;
pub mod waves;

pub use exit::Exit;
pub use ledger::DeployError;
pub use request::{OnFailure, Request};
pub use run::deploy;
