//! `conductor deploy`: one revision from CI through every cluster of an
//! environment, wave by wave, recorded in the Git ledger.
//!
//! ```text
//!   resolve the revision (source repo) ─▶ ordering against the ledger (never older over newer)
//!     ─▶ render every cluster (helm) ─▶ preflight every cluster (nothing applied if any fails)
//!     ─▶ ledger: intended revision, generation N
//!     ─▶ waves::next ─┬─ Start wave ─▶ ledger Deploying ─▶ apply + prune ─▶ health until final
//!                     ├─ Wait (in flight, baking; superseded? re-read the ledger)
//!                     ├─ Done ─▶ exit 0
//!                     └─ Stop ─▶ (--on-failure rollback) ─▶ exit 1
//! ```
//! The pure parts are [`waves`] (what next), [`fields`] (yielding runtime
//! fields) and `gitops::ordering`; [`kubernetes`] is the cluster adapter
//! behind the [`target::ClusterTarget`] contract.

pub mod fields;
pub mod kubernetes;
pub mod report;
pub mod run;
pub mod target;
pub mod waves;

pub use run::{DeployError, Exit, OnFailure, Request, deploy};
