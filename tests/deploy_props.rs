//! Properties of the wave planner over random environments and random
//! orders of cluster outcomes: a wave never starts before every cluster of
//! every earlier wave is Healthy and baked; nothing starts after a failure;
//! only waiting clusters are started; a deploy whose clusters all end
//! Healthy is Done, and one with a failure Stops once nothing is in flight.

use std::collections::BTreeMap;

use conductor::config::Cluster;
use conductor::deploy::waves::{self, Next, Standing};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

fn cluster(name: String, wave: u32) -> Cluster {
    Cluster {
        name,
        region: "r".into(),
        context: "c".into(),
        namespace: "n".into(),
        wave,
        controller_namespace: "conductor".into(),
    }
}

/// What happens to a started cluster, chosen per cluster.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Healthy,
    Failed,
}

fn environment() -> impl Strategy<Value = (Vec<Cluster>, Vec<Fate>, i64, Vec<u8>)> {
    (1..8usize).prop_flat_map(|n| {
        (
            proptest::collection::vec(1..4u32, n),
            proptest::collection::vec(
                prop_oneof![9 => Just(Fate::Healthy), 1 => Just(Fate::Failed)],
                n,
            ),
            0..3i64,
            proptest::collection::vec(any::<u8>(), 64),
        )
            .prop_map(|(waves, fates, bake, order)| {
                let clusters = waves
                    .into_iter()
                    .enumerate()
                    .map(|(i, w)| cluster(format!("c{i}"), w))
                    .collect();
                (clusters, fates, bake, order)
            })
    })
}

proptest! {
    #[test]
    fn waves_start_only_after_every_earlier_wave_is_healthy_and_baked(
        (clusters, fates, bake_seconds, order) in environment()
    ) {
        let plan = waves::waves(&clusters);
        let wave_of = |name: &str| clusters.iter().find(|c| c.name == name).map(|c| c.wave).unwrap();
        let fate_of = |name: &str| fates[clusters.iter().position(|c| c.name == name).unwrap()];
        let bake = SignedDuration::from_secs(bake_seconds);
        let mut now = Timestamp::from_second(1_800_000_000).unwrap();
        let mut standing: BTreeMap<String, Standing> = BTreeMap::new();
        let mut failed_seen = false;
        let mut choices = order.iter().cycle();
        for _ in 0..200 {
            match waves::next(&plan, &standing, bake, now) {
                Next::Start { wave, clusters: started } => {
                    prop_assert!(!failed_seen, "nothing starts after a failure");
                    prop_assert!(!started.is_empty());
                    for name in &started {
                        prop_assert_eq!(wave_of(name), wave);
                        prop_assert_eq!(standing.get(name).unwrap_or(&Standing::Waiting), &Standing::Waiting);
                        // Every cluster of an earlier wave is Healthy, and baked.
                        for other in clusters.iter().filter(|c| c.wave < wave) {
                            match standing.get(&other.name) {
                                Some(Standing::Healthy { since }) => {
                                    prop_assert!(since.saturating_add(bake).unwrap() <= now);
                                }
                                Some(Standing::AlreadyHealthy) => {}
                                other_state => prop_assert!(false, "{} is {:?}", other.name, other_state),
                            }
                        }
                        standing.insert(name.clone(), Standing::Deploying);
                    }
                }
                Next::Wait { until } => {
                    // One in-flight cluster finishes, in a random order.
                    let deploying: Vec<String> = standing
                        .iter()
                        .filter(|(_, s)| **s == Standing::Deploying)
                        .map(|(n, _)| n.clone())
                        .collect();
                    if deploying.is_empty() {
                        let until = until.expect("waiting on nothing in flight means baking");
                        prop_assert!(until > now);
                        now = until;
                        continue;
                    }
                    let pick = &deploying[usize::from(*choices.next().unwrap()) % deploying.len()];
                    now = now.saturating_add(SignedDuration::from_millis(700)).unwrap();
                    let next = match fate_of(pick) {
                        Fate::Healthy => Standing::Healthy { since: now },
                        Fate::Failed => {
                            failed_seen = true;
                            Standing::Failed
                        }
                    };
                    standing.insert(pick.clone(), next);
                }
                Next::Done => {
                    prop_assert!(!failed_seen);
                    let all_healthy = clusters
                        .iter()
                        .all(|c| matches!(standing.get(&c.name), Some(Standing::Healthy { .. })));
                    prop_assert!(all_healthy, "done with every cluster Healthy");
                    return Ok(());
                }
                Next::Stop { failed } => {
                    prop_assert!(failed_seen && !failed.is_empty());
                    prop_assert!(!standing.values().any(|s| *s == Standing::Deploying), "stops only once nothing is in flight");
                    // No cluster of a later wave than the first failure was touched.
                    let first = failed.iter().map(|f| wave_of(f)).min().unwrap();
                    for c in clusters.iter().filter(|c| c.wave > first) {
                        prop_assert!(!standing.contains_key(&c.name), "{} of wave {} was touched", c.name, c.wave);
                    }
                    return Ok(());
                }
            }
        }
        prop_assert!(false, "the planner never finished");
    }
}
