//! "An older commit never replaces a newer one": whether a requested revision
//! may become an environment's intended revision. Pure; the ancestry itself
//! comes from the source repository.

use std::fmt;

use super::ledger::EnvironmentRecord;

/// How the requested revision relates to the intended one in the source
/// history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    Same,
    /// The requested revision descends from the intended one: it is newer.
    Descendant,
    /// The requested revision is an ancestor of the intended one: it is older.
    Ancestor,
    /// Neither: a side branch or an unrelated history.
    Unrelated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    Deploy,
    /// Allow a revision whose history is unrelated to the intended one.
    Force,
    /// An intentional step back to an older revision.
    RollbackTo,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Write a new intended revision under this generation.
    Start {
        generation: u64,
    },
    /// The same revision is intended already: keep its generation and skip
    /// clusters already healthy at it, so a re-run CI job finishes the deploy.
    Resume {
        generation: u64,
    },
    Refuse(Refusal),
}

/// Each refusal names the revision the environment already wants (its label,
/// or its sha when it has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    Older {
        intended: String,
    },
    Unrelated {
        intended: String,
    },
    /// `--rollback-to` a revision that is not older than the intended one.
    NotAnAncestor {
        intended: String,
    },
}

impl Refusal {
    /// The message for a CI log, naming the environment and the revision that
    /// was asked for.
    pub fn explain(&self, env: &str, requested: &str) -> String {
        match self {
            Self::Older { intended } => format!(
                "refused: {env} already wants {intended}, which is newer than {requested}; \
                 use --rollback-to to step back on purpose"
            ),
            Self::Unrelated { intended } => format!(
                "refused: {requested} is neither newer nor older than {intended}, which {env} \
                 already wants (a side branch or another history); use --force to deploy it anyway"
            ),
            Self::NotAnAncestor { intended } => format!(
                "refused: --rollback-to {requested} is not older than {intended}, which {env} \
                 already wants; deploy it without --rollback-to"
            ),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.explain("the environment", "the requested revision"))
    }
}

/// Decides whether the requested revision may become the intended one.
/// `relation` is how it relates to `intended`; a missing relation next to an
/// intended record cannot be trusted, so it counts as unrelated.
pub fn verdict(
    intended: Option<&EnvironmentRecord>,
    relation: Option<Relation>,
    intent: Intent,
) -> Verdict {
    let Some(current) = intended else {
        return Verdict::Start { generation: 1 };
    };
    let next = Verdict::Start {
        generation: current.generation.saturating_add(1),
    };
    let name = || display_name(current);
    match (relation.unwrap_or(Relation::Unrelated), intent) {
        (Relation::Same, _) => Verdict::Resume {
            generation: current.generation,
        },
        (Relation::Descendant, Intent::RollbackTo) => {
            Verdict::Refuse(Refusal::NotAnAncestor { intended: name() })
        }
        (Relation::Descendant, _) => next,
        (Relation::Ancestor, Intent::RollbackTo) => next,
        (Relation::Ancestor, _) => Verdict::Refuse(Refusal::Older { intended: name() }),
        (Relation::Unrelated, Intent::Force) => next,
        (Relation::Unrelated, _) => Verdict::Refuse(Refusal::Unrelated { intended: name() }),
    }
}

/// Once a deploy runs under generation `mine`, a greater generation in the
/// ledger means someone intends a newer revision: the older deploy stops
/// before touching another cluster. Returns the newer revision's name.
pub fn superseded(mine: u64, ledger: Option<&EnvironmentRecord>) -> Option<String> {
    ledger
        .filter(|current| current.generation > mine)
        .map(display_name)
}

fn display_name(record: &EnvironmentRecord) -> String {
    if record.label.is_empty() {
        super::ledger::short(&record.revision).to_owned()
    } else {
        record.label.clone()
    }
}

#[cfg(test)]
#[path = "ordering_tests.rs"]
mod tests;
