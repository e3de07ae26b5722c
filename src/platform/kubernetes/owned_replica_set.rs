//! What the controller keeps of each ReplicaSet a Rollout owns.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::ResourceExt;

use super::{HASH_LABEL, LABEL_ANNOTATION, REVISION_ANNOTATION, SCALE_DOWN_AT_ANNOTATION};
use crate::platform::template_hash;

/// What a reconcile reads of an owned ReplicaSet, kept by the index instead
/// of the object (a few hundred bytes instead of ~10 KB with its pod
/// template). Undo, the one reader of the template, fetches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedReplicaSet {
    pub name: String,
    /// The pod-template-hash label; absent on a ReplicaSet edited by hand.
    pub hash: Option<String>,
    /// The hash of its template as stored, computed once per watch event
    /// so the index can tell which template it runs without keeping the
    /// template itself.
    pub template: Option<String>,
    /// The annotations as written, compared verbatim before patching.
    pub revision: Option<String>,
    pub label: Option<String>,
    pub scale_down_at: Option<String>,
    pub created_at: Option<Timestamp>,
    pub replicas: i32,
    pub ready: i32,
    pub available: i32,
}

impl From<&ReplicaSet> for OwnedReplicaSet {
    fn from(rs: &ReplicaSet) -> Self {
        let annotation = |name: &str| rs.annotations().get(name).cloned();
        let status = rs.status.as_ref();
        Self {
            name: rs.name_any(),
            hash: rs.labels().get(HASH_LABEL).cloned(),
            template: rs
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .map(|t| template_hash(Some(t))),
            revision: annotation(REVISION_ANNOTATION),
            label: annotation(LABEL_ANNOTATION),
            scale_down_at: annotation(SCALE_DOWN_AT_ANNOTATION),
            created_at: rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
            replicas: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
            available: status.and_then(|s| s.available_replicas).unwrap_or(0),
        }
    }
}
