//! The resources the simulated controllers follow and write.

use crate::path::ResourceKey;

pub(super) fn replicaset_key() -> ResourceKey {
    ResourceKey::new("apps/v1", "replicasets")
}

pub(super) fn deployment_key() -> ResourceKey {
    ResourceKey::new("apps/v1", "deployments")
}

pub(super) fn pod_key() -> ResourceKey {
    ResourceKey::new("v1", "pods")
}
