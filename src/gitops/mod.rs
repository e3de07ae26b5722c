//! The deploy ledger in Git: which revision each environment intends and
//! each cluster runs, kept as small YAML files on a branch
//! (`conductor/ledger` by default) that Git itself serialises.
//!
//! ```text
//!   read ──▶ decide ──▶ commit ──▶ push (no force)
//!    ▲     (pure, on    (parent =       │
//!    │      that        snapshot head)  ├─ landed ──▶ done
//!    │      snapshot)                   │
//!    └──────── moved: re-read ◀─────────┘  (someone else wrote first)
//! ```
//!
//! - [`ledger`]: the file format and commit messages (pure).
//! - [`ordering`]: an older commit never replaces a newer one (pure).
//! - [`source`]: the service's source repository: revisions and ancestry.
//! - [`location`]: where the ledger lives (repository and branch).
//! - [`store`]: the ledger branch, read and written with compare-and-swap;
//!   `transact` is the loop above, `history` the branch's story, `overview`
//!   many environments at one commit.

pub mod error;
mod git_cli;
pub mod history;
pub mod ledger;
pub mod location;
pub mod ordering;
pub mod overview;
mod push;
mod random;
pub mod source;
pub mod store;
pub mod transact;

pub use error::GitError;
pub use history::{HistoryEntry, RecordChange};
pub use ledger::{
    Applied, ClusterRecord, ClusterState, EnvironmentRecord, LedgerError, ObjectRef, Record,
};
pub use location::LedgerLocation;
pub use ordering::{Intent, Refusal, Relation, Verdict};
pub use source::{Commit, SourceRepo};
pub use store::{Change, CommitResult, LedgerStore, Snapshot};
pub use transact::{Decision, TransactOutcome};
