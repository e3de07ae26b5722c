//! The local platform: real processes on loopback ports and a weighted
//! reverse proxy in front of them.

pub mod proxy;
pub mod replicas;
