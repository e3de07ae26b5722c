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
//! [`FakeApi`] serves every resource it knows with real REST semantics (create,
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
//!   built-in types plus the CustomResourceDefinitions stored at the time,
//!   and serves only those: any other resource path gets the plain-text
//!   `404 page not found` (no `Status`) of a cluster without the CRD;
//! - refuses what a real server cannot decode into its types before
//!   validating: an unparseable resource quantity is a 400 BadRequest;
//! - authorizes requests: once [`FakeApi::enforce_rbac`] is called, by the
//!   Roles, ClusterRoles and their bindings stored, as the real RBAC
//!   authorizer does, recording which rule allowed what
//!   ([`FakeApi::grants`]) and every 403 ([`FakeApi::denials`]);
//!   [`FakeApi::deny`] takes access away whether RBAC is enforced or not;
//!   `SelfSubjectAccessReview`s are answered by the same rules. Clients
//!   authenticate as a [`User`] (in process) or with a bearer token (over
//!   HTTP);
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
mod authz;
mod bootstrap;
mod builtin;
mod catalog;
mod decode;
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
mod rbac;
mod record;
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
mod user;
mod validation;
mod watch;
mod writes;

pub use access::AccessRule;
pub use delay::Delay;
pub use error::{ApiError, StatusCause, StatusDetails};
pub use fake::FakeApi;
pub use path::ResourceKey;
pub use rbac::{RoleId, RoleKind};
pub use record::{Denial, Grant};
pub use response::ResponseBody;
pub use restart::restart;
pub use serve::{Server, serve, write_kubeconfig, write_kubeconfig_with_token};
pub use service::FakeService;
pub use shared::{AuditEntry, Fault, RequestCounter};
pub use user::User;
