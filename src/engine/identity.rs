//! Which ReplicaSet is the revision of the spec's template.
//!
//! A ReplicaSet is named by the hash its creator computed, and that name is
//! in its pods' selector, so it never changes. The same template may hash
//! differently now: controllers before server-default normalisation hashed
//! the template as written, and undo brings back the server's defaulted
//! form. So a ReplicaSet is the template's when its name is the template's
//! hash, or else when its own template hashes the same.

use std::borrow::Cow;

use super::observed::{Observed, ReplicaSetState};

/// The ReplicaSet running `template_hash`'s template, if any: the one named
/// by it, else the newest whose template hashes to it.
pub fn template_replica_set<'a>(
    template_hash: &str,
    replica_sets: &'a [ReplicaSetState],
) -> Option<&'a ReplicaSetState> {
    replica_sets
        .iter()
        .find(|rs| rs.hash == template_hash)
        .or_else(|| {
            replica_sets
                .iter()
                .filter(|rs| rs.template.as_deref() == Some(template_hash))
                .max_by_key(|rs| rs.revision)
        })
}

/// `observed` with `template_hash` naming the template's ReplicaSet, so
/// every rule that follows reuses it instead of starting a new one.
pub(super) fn resolve(observed: &Observed) -> Cow<'_, Observed> {
    match template_replica_set(&observed.template_hash, &observed.replica_sets) {
        Some(rs) if rs.hash != observed.template_hash => {
            let mut resolved = observed.clone();
            resolved.template_hash = rs.hash.clone();
            Cow::Owned(resolved)
        }
        _ => Cow::Borrowed(observed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(hash: &str, template: Option<&str>, revision: u64) -> ReplicaSetState {
        ReplicaSetState {
            hash: hash.into(),
            template: template.map(Into::into),
            revision,
            ..Default::default()
        }
    }

    #[test]
    fn the_named_replica_set_comes_first() {
        let sets = [rs("old", Some("new"), 2), rs("new", Some("new"), 1)];
        let found = template_replica_set("new", &sets).map(|rs| rs.hash.as_str());
        assert_eq!(found, Some("new"));
    }

    #[test]
    fn a_replica_set_named_by_an_older_hash_is_found_by_its_template() {
        let sets = [rs("a", Some("x"), 1), rs("b", Some("y"), 2)];
        let found = template_replica_set("x", &sets).map(|rs| rs.hash.as_str());
        assert_eq!(found, Some("a"));
        assert!(template_replica_set("z", &sets).is_none());
    }

    #[test]
    fn resolving_names_the_existing_replica_set_and_is_stable() {
        let observed = Observed {
            template_hash: "x".into(),
            replica_sets: vec![rs("a", Some("x"), 1)],
            ..Default::default()
        };
        let resolved = resolve(&observed);
        assert_eq!(resolved.template_hash, "a");
        assert!(matches!(resolve(&resolved), Cow::Borrowed(_)));
    }
}
