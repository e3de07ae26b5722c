use proptest::prelude::*;

use super::*;

fn intended(generation: u64) -> EnvironmentRecord {
    EnvironmentRecord {
        revision: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432".to_owned(),
        label: "v2.0.0".to_owned(),
        generation,
        updated_at: "2026-11-30T08:00:00Z".to_owned(),
        by: "ci".to_owned(),
        rollback: false,
    }
}

#[test]
fn nothing_intended_starts_at_one() {
    for intent in [Intent::Deploy, Intent::Force, Intent::RollbackTo] {
        assert_eq!(
            verdict(None, None, intent),
            Verdict::Start { generation: 1 }
        );
    }
}

#[test]
fn the_rules() {
    let env = intended(4);
    let env = Some(&env);
    let older = Verdict::Refuse(Refusal::Older {
        intended: "v2.0.0".to_owned(),
    });
    let unrelated = Verdict::Refuse(Refusal::Unrelated {
        intended: "v2.0.0".to_owned(),
    });
    let not_ancestor = Verdict::Refuse(Refusal::NotAnAncestor {
        intended: "v2.0.0".to_owned(),
    });
    let start = Verdict::Start { generation: 5 };
    let resume = Verdict::Resume { generation: 4 };
    let cases = [
        (Relation::Same, Intent::Deploy, &resume),
        (Relation::Same, Intent::RollbackTo, &resume),
        (Relation::Same, Intent::Force, &resume),
        (Relation::Descendant, Intent::Deploy, &start),
        (Relation::Descendant, Intent::Force, &start),
        (Relation::Descendant, Intent::RollbackTo, &not_ancestor),
        (Relation::Ancestor, Intent::Deploy, &older),
        (Relation::Ancestor, Intent::Force, &older),
        (Relation::Ancestor, Intent::RollbackTo, &start),
        (Relation::Unrelated, Intent::Deploy, &unrelated),
        (Relation::Unrelated, Intent::RollbackTo, &unrelated),
        (Relation::Unrelated, Intent::Force, &start),
    ];
    for (relation, intent, expected) in cases {
        assert_eq!(
            &verdict(env, Some(relation), intent),
            expected,
            "{relation:?} {intent:?}"
        );
    }
    assert_eq!(verdict(env, None, Intent::Deploy), unrelated);
}

#[test]
fn refusal_reads_well_in_a_ci_log() {
    let refusal = Refusal::Older {
        intended: "9f8e7d6".to_owned(),
    };
    assert_eq!(
        refusal.explain("production", "3f2a9c1"),
        "refused: production already wants 9f8e7d6, which is newer than 3f2a9c1; \
         use --rollback-to to step back on purpose"
    );
}

#[test]
fn unlabelled_revision_is_named_by_short_sha() {
    let mut env = intended(1);
    env.label.clear();
    let Verdict::Refuse(refusal) = verdict(Some(&env), Some(Relation::Ancestor), Intent::Deploy)
    else {
        panic!("an ancestor must be refused");
    };
    assert_eq!(
        refusal,
        Refusal::Older {
            intended: "9f8e7d6".to_owned()
        }
    );
}

#[test]
fn superseded_only_by_a_greater_generation() {
    assert_eq!(superseded(3, None), None);
    assert_eq!(superseded(3, Some(&intended(3))), None);
    assert_eq!(superseded(3, Some(&intended(2))), None);
    assert_eq!(superseded(3, Some(&intended(4))), Some("v2.0.0".to_owned()));
}

fn relation() -> impl Strategy<Value = Relation> {
    prop_oneof![
        Just(Relation::Same),
        Just(Relation::Descendant),
        Just(Relation::Ancestor),
        Just(Relation::Unrelated),
    ]
}

fn intent() -> impl Strategy<Value = Intent> {
    prop_oneof![
        Just(Intent::Deploy),
        Just(Intent::Force),
        Just(Intent::RollbackTo)
    ]
}

proptest! {
    #[test]
    fn random_sequences_keep_the_rules(
        steps in proptest::collection::vec((relation(), intent()), 1..40)
    ) {
        let mut ledger: Option<EnvironmentRecord> = None;
        for (step, (relation, intent)) in steps.into_iter().enumerate() {
            let before = ledger.as_ref().map(|r| r.generation);
            let relation = ledger.as_ref().map(|_| relation);
            match verdict(ledger.as_ref(), relation, intent) {
                Verdict::Start { generation } => {
                    prop_assert!(generation > before.unwrap_or(0), "generation must grow");
                    prop_assert!(
                        relation != Some(Relation::Ancestor) || intent == Intent::RollbackTo,
                        "an older revision replaced a newer one without --rollback-to"
                    );
                    let mut record = intended(generation);
                    record.label = format!("step-{step}");
                    // Deciding again on what was just written is a resume.
                    prop_assert_eq!(
                        verdict(Some(&record), Some(Relation::Same), intent),
                        Verdict::Resume { generation }
                    );
                    ledger = Some(record);
                }
                Verdict::Resume { generation } => {
                    prop_assert_eq!(Some(generation), before, "resume keeps the generation");
                }
                Verdict::Refuse(_) => {
                    prop_assert!(before.is_some(), "an empty ledger refused a deploy");
                }
            }
            let after = ledger.as_ref().map(|r| r.generation);
            prop_assert!(after >= before, "generation decreased");
            if let (Some(before), Some(record)) = (before, ledger.as_ref()) {
                prop_assert_eq!(
                    superseded(before, Some(record)).is_some(),
                    record.generation > before
                );
            }
        }
    }
}
