#![forbid(unsafe_code)]
//! An in-process fake Kubernetes API server for tests and benchmarks.
//!
//! ```text
//!   kube::Client ──tower::Service──▶ FakeService ──▶ routes ──▶ Store
//!        ▲                              │ faults, audit          │ BTreeMap per resource
//!        │                              ▼                        │ history + broadcast
//!   watcher ◀──── newline-delimited watch events ◀───────────────┘
//!                                                   Simulator ◀──┘ (RS/Deployment status, Pods)
//! ```
//!
//! [`FakeApi`] serves any resource path with real REST semantics (create,
//! get, list, watch, replace, merge/JSON/apply patch, status and scale
//! subresources, delete with finalizers and owner cascade) without knowing
//! the types in advance. Like a real server it also:
//!
//! - tracks field ownership per manager: server-side apply (`Apply`) and
//!   every other write (`Update`, by the `fieldManager` parameter or the
//!   client's User-Agent name), shown as `metadata.managedFields`; applies
//!   that would undo another manager's field answer 409 with one
//!   `FieldManagerConflict` cause per field unless forced;
//! - answers discovery (`/version`, `/api`, `/apis`, ...) from a table of
//!   built-in types plus the CustomResourceDefinitions stored at the time;
//! - authorizes requests: [`FakeApi::deny`] takes access away as a missing
//!   RBAC grant would (403 Forbidden), and `SelfSubjectAccessReview`s are
//!   answered by the same rules;
//! - fills in the defaults a real server gives workloads' pod templates
//!   (`restartPolicy`, `dnsPolicy`, `imagePullPolicy`, ...), so what is
//!   read back differs from what was sent as it does on a cluster;
//! - audits every write with its field manager and the object stored.
//!
//! [`serve()`] puts it on a loopback HTTP port for other processes, and
//! [`restart()`] takes it down for a while and back with an empty watch
//! cache. Faults for tests of clients: [`FakeApi::fail_next`] (an error
//! answer), [`FakeApi::delay_next`] (a late one), [`FakeApi::drop_watches`].
//! [`simulator::Simulator`] stands in for the ReplicaSet and Deployment
//! controllers.

mod access;
mod apply;
mod builtin;
mod catalog;
mod defaults;
mod delay;
mod discovery;
mod error;
mod fake;
mod meta;
mod ownership;
mod paging;
mod patch;
mod path;
mod prune;
mod query;
mod request;
mod response;
mod restart;
mod review;
mod routes;
mod scale;
mod selector;
mod serve;
mod service;
mod shared;
pub mod simulator;
mod store;
mod validation;
mod watch;
mod writes;

pub use access::AccessRule;
pub use delay::Delay;
pub use error::{ApiError, StatusCause, StatusDetails};
pub use fake::FakeApi;
pub use path::ResourceKey;
pub use response::ResponseBody;
pub use restart::restart;
pub use serve::{Server, serve, write_kubeconfig};
pub use service::FakeService;
pub use shared::{AuditEntry, Fault};
