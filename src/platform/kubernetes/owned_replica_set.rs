//! What the controller keeps of each ReplicaSet a Rollout owns.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::ResourceExt;

use super::{
    HASH_LABEL, LABEL_ANNOTATION, LEGACY_REPLICA_SET_REVISION_ANNOTATION,
    REPLICA_SET_REVISION_ANNOTATION, SCALE_DOWN_AT_ANNOTATION,
};
use crate::platform::template_hash;

/// A ReplicaSet's revision number as written on it: its
/// `conductor.dev/replicaset-revision`, else, on a ReplicaSet an older
/// controller numbered, its `conductor.dev/revision` when that holds a
/// number.
pub fn written_revision(annotations: &BTreeMap<String, String>) -> Option<&str> {
    annotations
        .get(REPLICA_SET_REVISION_ANNOTATION)
        .or_else(|| {
            annotations
                .get(LEGACY_REPLICA_SET_REVISION_ANNOTATION)
                .filter(|r| r.parse::<u64>().is_ok())
        })
        .map(String::as_str)
}

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
    /// The annotations as written, compared verbatim before patching; the
    /// revision number as [`written_revision`] reads it.
    pub revision: Option<String>,
    pub label: Option<String>,
    /// It still carries an older controller's number under
    /// `conductor.dev/revision`, for the controller to remove.
    pub legacy_revision: bool,
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
            revision: written_revision(rs.annotations()).map(str::to_owned),
            label: annotation(LABEL_ANNOTATION),
            legacy_revision: rs
                .annotations()
                .get(LEGACY_REPLICA_SET_REVISION_ANNOTATION)
                .is_some_and(|r| r.parse::<u64>().is_ok()),
            scale_down_at: annotation(SCALE_DOWN_AT_ANNOTATION),
            created_at: rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
            replicas: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
            available: status.and_then(|s| s.available_replicas).unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_replica_set_revision_key_is_read_first() {
        let both = annotations(&[
            (REPLICA_SET_REVISION_ANNOTATION, "8"),
            (LEGACY_REPLICA_SET_REVISION_ANNOTATION, "7"),
        ]);
        assert_eq!(written_revision(&both), Some("8"));
    }

    #[test]
    fn an_older_controllers_number_is_kept() {
        let old = annotations(&[(LEGACY_REPLICA_SET_REVISION_ANNOTATION, "7")]);
        assert_eq!(written_revision(&old), Some("7"));
    }

    #[test]
    fn the_old_key_counts_only_when_it_holds_a_number() {
        let sha = annotations(&[(LEGACY_REPLICA_SET_REVISION_ANNOTATION, "3f2a9c1")]);
        assert_eq!(written_revision(&sha), None);
        assert_eq!(written_revision(&BTreeMap::new()), None);
    }
}
