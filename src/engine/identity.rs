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
/// every rule that follows reuses it instead of starting a new one, and
/// with that ReplicaSet numbered the newest revision, so every rule reads
/// the numbers the decision will ask for.
pub(super) fn resolve(observed: &Observed) -> Cow<'_, Observed> {
    let Some(rs) = template_replica_set(&observed.template_hash, &observed.replica_sets) else {
        return Cow::Borrowed(observed);
    };
    let renamed = rs.hash != observed.template_hash;
    let newest_other = newest(observed, |other| other.hash != rs.hash);
    let renumbered = newest_other.is_some_and(|n| n >= rs.revision);
    if !renamed && !renumbered {
        return Cow::Borrowed(observed);
    }
    let hash = rs.hash.clone();
    let mut resolved = observed.clone();
    if let Some(rs) = resolved.replica_sets.iter_mut().find(|rs| rs.hash == hash)
        && let Some(n) = newest_other.filter(|_| renumbered)
    {
        rs.revision = n.saturating_add(1);
    }
    resolved.template_hash = hash;
    Cow::Owned(resolved)
}

/// The revision number the ReplicaSet `hash` is to carry: its own (the
/// template's already renumbered by [`resolve`]), or, for one that does
/// not exist yet, the next after every other.
pub(super) fn revision(observed: &Observed, hash: &str) -> u64 {
    match observed.replica_set(hash) {
        Some(rs) => rs.revision,
        None => newest(observed, |_| true).map_or(1, |n| n.saturating_add(1)),
    }
}

fn newest(observed: &Observed, which: impl Fn(&ReplicaSetState) -> bool) -> Option<u64> {
    observed
        .replica_sets
        .iter()
        .filter(|rs| which(rs))
        .map(|rs| rs.revision)
        .max()
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

    fn numbers(observed: &Observed) -> Vec<(&str, u64)> {
        observed
            .replica_sets
            .iter()
            .map(|rs| (rs.hash.as_str(), rs.revision))
            .collect()
    }

    #[test]
    fn going_back_to_an_old_template_makes_its_replica_set_the_newest() {
        let observed = Observed {
            template_hash: "a".into(),
            replica_sets: vec![rs("a", None, 1), rs("b", None, 2), rs("c", None, 3)],
            ..Default::default()
        };
        let resolved = resolve(&observed);
        assert_eq!(numbers(&resolved), [("a", 4), ("b", 2), ("c", 3)]);
        assert!(matches!(resolve(&resolved), Cow::Borrowed(_)));
        assert_eq!(revision(&resolved, "a"), 4);
        assert_eq!(revision(&resolved, "b"), 2);
    }

    #[test]
    fn a_new_replica_set_is_numbered_after_every_other() {
        let observed = Observed {
            template_hash: "new".into(),
            replica_sets: vec![rs("a", None, 7), rs("b", None, 2)],
            ..Default::default()
        };
        let resolved = resolve(&observed);
        assert_eq!(numbers(&resolved), numbers(&observed));
        assert_eq!(revision(&resolved, "new"), 8);
        assert_eq!(revision(&Observed::default(), "first"), 1);
    }

    #[test]
    fn a_lone_or_newest_replica_set_keeps_its_number_and_a_tie_is_broken() {
        let lone = Observed {
            template_hash: "a".into(),
            replica_sets: vec![rs("a", None, 0)],
            ..Default::default()
        };
        assert!(matches!(resolve(&lone), Cow::Borrowed(_)));
        // Two numberless ReplicaSets an older controller left.
        let tie = Observed {
            template_hash: "a".into(),
            replica_sets: vec![rs("a", None, 0), rs("b", None, 0)],
            ..Default::default()
        };
        assert_eq!(numbers(&resolve(&tie)), [("a", 1), ("b", 0)]);
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
