//! `conductor deploy` as CI runs it: the real binary against three
//! clusters (fake API servers over loopback HTTP, each with its workload
//! simulator and a real `conductor controller` process), the real helm,
//! a real source repository and a real bare ledger repository.

#[path = "support/common.rs"]
mod common;
#[path = "support/fleet.rs"]
mod fleet;

use fleet::Fleet;
use serde_json::Value;

fn state(fleet: &Fleet, cluster: &str) -> String {
    fleet.ledger_record(cluster)["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// When the cluster's Rollout was first written Healthy at `label` for
/// the generation it had then (the controller's status write).
fn healthy_since(cluster: &fleet::FakeCluster, label: &str) -> Option<jiff::Timestamp> {
    cluster.fake.audit().into_iter().find_map(|e| {
        let o = e.object.as_ref()?;
        let healthy = e.path.ends_with("/rollouts/shop/status")
            && o.pointer("/status/phase")?.as_str()? == "Healthy"
            && o.pointer("/status/stableRevision")?.as_str()? == label
            && o.pointer("/status/observedGeneration")? == o.pointer("/metadata/generation")?;
        healthy.then_some(e.time)
    })
}

/// The deploy's writes carrying `sha` (its commit annotation).
fn writes_of(cluster: &fleet::FakeCluster, sha: &str) -> Vec<fakeapi::AuditEntry> {
    cluster
        .deploy_writes()
        .into_iter()
        .filter(|e| {
            e.object
                .as_ref()
                .and_then(|o| o.pointer("/metadata/annotations/conductor.dev~1deploy-commit"))
                .and_then(Value::as_str)
                == Some(sha)
        })
        .collect()
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
    // The canary really ran its steps: the router put 50% on it.
    let canary_at_half = fleet.cluster("eu").fake.audit().iter().any(|e| {
        e.field_manager.as_deref() == Some("conductor-router")
            && e.object
                .as_ref()
                .and_then(|o| o.pointer("/spec/rules/0/backendRefs/1/weight"))
                == Some(&Value::from(50))
    });
    assert!(canary_at_half, "eu's canary went through 50%");
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
            fleet.cluster(cluster).rollout_tag().as_deref(),
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

    // Wave 2 was written only after eu was Healthy at the new revision,
    // for the generation the deploy gave it.
    // A retried CI job: the same revision resumes, every cluster is already
    // Healthy at it, nothing is written; one JSON document for scripts.
    let writes: Vec<usize> = fleet
        .clusters
        .iter()
        .map(|c| c.deploy_writes().len())
        .collect();
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
    let after: Vec<usize> = fleet
        .clusters
        .iter()
        .map(|c| c.deploy_writes().len())
        .collect();
    assert_eq!(
        writes, after,
        "clusters already Healthy at the revision are skipped"
    );

    let eu_healthy = healthy_since(fleet.cluster("eu"), &second).expect("eu became Healthy");
    for cluster in ["us", "ap"] {
        let writes = writes_of(fleet.cluster(cluster), &sha);
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
    let before: Vec<usize> = ["us", "ap"]
        .iter()
        .map(|c| fleet.cluster(c).deploy_writes().len())
        .collect();

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
    let rollout = fleet.cluster("eu").rollout().unwrap();
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
    let after: Vec<usize> = ["us", "ap"]
        .iter()
        .map(|c| fleet.cluster(c).deploy_writes().len())
        .collect();
    assert_eq!(before, after, "wave 2 received no write at all");
    for cluster in ["us", "ap"] {
        assert_eq!(state(&fleet, cluster), "Healthy");
        assert_eq!(
            fleet.cluster(cluster).rollout_tag().as_deref(),
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
    let writes: Vec<usize> = fleet
        .clusters
        .iter()
        .map(|c| c.deploy_writes().len())
        .collect();
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
    let after: Vec<usize> = fleet
        .clusters
        .iter()
        .map(|c| c.deploy_writes().len())
        .collect();
    assert_eq!(writes, after, "no cluster received a write");
    assert_eq!(fleet.ledger_log(), ledger, "the ledger is untouched");

    // Stepping back on purpose is allowed, and recorded as such.
    fleet.rollback_to(&older).expect(0);
    let eu = fleet.ledger_record("eu");
    assert_eq!(eu["rollback"], true, "{eu:?}");
    assert_eq!(
        fleet.cluster("eu").rollout_tag().as_deref(),
        Some(older.as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_dropped_from_the_chart_is_pruned_and_others_are_left_alone() {
    let fleet = Fleet::start().await;
    let with_extra = fleet.set_value("extraConfig: false", "extraConfig: true");
    fleet.deploy(&with_extra, &[]).expect(0);
    let configmaps = ("v1", "configmaps");
    for cluster in &fleet.clusters {
        assert!(
            cluster
                .fake
                .get_object(configmaps, "shop", "shop-extra")
                .is_some()
        );
        // Someone else's ConfigMap, not applied by Conductor.
        cluster
            .fake
            .insert(
                configmaps,
                serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "not-ours", "namespace": "shop"}, "data": {"a": "b"}}),
            )
            .unwrap();
    }
    let without = fleet.set_value("extraConfig: true", "extraConfig: false");
    let run = fleet.deploy(&without, &[]).expect(0);
    assert!(
        run.stdout().contains("pruned ConfigMap shop/shop-extra"),
        "{}",
        run.stdout()
    );
    for cluster in &fleet.clusters {
        assert!(
            cluster
                .fake
                .get_object(configmaps, "shop", "shop-extra")
                .is_none(),
            "{}: shop-extra pruned",
            cluster.name
        );
        assert!(
            cluster
                .fake
                .get_object(configmaps, "shop", "not-ours")
                .is_some()
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
    let us_before = fleet.cluster("us").deploy_writes().len();
    let second = fleet.commit("second");
    let run = fleet.deploy(&second, &["--timeout", "3s"]).expect(4);
    assert!(run.all().contains("generation"), "{}", run.all());
    let rollout = fleet.cluster("eu").rollout().unwrap();
    assert_eq!(
        rollout.pointer("/status/phase").and_then(Value::as_str),
        Some("Healthy")
    );
    assert_eq!(
        fleet.cluster("us").deploy_writes().len(),
        us_before,
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
    })
    .await;
    fleet.cluster("ap").fake.deny(fakeapi::AccessRule {
        identity: None,
        verbs: vec!["patch".into()],
        group: "conductor.dev".into(),
        resource: Some("rollouts".into()),
        namespace: None,
    });
    let release = fleet.commit("release");
    let run = fleet.deploy(&release, &[]).expect(1);
    let out = run.all();
    assert!(
        out.contains("cluster us: HTTPRoute (gateway.networking.k8s.io/v1) is not served"),
        "{out}"
    );
    assert!(
        out.contains("cluster eu: no Conductor controller runs here"),
        "{out}"
    );
    assert!(
        out.contains("cluster ap: not allowed to patch rollouts.conductor.dev"),
        "{out}"
    );
    assert!(out.contains("nothing was applied"), "{out}");
    for cluster in &fleet.clusters {
        assert!(
            cluster.deploy_writes().is_empty(),
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
    let weight = |eu: &fleet::FakeCluster| {
        eu.fake
            .get_object(fleet::routes(), "shop", "shop")
            .and_then(|r| r.pointer("/spec/rules/0/backendRefs/1/weight").cloned())
    };
    let selector = |eu: &fleet::FakeCluster| {
        eu.fake
            .get_object(("v1", "services"), "shop", "shop-canary")
            .and_then(|s| {
                s.pointer("/spec/selector/conductor.dev~1pod-template-hash")
                    .cloned()
            })
    };
    assert_eq!(weight(eu), Some(Value::from(50)));
    let pinned = selector(eu).expect("the canary Service is pinned");

    // The same revision again (a retried CI job): every object is applied
    // again, and the controller's runtime fields stay as they are.
    let writes = eu.deploy_writes().len();
    let run = fleet.deploy(&held, &["--timeout", "2s"]).expect(4);
    assert!(
        eu.deploy_writes().len() > writes,
        "the deploy applied again"
    );
    assert!(
        run.stdout().contains("left to the controller"),
        "{}",
        run.stdout()
    );
    assert_eq!(weight(eu), Some(Value::from(50)), "the weight stays at 50%");
    assert_eq!(selector(eu), Some(pinned));
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_mid_wave_records_interrupted_and_the_next_deploy_finishes() {
    let fleet = Fleet::start().await;
    let first = fleet.commit("first");
    fleet.deploy(&first, &[]).expect(0);
    let slow = fleet.commit("slow to analyse");
    fleet.mark_slow(&slow);
    let child = fleet.spawn_deploy(&slow, &[]);
    let pid = child.id();
    // Wave 1 in flight (its analysis takes a while): interrupt it as a
    // cancelled CI job would.
    let start = std::time::Instant::now();
    while fleet.cluster("eu").rollout_tag().as_deref() != Some(slow.as_str()) {
        assert!(start.elapsed().as_secs() < 30, "wave 1 never started");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(130), "{out}");
    assert!(out.contains("interrupted"), "{out}");
    assert_eq!(state(&fleet, "eu"), "Interrupted");
    assert!(writes_of(fleet.cluster("us"), &fleet.sha(&slow)).is_empty());

    // A second deploy of the same revision finishes the work.
    fleet.deploy(&slow, &[]).expect(0);
    for cluster in ["eu", "us", "ap"] {
        assert_eq!(state(&fleet, cluster), "Healthy");
        assert_eq!(
            fleet.cluster(cluster).rollout_tag().as_deref(),
            Some(slow.as_str())
        );
    }
}

/// The commits a cluster's Rollout was written at by deploys, in order.
fn rollout_history(cluster: &fleet::FakeCluster) -> Vec<String> {
    cluster
        .deploy_writes()
        .into_iter()
        .filter(|e| e.path.ends_with("/rollouts/shop"))
        .filter_map(|e| {
            e.object
                .as_ref()?
                .pointer("/metadata/annotations/conductor.dev~1deploy-commit")?
                .as_str()
                .map(str::to_owned)
        })
        .collect()
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
    let order = |sha: &str| {
        std::iter::once(&base)
            .chain(&revisions)
            .position(|r| fleet.sha(r) == sha)
            .unwrap_or_else(|| panic!("{sha} is not one of the branch's revisions"))
    };
    for cluster in &fleet.clusters {
        let record = fleet.ledger_record(&cluster.name);
        assert_eq!(record["state"], "Healthy", "{}: {record:?}", cluster.name);
        assert_eq!(record["revision"].as_str(), Some(sha.as_str()));
        assert_eq!(cluster.rollout_tag().as_deref(), Some(newest.as_str()));
        let history: Vec<usize> = rollout_history(cluster).iter().map(|s| order(s)).collect();
        assert!(
            history.windows(2).all(|w| w[0] <= w[1]),
            "{} moved backwards: {history:?}",
            cluster.name
        );
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
    let start = std::time::Instant::now();
    while fleet.cluster("eu").rollout_tag().as_deref() != Some(slow.as_str()) {
        assert!(start.elapsed().as_secs() < 30, "wave 1 never started");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(state(&fleet, "eu"), "Deploying", "SIGKILL leaves Deploying");
    let newer = fleet.commit("newer");
    fleet.deploy(&newer, &[]).expect(0);
    for cluster in ["eu", "us", "ap"] {
        assert_eq!(state(&fleet, cluster), "Healthy");
        assert_eq!(
            fleet.cluster(cluster).rollout_tag().as_deref(),
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
            fleet.cluster(cluster).rollout_tag().as_deref(),
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
        .fake
        .audit()
        .into_iter()
        .filter(|e| e.path.ends_with("/rollouts/shop/status"))
        .find_map(|e| {
            let o = e.object.as_ref()?;
            (o.pointer("/status/phase")?.as_str()? == "Healthy").then_some(e.time)
        })
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
    let autoscaler = eu.fake.client_as("kube-controller-manager");
    let rollouts: kube::Api<conductor::crd::rollout::Rollout> =
        kube::Api::namespaced(autoscaler, "shop");
    rollouts
        .patch_scale(
            "shop",
            &kube::api::PatchParams::default(),
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
    let rollout = eu.rollout().unwrap();
    assert_eq!(
        rollout.pointer("/spec/replicas"),
        Some(&Value::from(5)),
        "the autoscaler's replicas stay"
    );
    assert_eq!(eu.rollout_tag().as_deref(), Some(second.as_str()));
    // The Deployment beside it was rolled to the new revision and waited for.
    let worker = eu
        .fake
        .get_object(("apps/v1", "deployments"), "shop", "shop-worker")
        .unwrap();
    let image = worker
        .pointer("/spec/template/spec/containers/0/image")
        .and_then(Value::as_str);
    assert!(image.is_some_and(|i| i.ends_with(&second)), "{image:?}");
    let updated = worker
        .pointer("/status/updatedReplicas")
        .and_then(Value::as_i64);
    assert_eq!(updated, Some(1), "{worker:?}");
}
