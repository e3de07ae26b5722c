//! `conductor dashboard`: a web page answering "what runs where" from the
//! deploy ledger, and following each rollout live in its cluster.
//!
//! ```text
//!   browser ──HTTP──▶ routes ──▶ resolve (config: service, env, cluster)
//!                        │
//!                        ├─▶ git_reader ──▶ gitops (ledger store, source repo) ──▶ overview ─▶ front
//!                        │                                                       └▶ cluster_page, changes
//!                        ├─▶ clusters ──▶ world (Rollout, ReplicaSets, AnalysisRuns, Events)
//!                        │                  └▶ rollout_page (steps, analysis_view ─▶ chart, threshold)
//!                        ├─▶ live: watches + refresh ─▶ the same fragment, as server-sent events
//!                        └─▶ actions: token (tokens) ─▶ Event naming who ─▶ request annotation
//! ```
//!
//! Every page is rendered on the server by a pure function of what was
//! read (and `now`), escaped on the way in ([`html`]), served with a
//! Content-Security-Policy that allows only the one inline script.

pub mod action;
pub mod actions;
pub mod analysis_view;
pub mod changes;
pub mod chart;
pub mod cluster_page;
pub mod clusters;
pub mod error;
pub mod front;
pub mod git_reader;
pub mod html;
pub mod live;
pub mod looks;
pub mod overview;
pub mod page;
pub mod redact;
pub mod resolve;
pub mod respond;
pub mod rollout_page;
pub mod routes;
pub mod script;
pub mod state;
pub mod steps;
pub mod style;
pub mod threshold;
pub mod time;
pub mod tokens;
pub mod who;
pub mod world;

pub use clusters::ClusterClients;
pub use error::DashboardError;
pub use routes::{router, serve};
pub use state::Dashboard;
pub use tokens::Tokens;
