//! Integration tests: everything goes through `kube::Api` and
//! `kube::runtime::watcher`, as the operator would use the fake.

mod access;
mod common;
mod crud;
mod defaulting;
mod discovery;
mod faults;
mod lifecycle;
mod ownership;
mod patches;
mod pruning;
mod rbac;
mod served;
mod simulator;
mod slow_and_restart;
mod watches;
