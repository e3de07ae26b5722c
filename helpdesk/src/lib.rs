//! The helpdesk ticketing service: Conductor's reference workload. The
//! binary (`main.rs`) serves [`router`]; the fuzz targets under `fuzz/`
//! send it requests in process.
//!
//! ```text
//!   request ─▶ api (extract, validate: model) ─▶ store ─▶ db (SQLite or PostgreSQL)
//!               └─▶ metrics, faults               error: what clients see
//! ```
#![forbid(unsafe_code)]

mod api;
mod db;
mod error;
mod faults;
mod metrics;
mod model;
mod store;

pub use api::{App, MAX_BODY_BYTES, router};
pub use db::{Backend, Db, DbError, SCHEMA_VERSION};
pub use faults::Faults;
pub use metrics::Metrics;
