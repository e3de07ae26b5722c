//! The local platform: a cluster on this machine. Revisions run as real
//! processes on loopback ports behind a weighted reverse proxy, analysis
//! runs measure the canary's processes, and the same engine as the
//! operator decides every step (`controller`).

pub mod controller;
pub mod journal;
pub mod proxy;
pub mod replicas;
pub mod revision;
