//! The wave planner: given where every cluster stands, what to do next.
//! Pure, so the rule "a wave starts only when every cluster of the
//! previous wave is Healthy (and has baked)" is checked by property tests
//! rather than promised by the orchestrator's control flow.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use crate::config::Cluster;

/// The clusters of one wave, deployed in parallel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    pub number: u32,
    pub clusters: Vec<String>,
}

/// Groups clusters by ascending `wave`, keeping config order within a wave.
pub fn waves(clusters: &[Cluster]) -> Vec<Wave> {
    let mut by_number: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for cluster in clusters {
        by_number
            .entry(cluster.wave)
            .or_default()
            .push(cluster.name.clone());
    }
    by_number
        .into_iter()
        .map(|(number, clusters)| Wave { number, clusters })
        .collect()
}

/// Where one cluster stands in this deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Not touched yet.
    Waiting,
    /// The ledger already has it Healthy at this revision: a resumed deploy
    /// skips it.
    AlreadyHealthy,
    /// Applied (or being applied); its rollout has not finished.
    Deploying,
    /// Healthy at this revision since `since`.
    Healthy { since: Timestamp },
    /// Rolled back by its analysis, degraded, or timed out.
    Failed,
}

impl Standing {
    fn is_healthy(&self) -> bool {
        matches!(self, Self::AlreadyHealthy | Self::Healthy { .. })
    }
}

/// The next thing the orchestrator does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Start these clusters now (one wave's, in parallel).
    Start { wave: u32, clusters: Vec<String> },
    /// Clusters are in flight, or a wave is baking: decide again when one
    /// of them changes, or at `until`.
    Wait { until: Option<Timestamp> },
    /// Every cluster is Healthy at this revision.
    Done,
    /// A cluster failed and nothing is in flight any more: no later wave
    /// is touched.
    Stop { failed: Vec<String> },
}

/// Decides the next step. A cluster missing from `standing` counts as
/// Waiting.
pub fn next(
    waves: &[Wave],
    standing: &BTreeMap<String, Standing>,
    bake: SignedDuration,
    now: Timestamp,
) -> Next {
    let of = |name: &String| standing.get(name).unwrap_or(&Standing::Waiting);
    let all = || waves.iter().flat_map(|w| w.clusters.iter());
    let failed: Vec<String> = all()
        .filter(|c| *of(c) == Standing::Failed)
        .cloned()
        .collect();
    if !failed.is_empty() {
        // Clusters already moving finish (their outcome is recorded); no
        // new one starts.
        return if all().any(|c| *of(c) == Standing::Deploying) {
            Next::Wait { until: None }
        } else {
            Next::Stop { failed }
        };
    }
    // When the previous wave became Healthy, for the bake time.
    let mut previous_healthy_since: Option<Timestamp> = None;
    for wave in waves {
        if wave.clusters.iter().all(|c| of(c).is_healthy()) {
            previous_healthy_since = wave
                .clusters
                .iter()
                .filter_map(|c| match of(c) {
                    Standing::Healthy { since } => Some(*since),
                    _ => None,
                })
                .max();
            continue;
        }
        if let Some(since) = previous_healthy_since {
            let baked_at = since.saturating_add(bake).unwrap_or(since);
            if baked_at > now {
                return Next::Wait {
                    until: Some(baked_at),
                };
            }
        }
        let waiting: Vec<String> = wave
            .clusters
            .iter()
            .filter(|c| *of(c) == Standing::Waiting)
            .cloned()
            .collect();
        return if waiting.is_empty() {
            Next::Wait { until: None }
        } else {
            Next::Start {
                wave: wave.number,
                clusters: waiting,
            }
        };
    }
    Next::Done
}

/// The waves this deploy brought to Healthy: every cluster Healthy at the
/// revision, at least one of them by this deploy (a resumed deploy's wave
/// that was Healthy already is no news).
pub fn done<'a>(waves: &'a [Wave], standing: &BTreeMap<String, Standing>) -> Vec<&'a Wave> {
    waves
        .iter()
        .filter(|wave| {
            let of = |c: &String| standing.get(c);
            wave.clusters
                .iter()
                .all(|c| of(c).is_some_and(Standing::is_healthy))
                && wave
                    .clusters
                    .iter()
                    .any(|c| matches!(of(c), Some(Standing::Healthy { .. })))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Vec<Wave> {
        vec![
            Wave {
                number: 1,
                clusters: vec!["eu".into()],
            },
            Wave {
                number: 2,
                clusters: vec!["us".into(), "ap".into()],
            },
        ]
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn waves_go_in_order_and_bake() {
        let waves = plan();
        let bake = SignedDuration::from_secs(60);
        let mut standing = BTreeMap::new();
        assert_eq!(
            next(&waves, &standing, bake, at(0)),
            Next::Start {
                wave: 1,
                clusters: vec!["eu".into()]
            }
        );
        standing.insert("eu".to_owned(), Standing::Deploying);
        assert_eq!(
            next(&waves, &standing, bake, at(1)),
            Next::Wait { until: None }
        );
        standing.insert("eu".to_owned(), Standing::Healthy { since: at(10) });
        assert_eq!(
            next(&waves, &standing, bake, at(20)),
            Next::Wait {
                until: Some(at(70))
            }
        );
        assert_eq!(
            next(&waves, &standing, bake, at(70)),
            Next::Start {
                wave: 2,
                clusters: vec!["us".into(), "ap".into()]
            }
        );
        standing.insert("us".to_owned(), Standing::AlreadyHealthy);
        assert_eq!(
            next(&waves, &standing, bake, at(70)),
            Next::Start {
                wave: 2,
                clusters: vec!["ap".into()]
            }
        );
        standing.insert("ap".to_owned(), Standing::Healthy { since: at(80) });
        assert_eq!(next(&waves, &standing, bake, at(80)), Next::Done);
    }

    #[test]
    fn a_failure_lets_the_wave_finish_and_starts_nothing() {
        let waves = plan();
        let mut standing = BTreeMap::new();
        standing.insert("eu".to_owned(), Standing::Healthy { since: at(0) });
        standing.insert("us".to_owned(), Standing::Failed);
        standing.insert("ap".to_owned(), Standing::Deploying);
        let zero = SignedDuration::ZERO;
        assert_eq!(
            next(&waves, &standing, zero, at(5)),
            Next::Wait { until: None }
        );
        standing.insert("ap".to_owned(), Standing::Healthy { since: at(6) });
        assert_eq!(
            next(&waves, &standing, zero, at(7)),
            Next::Stop {
                failed: vec!["us".into()]
            }
        );
    }

    #[test]
    fn a_wave_is_done_when_all_its_clusters_are_healthy_and_one_was_deployed_now() {
        let waves = plan();
        let numbers = |standing: &BTreeMap<String, Standing>| {
            done(&waves, standing)
                .iter()
                .map(|w| w.number)
                .collect::<Vec<_>>()
        };
        let mut standing = BTreeMap::new();
        assert!(numbers(&standing).is_empty());
        standing.insert("eu".to_owned(), Standing::AlreadyHealthy);
        standing.insert("us".to_owned(), Standing::AlreadyHealthy);
        standing.insert("ap".to_owned(), Standing::Deploying);
        assert!(numbers(&standing).is_empty(), "wave 1 was Healthy already");
        standing.insert("ap".to_owned(), Standing::Healthy { since: at(1) });
        assert_eq!(numbers(&standing), [2]);
        standing.insert("eu".to_owned(), Standing::Healthy { since: at(0) });
        standing.insert("us".to_owned(), Standing::Failed);
        assert_eq!(numbers(&standing), [1]);
    }
}
