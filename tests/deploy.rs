//! `conductor deploy` as CI runs it: the real binary against three
//! clusters (fake API servers over loopback HTTP, each with its workload
//! simulator and a real `conductor controller` process), the real helm,
//! a real source repository and a real bare ledger repository.

#[path = "support/common.rs"]
mod common;
#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/recorder.rs"]
mod recorder;
#[path = "support/servers.rs"]
mod servers;
#[path = "support/tls.rs"]
mod tls;
#[path = "support/webhooks.rs"]
mod webhooks;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fleet::{Fleet, FleetCluster};
use serde_json::Value;
use servers::{Response, handler};
use tls::TestCa;
use webhooks::Receiver;

fn state(fleet: &Fleet, cluster: &str) -> String {
    fleet.ledger_record(cluster)["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// How many deploy writes each cluster has seen; on the fakes also every
/// request under the deploy's field manager, changed something or not.
fn write_counts(fleet: &Fleet) -> Vec<(usize, Option<usize>)> {
    fleet
        .clusters
        .iter()
        .map(|c| (c.deploy_writes().len(), audited_writes(c)))
        .collect()
}

fn audited_writes(cluster: &FleetCluster) -> Option<usize> {
    let fake = cluster.fake()?;
    Some(
        fake.audit()
            .iter()
            .filter(|e| e.field_manager.as_deref() == Some(fleet::DEPLOY))
            .count(),
    )
}

/// The canary weight a route or, without one, the Rollout's status shows.
async fn canary_weight(fleet: &Fleet, cluster: &FleetCluster) -> Option<i64> {
    if fleet.routes {
        let route = cluster.get(fleet::ROUTES, "shop").await?;
        return route
            .pointer("/spec/rules/0/backendRefs/1/weight")
            .and_then(Value::as_i64);
    }
    let rollout = cluster.rollout().await?;
    rollout
        .pointer("/status/canary/weights/canary")
        .and_then(Value::as_i64)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_revision_goes_wave_by_wave_and_the_ledger_records_every_transition() {
    let fleet = Fleet::start().await;
    let first = fleet.commit("first release");
    fleet.deploy(&first, &[]).expect(0);
    for cluster in ["eu", "us", "ap"] {
        assert_eq!(state(&fleet, cluster), "Healthy");
    }
    let commits_before = fleet.ledger_log().len();

    let second = fleet.commit("second release");
    let run = fleet.deploy(&second, &[]).expect(0);
    let out = run.stdout();
    assert!(out.contains("[wave 1] eu: applying"), "{out}");
    // The canary really ran its steps: the controller put 50% on it.
    let history = fleet.cluster("eu").history();
    let at_half = |kind: fleet::Kind, path: &str| {
        history
            .iter()
            .any(|seen| seen.kind == kind && seen.pointer(path) == Some(&Value::from(50)))
    };
    assert!(at_half(fleet::ROLLOUTS, "/status/canary/weights/canary"));
    if fleet.routes {
        assert!(at_half(fleet::ROUTES, "/spec/rules/0/backendRefs/1/weight"));
    }
    assert!(out.contains("deployed"), "{out}");

    let sha = fleet.sha(&second);
    for cluster in ["eu", "us", "ap"] {
        let record = fleet.ledger_record(cluster);
        assert_eq!(record["state"], "Healthy", "{cluster}: {record:?}");
        assert_eq!(record["revision"].as_str(), Some(sha.as_str()));
        assert_eq!(
            record["previousRevision"].as_str(),
            Some(fleet.sha(&first).as_str())
        );
        assert_eq!(
            fleet.cluster(cluster).rollout_revision().await.as_deref(),
            Some(second.as_str())
        );
    }
    // A commit per transition, in order: the intent, wave 1 Deploying, eu
    // Healthy, wave 2 Deploying, then us and ap Healthy (one commit when
    // they end at the same moment).
    let log = fleet.ledger_log();
    let ours = &log[commits_before..];
    let position = |what: &str| {
        ours.iter()
            .position(|s| s.contains(what))
            .unwrap_or_else(|| panic!("no `{what}` in {ours:#?}"))
    };
    assert!(ours.len() == 5 || ours.len() == 6, "{ours:#?}");
    assert!(position(&format!("wants {second}")) < position("wave 1: Deploying"));
    assert!(position("wave 1: Deploying") < position("eu: Healthy"));
    assert!(position("eu: Healthy") < position("wave 2: Deploying"));
    assert!(position("wave 2: Deploying") < position("us: Healthy"));
    assert!(position("wave 2: Deploying") < position("ap: Healthy"));

    // A retried CI job: the same revision resumes, every cluster is already
    // Healthy at it, nothing is written; one JSON document for scripts.
    let writes = write_counts(&fleet);
    let again = fleet.deploy(&second, &["--output", "json"]).expect(0);
    let report: Value = serde_json::from_str(&again.stdout()).expect("one JSON document");
    assert_eq!(report["exitCode"], 0);
    assert_eq!(report["revision"].as_str(), Some(sha.as_str()));
    assert_eq!(report["clusters"].as_array().map(Vec::len), Some(3));
    assert!(
        report["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "Healthy")
    );
    assert_eq!(
        writes,
        write_counts(&fleet),
        "clusters already Healthy at the revision are skipped"
    );

    // Wave 2 was written only after eu was Healthy at the new revision,
    // for the generation the deploy gave it.
    let eu_healthy = fleet
        .cluster("eu")
        .healthy_since(&second)
        .expect("eu became Healthy");
    for cluster in ["us", "ap"] {
        let writes = fleet.cluster(cluster).writes_of(&sha);
        assert!(!writes.is_empty(), "{cluster} received the release");
        for write in writes {
            assert!(
                write.time > eu_healthy,
                "{cluster} written at {} before eu was Healthy at {eu_healthy}",
                write.time
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_revision_rolls_back_in_wave_one_and_wave_two_receives_nothing() {
    let fleet = Fleet::start().await;
    let good = fleet.commit("good release");
    fleet.deploy(&good, &[]).expect(0);
    let bad = fleet.commit("bad release");
    fleet.mark_bad(&bad);
    let before = write_counts(&fleet);

    let run = fleet.deploy(&bad, &[]).expect(1);
    let out = run.all();
    assert!(out.contains("eu") && out.contains("Failed"), "{out}");

    let eu = fleet.ledger_record("eu");
    assert_eq!(eu["state"], "Failed", "{eu:?}");
    let message = eu["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Rollout shop"),
        "the ledger says why: {message}"
    );
    let rollout = fleet.cluster("eu").rollout().await.unwrap();
    assert_eq!(
        rollout.pointer("/status/phase").and_then(Value::as_str),
        Some("Degraded")
    );
    assert_eq!(
        rollout
            .pointer("/status/stableRevision")
            .and_then(Value::as_str),
        Some(good.as_str()),
        "eu still serves the good revision"
    );
    let after = write_counts(&fleet);
    assert_eq!(before[1..], after[1..], "wave 2 received no write at all");
    for cluster in ["us", "ap"] {
        assert_eq!(state(&fleet, cluster), "Healthy");
        assert_eq!(
            fleet.cluster(cluster).rollout_revision().await.as_deref(),
            Some(good.as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_revision_is_refused_and_no_cluster_receives_a_write() {
    let fleet = Fleet::start().await;
    let older = fleet.commit("older");
    let newer = fleet.commit("newer");
    fleet.deploy(&newer, &[]).expect(0);
    let writes = write_counts(&fleet);
    let ledger = fleet.ledger_log();

    let run = fleet.deploy(&older, &[]).expect(3);
    assert!(run.all().contains("refused"), "{}", run.all());
    let json = fleet.deploy(&older, &["--output", "json"]).expect(3);
    let report: Value = serde_json::from_str(&json.stdout()).expect("one JSON document");
    assert_eq!(report["exit"], "refused");
    assert!(
        run.all().contains(&newer),
        "names the newer revision: {}",
        run.all()
    );
    assert_eq!(writes, write_counts(&fleet), "no cluster received a write");
    assert_eq!(fleet.ledger_log(), ledger, "the ledger is untouched");

    // Stepping back on purpose is allowed, and recorded as such.
    fleet.rollback_to(&older).expect(0);
    let eu = fleet.ledger_record("eu");
    assert_eq!(eu["rollback"], true, "{eu:?}");
    assert_eq!(
        fleet.cluster("eu").rollout_revision().await.as_deref(),
        Some(older.as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_dropped_from_the_chart_is_pruned_and_others_are_left_alone() {
    let fleet = Fleet::start().await;
    let with_extra = fleet.set_value("extraConfig: false", "extraConfig: true");
    fleet.deploy(&with_extra, &[]).expect(0);
    for cluster in &fleet.clusters {
        assert!(
            cluster
                .get(fleet::CONFIG_MAPS, "shop-extra")
                .await
                .is_some()
        );
        // Someone else's ConfigMap, not applied by Conductor.
        cluster
            .create(
                fleet::CONFIG_MAPS,
                serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "not-ours"}, "data": {"a": "b"}}),
            )
            .await;
    }
    let without = fleet.set_value("extraConfig: true", "extraConfig: false");
    let run = fleet.deploy(&without, &[]).expect(0);
    for cluster in &fleet.clusters {
        let pruned = format!("pruned ConfigMap {}/shop-extra", cluster.namespace);
        assert!(run.stdout().contains(&pruned), "{}", run.stdout());
        assert!(
            cluster
                .get(fleet::CONFIG_MAPS, "shop-extra")
                .await
                .is_none(),
            "{}: shop-extra pruned",
            cluster.name
        );
        assert!(cluster.get(fleet::CONFIG_MAPS, "not-ours").await.is_some());
        // A watcher saw the prune as one of the deploy's writes.
        assert!(
            cluster
                .deploy_writes()
                .iter()
                .any(|w| w.deleted && w.name == "shop-extra"),
            "{}",
            cluster.name
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_left_from_the_previous_generation_never_starts_the_next_wave() {
    let mut fleet = Fleet::start().await;
    let first = fleet.commit("first");
    fleet.deploy(&first, &[]).expect(0);
    // eu's controller stops: its Rollout keeps saying Healthy, for the
    // previous generation.
    fleet.cluster_mut("eu").kill_controller();
    let before = write_counts(&fleet);
    let second = fleet.commit("second");
    let run = fleet.deploy(&second, &["--timeout", "3s"]).expect(4);
    assert!(run.all().contains("generation"), "{}", run.all());
    let rollout = fleet.cluster("eu").rollout().await.unwrap();
    assert_eq!(
        rollout.pointer("/status/phase").and_then(Value::as_str),
        Some("Healthy")
    );
    assert_eq!(
        write_counts(&fleet)[1..],
        before[1..],
        "wave 2 never started"
    );
    let eu = fleet.ledger_record("eu");
    assert!(
        eu["message"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{eu:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn preflight_reports_every_problem_at_once_and_applies_nothing() {
    let fleet = Fleet::start_with(fleet::Options {
        without_routes: vec!["us"],
        without_controller: vec!["eu"],
        unserved_kind_in: vec!["us"],
    })
    .await;
    let ap = fleet.cluster("ap");
    let denied = match ap.fake() {
        Some(fake) => {
            fake.deny(fakeapi::AccessRule {
                identity: Some(ap.deployer_user()),
                verbs: vec!["patch".into()],
                group: "conductor.dev".into(),
                resource: Some("rollouts".into()),
                namespace: None,
            });
            true
        }
        None => {
            eprintln!("SKIPPED: a denied permission (needs the fake's access rules)");
            false
        }
    };
    let release = fleet.commit("release");
    let run = fleet.deploy(&release, &[]).expect(1);
    let out = run.all();
    assert!(
        out.contains("cluster us: Widget (widgets.example.com/v1) is not served"),
        "{out}"
    );
    if fleet.is_fake() {
        assert!(
            out.contains("cluster us: HTTPRoute (gateway.networking.k8s.io/v1) is not served"),
            "{out}"
        );
    }
    assert!(
        out.contains("cluster eu: no Conductor controller runs here"),
        "{out}"
    );
    if denied {
        assert!(
            out.contains("cluster ap: not allowed to patch rollouts.conductor.dev"),
            "{out}"
        );
    }
    assert!(out.contains("nothing was applied"), "{out}");
    for cluster in &fleet.clusters {
        assert!(
            cluster.deploy_writes().is_empty() && audited_writes(cluster).unwrap_or(0) == 0,
            "{} was written",
            cluster.name
        );
    }
    assert!(
        fleet
            .ledger_file("shop/production/_environment.yaml")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_landing_mid_canary_leaves_the_controllers_weights_and_selectors() {
    let fleet = Fleet::start().await;
    let first = fleet.commit("first");
    fleet.deploy(&first, &[]).expect(0);
    let held = fleet.set_value("holdAtHalf: false", "holdAtHalf: true");
    // The canary holds at 50% until promoted: the deploy times out there.
    fleet.deploy(&held, &["--timeout", "3s"]).expect(4);
    let eu = fleet.cluster("eu");
    eu.wait_for_rollout("paused at 50%", |r| {
        r.pointer("/status/phase").and_then(Value::as_str) == Some("Paused")
    })
    .await;
    let selector = || async {
        eu.get(fleet::SERVICES, "shop-canary").await.and_then(|s| {
            s.pointer("/spec/selector/conductor.dev~1pod-template-hash")
                .cloned()
        })
    };
    assert_eq!(canary_weight(&fleet, eu).await, Some(50));
    let pinned = selector().await.expect("the canary Service is pinned");

    // The same revision again (a retried CI job): every object is applied
    // again, and the controller's runtime fields stay as they are.
    let audited = audited_writes(eu);
    let run = fleet.deploy(&held, &["--timeout", "2s"]).expect(4);
    if let Some(before) = audited {
        assert!(
            audited_writes(eu).unwrap() > before,
            "the deploy applied again"
        );
    }
    if fleet.routes {
        assert!(
            run.stdout().contains("left to the controller"),
            "{}",
            run.stdout()
        );
    }
    assert_eq!(
        canary_weight(&fleet, eu).await,
        Some(50),
        "the weight stays at 50%"
    );
    assert_eq!(selector().await, Some(pinned));
}

/// Waits until eu's Rollout asks for `revision`: wave 1 is in flight.
async fn wait_for_wave_one(fleet: &Fleet, revision: &str) {
    fleet
        .cluster("eu")
        .wait_for_rollout(&format!("at {revision}"), |r| {
            r.pointer("/spec/template/metadata/annotations/conductor.dev~1revision")
                .and_then(Value::as_str)
                == Some(revision)
        })
        .await;
}

/// Starts a deploy of a revision slow to analyse and stops it with
/// `signal` while wave 1 is in flight, as a cancelled CI job would be.
async fn interrupt_mid_wave(fleet: &Fleet, what: &str, signal: &str) -> String {
    let slow = fleet.commit(what);
    fleet.mark_slow(&slow);
    let child = fleet.spawn_deploy(&slow, &[]);
    let pid = child.id();
    wait_for_wave_one(fleet, &slow).await;
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(130), "{signal}: {out}");
    assert!(out.contains("interrupted"), "{signal}: {out}");
    assert_eq!(state(fleet, "eu"), "Interrupted", "{signal}");
    assert!(fleet.cluster("us").writes_of(&fleet.sha(&slow)).is_empty());
    slow
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_or_sigterm_mid_wave_records_interrupted_and_the_next_deploy_finishes() {
    let fleet = Fleet::start().await;
    let first = fleet.commit("first");
    fleet.deploy(&first, &[]).expect(0);
    for signal in ["-INT", "-TERM"] {
        let slow = interrupt_mid_wave(&fleet, &format!("slow, stopped by {signal}"), signal).await;
        // A second deploy of the same revision finishes the work.
        fleet.deploy(&slow, &[]).expect(0);
        for cluster in ["eu", "us", "ap"] {
            assert_eq!(state(&fleet, cluster), "Healthy");
            assert_eq!(
                fleet.cluster(cluster).rollout_revision().await.as_deref(),
                Some(slow.as_str())
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revision_from_another_history_needs_force() {
    let fleet = Fleet::start().await;
    let base = fleet.commit("base");
    let main = fleet.commit("on main");
    fleet.deploy(&main, &[]).expect(0);
    // A side branch: neither newer nor older than what production wants.
    let side = fleet.commit_on_branch("hotfix", &base, "on a side branch");
    let writes = write_counts(&fleet);
    let run = fleet.deploy(&side, &[]).expect(3);
    assert!(
        run.all().contains("--force") && run.all().contains(&main),
        "{}",
        run.all()
    );
    assert_eq!(writes, write_counts(&fleet), "no cluster received a write");

    fleet.deploy(&side, &["--force"]).expect(0);
    for cluster in ["eu", "us", "ap"] {
        assert_eq!(state(&fleet, cluster), "Healthy");
        assert_eq!(
            fleet.cluster(cluster).rollout_revision().await.as_deref(),
            Some(side.as_str())
        );
    }
    // From there, main's newer commits are unrelated again: no silent
    // replacement of the forced revision either.
    let next = fleet.commit("next on main");
    fleet.deploy(&next, &[]).expect(3);
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_deploys_end_at_the_newest_and_no_cluster_moves_backwards() {
    let fleet = Fleet::start().await;
    let base = fleet.commit("base");
    fleet.deploy(&base, &[]).expect(0);
    let revisions: Vec<String> = (1..=20)
        .map(|i| fleet.commit(&format!("change {i}")))
        .collect();
    // Random revisions along the branch, reproducible from the printed seed.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("seed {seed}");
    let mut picks = Vec::new();
    for _ in 0..20 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        picks.push((seed >> 33) as usize % revisions.len());
    }
    let newest = &revisions[*picks.iter().max().unwrap()];
    let children: Vec<_> = picks
        .iter()
        .map(|&i| (revisions[i].clone(), fleet.spawn_deploy(&revisions[i], &[])))
        .collect();
    for (revision, child) in children {
        let output = child.wait_with_output().unwrap();
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let code = output.status.code();
        assert!(
            code == Some(0) || code == Some(3),
            "deploy of {revision} exited {code:?}:\n{out}"
        );
        if revision == *newest {
            assert_eq!(code, Some(0), "the newest deploy finishes:\n{out}");
        }
    }
    let sha = fleet.sha(newest);
    let intended = fleet
        .ledger_file("shop/production/_environment.yaml")
        .unwrap();
    assert!(intended.contains(&sha), "{intended}");
    let order = |revision: &str| {
        std::iter::once(&base)
            .chain(&revisions)
            .position(|r| r == revision)
            .unwrap_or_else(|| panic!("{revision} is not one of the branch's revisions"))
    };
    for cluster in &fleet.clusters {
        let record = fleet.ledger_record(&cluster.name);
        assert_eq!(record["state"], "Healthy", "{}: {record:?}", cluster.name);
        assert_eq!(record["revision"].as_str(), Some(sha.as_str()));
        assert_eq!(
            cluster.rollout_revision().await.as_deref(),
            Some(newest.as_str())
        );
        // Every version of the Rollout a watcher saw, in order.
        let history: Vec<usize> = cluster
            .rollout_revisions()
            .iter()
            .map(|r| order(r))
            .collect();
        assert!(
            history.windows(2).all(|w| w[0] <= w[1]),
            "{} moved backwards: {history:?}",
            cluster.name
        );
        if let Some(fake) = cluster.fake() {
            // The fake's audit log has every request, even those a watch
            // coalesced.
            let requested: Vec<usize> = fake
                .audit()
                .into_iter()
                .filter(|e| e.field_manager.as_deref() == Some(fleet::DEPLOY))
                .filter(|e| e.path.ends_with("/rollouts/shop"))
                .filter_map(|e| {
                    let sha = e
                        .object
                        .as_ref()?
                        .pointer("/metadata/annotations/conductor.dev~1deploy-commit")?
                        .as_str()?
                        .to_owned();
                    std::iter::once(&base)
                        .chain(&revisions)
                        .position(|r| fleet.sha(r) == sha)
                })
                .collect();
            assert!(
                requested.windows(2).all(|w| w[0] <= w[1]),
                "{} was asked to move backwards: {requested:?}",
                cluster.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_killed_mid_wave_is_taken_over_by_the_next() {
    let fleet = Fleet::start().await;
    let first = fleet.commit("first");
    fleet.deploy(&first, &[]).expect(0);
    let slow = fleet.commit("slow to analyse");
    fleet.mark_slow(&slow);
    let mut child = fleet.spawn_deploy(&slow, &[]);
    wait_for_wave_one(&fleet, &slow).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(state(&fleet, "eu"), "Deploying", "SIGKILL leaves Deploying");
    let newer = fleet.commit("newer");
    fleet.deploy(&newer, &[]).expect(0);
    for cluster in ["eu", "us", "ap"] {
        assert_eq!(state(&fleet, cluster), "Healthy");
        assert_eq!(
            fleet.cluster(cluster).rollout_revision().await.as_deref(),
            Some(newer.as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn on_failure_rollback_returns_the_clusters_this_deploy_moved() {
    let fleet = Fleet::start().await;
    let good = fleet.commit("good");
    fleet.deploy(&good, &[]).expect(0);
    let bad = fleet.commit("bad in ap only");
    fleet.mark_bad_in(&bad, "ap");
    let run = fleet.deploy(&bad, &["--on-failure", "rollback"]).expect(1);
    assert!(
        run.stdout().contains("rollback: eu back to"),
        "{}",
        run.stdout()
    );
    for cluster in ["eu", "us", "ap"] {
        let record = fleet.ledger_record(cluster);
        assert_eq!(record["state"], "RolledBack", "{cluster}: {record:?}");
        assert_eq!(record["revision"].as_str(), Some(fleet.sha(&good).as_str()));
        assert_eq!(
            fleet.cluster(cluster).rollout_revision().await.as_deref(),
            Some(good.as_str())
        );
    }
    let intended = fleet
        .ledger_file("shop/production/_environment.yaml")
        .unwrap();
    assert!(
        intended.contains(&fleet.sha(&good)) && intended.contains("rollback: true"),
        "{intended}"
    );
    // The bad revision is now older than nothing: deploying it again is a
    // normal deploy (it descends from the good one), and a newer fix works.
    let fix = fleet.commit("fix");
    fleet.deploy(&fix, &[]).expect(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wave_bakes_before_the_next_starts_and_status_and_history_tell_the_story() {
    let fleet = Fleet::start().await;
    let config = fleet.repo.join("conductor-config/shop.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("  production:\n", "  production:\n    bakeTime: 2s\n"),
    )
    .unwrap();
    let release = fleet.commit("bake for 2s");
    fleet.deploy(&release, &[]).expect(0);
    let eu_healthy = fleet
        .cluster("eu")
        .healthy_since(&release)
        .expect("eu became Healthy");
    let us_first = fleet.cluster("us").deploy_writes()[0].time;
    let waited = us_first.duration_since(eu_healthy);
    assert!(
        waited >= jiff::SignedDuration::from_secs(2),
        "wave 2 started {waited:?} after wave 1 was Healthy"
    );

    let status = fleet
        .conductor(&["status", "shop", "--env", "production", "--live"])
        .expect(0);
    let out = status.stdout();
    for cluster in ["eu", "us", "ap"] {
        assert!(out.contains(cluster), "{out}");
    }
    assert!(
        out.contains(&format!("live: shop: Healthy at {release}")),
        "{out}"
    );
    let json = fleet
        .conductor(&["status", "shop", "--env", "production", "--output", "json"])
        .expect(0);
    let parsed: Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(parsed[0]["clusters"][0]["record"]["state"], "Healthy");

    let history = fleet
        .conductor(&["history", "shop", "--env", "production", "--cluster", "us"])
        .expect(0);
    let text = history.stdout();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().any(|l| l.contains("Deploying")), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("us: Healthy")),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_an_autoscaler_set_survive_a_deploy_and_deployments_are_waited_for() {
    let fleet = Fleet::start().await;
    let first = fleet.commit("first");
    fleet.deploy(&first, &[]).expect(0);
    // An HPA scales the Rollout through its scale subresource, as the
    // kube-controller-manager does.
    let eu = fleet.cluster("eu");
    let rollouts: kube::Api<conductor::crd::rollout::Rollout> =
        kube::Api::namespaced(eu.client_as("kube-controller-manager"), &eu.namespace);
    let as_autoscaler = kube::api::PatchParams {
        field_manager: Some("kube-controller-manager".into()),
        ..Default::default()
    };
    rollouts
        .patch_scale(
            "shop",
            &as_autoscaler,
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": 5}})),
        )
        .await
        .expect("scale the rollout");

    let second = fleet.commit("second");
    let run = fleet.deploy(&second, &[]).expect(0);
    assert!(
        run.stdout()
            .contains(".spec.replicas (kube-controller-manager)"),
        "{}",
        run.stdout()
    );
    let rollout = eu.rollout().await.unwrap();
    assert_eq!(
        rollout.pointer("/spec/replicas"),
        Some(&Value::from(5)),
        "the autoscaler's replicas stay"
    );
    assert_eq!(
        eu.rollout_revision().await.as_deref(),
        Some(second.as_str())
    );
    // The Deployment beside it was rolled to the new revision and waited for.
    let worker = eu.get(fleet::DEPLOYMENTS, "shop-worker").await.unwrap();
    let revision = worker
        .pointer("/spec/template/metadata/annotations/conductor.dev~1revision")
        .and_then(Value::as_str);
    assert_eq!(revision, Some(second.as_str()), "{worker:?}");
    let updated = worker
        .pointer("/status/updatedReplicas")
        .and_then(Value::as_i64);
    assert_eq!(updated, Some(1), "{worker:?}");
}

/// When a watcher first saw the migration Job of `sha` complete.
fn migrated_at(cluster: &FleetCluster, sha: &str) -> Option<jiff::Timestamp> {
    cluster.history().into_iter().find_map(|seen| {
        let complete = seen.kind == fleet::JOBS
            && seen.annotation("conductor.dev/deploy-commit") == Some(sha)
            && seen
                .pointer("/status/conditions")?
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Complete" && c["status"] == "True");
        complete.then_some(seen.time)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_migration_runs_first_and_a_failed_one_fails_its_cluster_before_the_rollout() {
    let fleet = Fleet::start().await;
    let good = fleet.commit("good");
    fleet.deploy(&good, &[]).expect(0);
    // Every cluster migrated before its Rollout was written.
    let sha = fleet.sha(&good);
    for cluster in &fleet.clusters {
        let migrated = migrated_at(cluster, &sha)
            .unwrap_or_else(|| panic!("{}: no completed migration", cluster.name));
        let rollout_written = cluster
            .writes_of(&sha)
            .into_iter()
            .find(|w| w.kind == fleet::ROLLOUTS)
            .expect("the Rollout was written")
            .time;
        assert!(
            migrated < rollout_written,
            "{}: the Rollout was written at {rollout_written}, before the migration completed at {migrated}",
            cluster.name
        );
    }

    let broken = fleet.set_value("migrationExitCode: 0", "migrationExitCode: 1");
    let before = write_counts(&fleet);
    let run = fleet.deploy(&broken, &[]).expect(1);
    let out = run.all();
    assert!(
        out.contains("hook Job shop-migrate failed: BackoffLimitExceeded")
            && out.contains("container migrate exited 1"),
        "{out}"
    );
    let eu = fleet.ledger_record("eu");
    assert_eq!(eu["state"], "Failed", "{eu:?}");
    assert!(
        eu["message"]
            .as_str()
            .is_some_and(|m| m.contains("Job shop-migrate") && m.contains("exited 1")),
        "{eu:?}"
    );
    let eu_cluster = fleet.cluster("eu");
    let broken_sha = fleet.sha(&broken);
    let touched: Vec<&str> = eu_cluster
        .writes_of(&broken_sha)
        .iter()
        .map(|w| w.kind.kind)
        .collect();
    assert_eq!(touched, ["Job"], "only the migration ran in eu");
    assert_eq!(
        eu_cluster.rollout_revision().await.as_deref(),
        Some(good.as_str())
    );
    assert_eq!(before[1..], write_counts(&fleet)[1..], "wave 2 untouched");

    // The fix goes out: the failed Job is replaced by a new run.
    let fixed = fleet.set_value("migrationExitCode: 1", "migrationExitCode: 0");
    fleet.deploy(&fixed, &[]).expect(0);
    assert!(migrated_at(eu_cluster, &fleet.sha(&fixed)).is_some());
    for cluster in ["eu", "us", "ap"] {
        assert_eq!(state(&fleet, cluster), "Healthy");
    }
}

/// The `event` of each body.
fn events(bodies: &[Value]) -> Vec<&str> {
    bodies
        .iter()
        .map(|b| b["event"].as_str().unwrap_or_default())
        .collect()
}

/// The report's line for `target`'s `event` message.
fn delivery<'a>(report: &'a Value, target: &str, event: &str) -> &'a Value {
    report["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["target"] == target && d["event"] == event)
        .unwrap_or_else(|| panic!("no {target} {event} in {report:#}"))
}

/// No webhook URL (nor any part of one) and no kubeconfig token in what
/// a deploy printed, in the ledger or in a notification: they are secrets.
fn assert_no_secret(fleet: &Fleet, hooks: &Receiver, printed: &str) {
    let bodies: Vec<String> = hooks
        .requests()
        .iter()
        .map(|r| r.body.to_string())
        .collect();
    for (what, text) in [
        ("the output", printed),
        ("the ledger", &fleet.ledger_patches()),
        ("the notifications", &bodies.join("\n")),
    ] {
        assert!(!text.is_empty(), "{what} is empty");
        assert!(
            !text.contains(hooks.base()),
            "a webhook URL in {what}:\n{text}"
        );
        assert!(
            !text.contains("s3cr3t"),
            "a webhook URL's path in {what}:\n{text}"
        );
        for token in [crate::fleet::DEPLOYER_TOKEN, crate::fleet::CONTROLLER_TOKEN] {
            assert!(
                !text.contains(token),
                "a kubeconfig token in {what}:\n{text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn notifications_say_who_shipped_what_where_and_a_target_that_fails_never_fails_the_deploy() {
    let mut fleet = Fleet::start().await;
    let hooks = Receiver::start().await;
    let audit_file = fleet.dir().join("audit-hook");
    std::fs::write(&audit_file, hooks.url("flaky", "audit-s3cr3t")).unwrap();
    fleet.set_env("CHAT_HOOK", &hooks.url("ok", "chat-s3cr3t"));
    fleet.set_env("DOWN_HOOK", &hooks.url("down", "down-s3cr3t"));
    fleet.notify(&format!(
        "\
- name: chat
  type: slack
  urlFrom: {{env: CHAT_HOOK}}
  events: [started, clusterFailed, finished, refused]
- name: audit
  type: webhook
  urlFrom: {{file: {}}}
- name: down
  type: webhook
  urlFrom: {{env: DOWN_HOOK}}
  events: [finished]
- name: missing
  type: webhook
  urlFrom: {{env: CONDUCTOR_TEST_UNSET_HOOK}}
",
        audit_file.display()
    ));

    // The first deploy: audit answers 500 twice before taking its first
    // message; down never takes one; missing has no URL. All reported, and
    // none of it changes the exit code.
    let first = fleet.commit("first release");
    let run = fleet.deploy(&first, &["--output", "json"]).expect(0);
    let mut printed = run.all();
    let report: Value = serde_json::from_str(&run.stdout()).expect("one JSON document");
    assert!(
        run.stderr().contains(
            "warning: notification target missing skipped: environment variable \
             CONDUCTOR_TEST_UNSET_HOOK is not set (or empty)"
        ),
        "{}",
        run.stderr()
    );
    let started = delivery(&report, "audit", "started");
    assert_eq!(started["outcome"], "delivered", "{report:#}");
    assert_eq!(started["attempts"], 3, "{report:#}");
    let down = delivery(&report, "down", "finished");
    assert_eq!(down["outcome"], "failed", "{report:#}");
    assert_eq!(down["attempts"], 4, "{report:#}");
    assert_eq!(
        down["detail"],
        "the target answered HTTP 500 Internal Server Error (after 4 attempts)"
    );
    assert_eq!(hooks.count("down", "down-s3cr3t"), 4);
    let skipped = report["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["target"] == "missing")
        .unwrap();
    assert_eq!(skipped["outcome"], "skipped");
    let first_deploy = hooks.delivered("flaky", "audit-s3cr3t");
    assert_eq!(
        events(&first_deploy),
        ["started", "waveDone", "waveDone", "finished"]
    );
    assert_eq!(first_deploy[0]["previousRevision"], Value::Null);
    assert_eq!(
        first_deploy[0]["changes"]["commits"][0]["subject"],
        "first release"
    );

    // Two commits later: every message names the revision, the one before
    // and the commits between them, in order.
    let second = fleet.commit("second release");
    let third = fleet.commit("third release: fix <cart> & checkout");
    let run = fleet.deploy(&third, &[]).expect(0);
    printed.push_str(&run.all());
    assert!(
        run.stdout()
            .contains("notifications: 6 delivered, 1 failed, 1 target(s) skipped"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout()
            .contains("  down: finished not delivered: the target answered HTTP 500"),
        "{}",
        run.stdout()
    );
    let audit = hooks.delivered("flaky", "audit-s3cr3t");
    let audit = &audit[first_deploy.len()..];
    assert_eq!(
        events(audit),
        ["started", "waveDone", "waveDone", "finished"]
    );
    let (sha, previous) = (fleet.sha(&third), fleet.sha(&first));
    for body in audit {
        assert_eq!(body["service"], "shop");
        assert_eq!(body["environment"], "production");
        assert_eq!(body["clusters"], serde_json::json!(["eu", "us", "ap"]));
        assert_eq!(body["revision"]["sha"].as_str(), Some(sha.as_str()));
        assert_eq!(body["revision"]["label"].as_str(), Some(third.as_str()));
        assert_eq!(
            body["previousRevision"]["sha"].as_str(),
            Some(previous.as_str())
        );
        assert_eq!(body["by"], "tests");
        let commits: Vec<(&str, &str, &str)> = body["changes"]["commits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["short"].as_str().unwrap(),
                    c["subject"].as_str().unwrap(),
                    c["author"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            commits,
            [
                (
                    third.as_str(),
                    "third release: fix <cart> & checkout",
                    "dev"
                ),
                (second.as_str(), "second release", "dev"),
            ]
        );
        assert_eq!(body["changes"]["more"], 0);
    }
    assert_eq!(audit[0]["generation"], 2);
    assert_eq!(
        (audit[1]["wave"].as_u64(), &audit[1]["eventClusters"]),
        (Some(1), &serde_json::json!(["eu"]))
    );
    assert_eq!(
        (audit[2]["wave"].as_u64(), &audit[2]["eventClusters"]),
        (Some(2), &serde_json::json!(["us", "ap"]))
    );
    assert_eq!(audit[3]["outcome"], "deployed");

    // Slack gets text only, for the events it asked for, escaped.
    let chat = hooks.delivered("ok", "chat-s3cr3t");
    let chat: Vec<&str> = chat[2..]
        .iter()
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    assert_eq!(chat.len(), 2, "{chat:#?}");
    assert!(
        chat[0].starts_with(&format!(
            ":rocket: *shop* to *production*: deploying `{third}` (was `{first}`) on eu, us, ap, by tests\n2 commits since `{first}`:\n• `{third}` third release: fix &lt;cart&gt; &amp; checkout (dev)\n• `{second}` second release (dev)"
        )),
        "{}",
        chat[0]
    );
    assert!(
        chat[1].starts_with(&format!(
            ":tada: *shop* to *production*: `{third}` (was `{first}`) deployed on eu, us, ap"
        )),
        "{}",
        chat[1]
    );

    // An older revision is refused, and the targets are told why.
    let run = fleet.deploy(&second, &[]).expect(3);
    printed.push_str(&run.all());
    let refused = hooks.delivered("flaky", "audit-s3cr3t");
    let refused = refused.last().unwrap();
    assert_eq!(refused["event"], "refused");
    assert_eq!(refused["revision"]["label"].as_str(), Some(second.as_str()));
    assert_eq!(
        refused["previousRevision"]["sha"].as_str(),
        Some(sha.as_str())
    );
    assert_eq!(refused["changes"]["rollback"], true);
    assert!(
        refused["reason"].as_str().unwrap().contains("newer"),
        "{refused:#}"
    );
    let chat = hooks.delivered("ok", "chat-s3cr3t");
    assert!(
        chat.last().unwrap()["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                ":no_entry: *shop* to *production*: `{second}` refused"
            )),
        "{chat:#?}"
    );

    assert_no_secret(&fleet, &hooks, &printed);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_revision_notifies_the_cluster_that_failed_with_the_measurement_that_decided_it() {
    let mut fleet = Fleet::start().await;
    let hooks = Receiver::start().await;
    fleet.set_env("AUDIT_HOOK", &hooks.url("ok", "audit-s3cr3t"));
    fleet.notify(
        "\
- name: audit
  type: webhook
  urlFrom: {env: AUDIT_HOOK}
",
    );
    let good = fleet.commit("good release");
    fleet.deploy(&good, &[]).expect(0);
    let before = hooks.delivered("ok", "audit-s3cr3t").len();
    let bad = fleet.commit("bad release");
    fleet.mark_bad(&bad);

    let run = fleet.deploy(&bad, &[]).expect(1);
    let out = run.all();
    assert!(
        out.contains("eu: Failed: Rollout shop")
            && out.contains(
                "(analysis: error-rate = 0.5 (success: result <= 0.05; failure: result > 0.05))"
            ),
        "{out}"
    );
    let audit = hooks.delivered("ok", "audit-s3cr3t");
    let audit = &audit[before..];
    assert_eq!(events(audit), ["started", "clusterFailed", "finished"]);
    let failed = &audit[1];
    assert_eq!(failed["eventClusters"], serde_json::json!(["eu"]));
    assert_eq!(failed["wave"], 1);
    assert_eq!(failed["revision"]["label"].as_str(), Some(bad.as_str()));
    assert_eq!(
        failed["previousRevision"]["sha"].as_str(),
        Some(fleet.sha(&good).as_str())
    );
    assert_eq!(failed["changes"]["commits"][0]["subject"], "bad release");
    let measurement = &failed["measurement"];
    assert_eq!(measurement["metric"], "error-rate", "{failed:#}");
    assert_eq!(measurement["value"], "0.5", "{failed:#}");
    assert_eq!(
        measurement["condition"],
        "success: result <= 0.05; failure: result > 0.05"
    );
    assert!(
        failed["text"]
            .as_str()
            .unwrap()
            .contains("analysis: error-rate = 0.5"),
        "{failed:#}"
    );
    assert_eq!(audit[2]["outcome"], "failed");
    assert_eq!(audit[2]["reason"], "failed in eu");
    assert_no_secret(&fleet, &hooks, &out);
}

/// A webhook target answering 200, counting what it got.
async fn receiver(ca: &TestCa, count: Arc<AtomicUsize>) -> servers::Stub {
    ca.stub(handler(move |_| {
        count.fetch_add(1, Ordering::SeqCst);
        async { Response::new(200, "ok") }
    }))
    .await
}

/// A deploy's webhooks verify certificates too: with the bundle of one CA,
/// the target it signed gets every message and the target another CA
/// signed gets none, the report saying why, at once (no retries), without
/// the URL.
#[tokio::test(flavor = "multi_thread")]
async fn webhooks_verify_certificates_and_trust_the_ca_bundle() {
    let trusted_ca = TestCa::new("hooks");
    let untrusted_ca = TestCa::new("stranger");
    let received = Arc::new(AtomicUsize::new(0));
    let trusted = receiver(&trusted_ca, received.clone()).await;
    let strangers = Arc::new(AtomicUsize::new(0));
    let untrusted = receiver(&untrusted_ca, strangers.clone()).await;

    let mut fleet = Fleet::start().await;
    let bundle = trusted_ca.bundle(fleet.dir(), "hooks-ca.pem");
    fleet.set_env("CONDUCTOR_CA_BUNDLE", &bundle.display().to_string());
    fleet.set_env("TRUSTED_HOOK", &format!("{}/hook/s3cr3t", trusted.url()));
    fleet.set_env(
        "UNTRUSTED_HOOK",
        &format!("{}/hook/s3cr3t", untrusted.url()),
    );
    fleet.notify(
        "\
- name: trusted
  type: webhook
  urlFrom: {env: TRUSTED_HOOK}
- name: untrusted
  type: webhook
  urlFrom: {env: UNTRUSTED_HOOK}
  events: [finished]
",
    );
    let release = fleet.commit("first release");
    let run = fleet.deploy(&release, &["--output", "json"]).expect(0);
    let report: Value = serde_json::from_str(&run.stdout()).expect("one JSON document");
    let deliveries = report["notifications"].as_array().expect("deliveries");
    let of = |target: &str| -> Vec<&Value> {
        deliveries
            .iter()
            .filter(|d| d["target"] == target)
            .collect()
    };
    let trusted_outcomes: Vec<&Value> = of("trusted").iter().map(|d| &d["outcome"]).collect();
    assert_eq!(
        trusted_outcomes, ["delivered"; 4],
        "started, two waves, finished: {report:#}"
    );
    assert_eq!(received.load(Ordering::SeqCst), 4);
    let refused = of("untrusted");
    assert_eq!(refused.len(), 1, "{report:#}");
    assert_eq!(refused[0]["outcome"], "failed", "{report:#}");
    assert_eq!(refused[0]["attempts"], 1, "not retried: {report:#}");
    assert_eq!(
        refused[0]["detail"].as_str().unwrap_or_default(),
        format!(
            "not sent: TLS certificate verification failed for {}: its certificate is not \
             signed by a trusted CA (self-signed, or a private CA); trust its CA with \
             --ca-bundle (CONDUCTOR_CA_BUNDLE)",
            untrusted.addr
        )
    );
    assert_eq!(strangers.load(Ordering::SeqCst), 0);
    assert!(!run.all().contains("s3cr3t"), "{}", run.all());
}
