//! The real `conductor controller` process against `fakeapi` served over
//! loopback HTTP: memory and reconciles per second with 10,000 rollouts
//! (cold start, then a restart with nothing to do), and the time a
//! restarted controller takes to carry 1,000 changed rollouts to Healthy.
//! Figures only, each printed next to its target.
//!
//! Run: `cargo bench --bench operator`. `cargo bench` does not build the
//! binary, so this does (`cargo build --release --bin conductor`) when
//! `target/release/conductor` is missing or older than the sources.
//! `CONDUCTOR_BENCH_BINARY=<path>` measures another build (an earlier
//! commit's, say) under the same fake, for a before/after in one sitting.
//!
//! ```text
//!   this process                               child process
//!   FakeApi + Simulator ◀──HTTP (kubeconfig)── conductor controller
//!         ▲ insert / read status                     │
//!         └──── samples /metrics every 100 ms ◀──────┘
//! ```
//! Both share the machine's cores, so rates are a floor, not a ceiling.

#[path = "../tests/support/controller_child.rs"]
mod controller_child;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use conductor::crd::rollout::Rollout;
use conductor::platform::kubernetes::{
    HASH_LABEL, LABEL_ANNOTATION, REPLICA_SET_REVISION_ANNOTATION, ROLLOUT_LABEL,
};
use conductor::platform::template_hash;
use fakeapi::FakeApi;
use fakeapi::simulator::Simulator;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use controller_child::{BoxError, ControllerChild as Controller, get, memory, metric, print_log};

const NAMESPACE: &str = "bench";
const LARGE: usize = 10_000;
const CONVERGE: usize = 1_000;
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// How long one wait may take, from the controller's start; a wait that
/// runs out is reported as not reached and the bench goes on.
const PHASE_TIMEOUT: Duration = Duration::from_secs(240);
/// No new reconcile for this long counts as done.
const QUIET: Duration = Duration::from_secs(3);

const RECONCILES: &str = r#"conductor_reconciles_total{controller="rollout"}"#;
const WRITES: &str = r#"conductor_writes_total{controller="rollout"}"#;
const HEALTHY: &str = r#"conductor_rollouts{phase="Healthy"}"#;
const ERRORS: &str = r#"conductor_reconcile_errors_total{controller="rollout""#;

fn main() -> Result<(), BoxError> {
    let binary = ensure_binary()?;
    let scratch = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        large(&binary, scratch.path()).await?;
        convergence(&binary, scratch.path()).await
    })
}

// ---------------------------------------------------------------- binary

fn ensure_binary() -> Result<PathBuf, BoxError> {
    if let Some(other) = std::env::var_os("CONDUCTOR_BENCH_BINARY") {
        let binary = PathBuf::from(other);
        println!("binary: {} (CONDUCTOR_BENCH_BINARY)", binary.display());
        return Ok(binary);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let binary = target.join("release").join("conductor");
    let built = std::fs::metadata(&binary).and_then(|m| m.modified()).ok();
    let mut newest = SystemTime::UNIX_EPOCH;
    for path in [root.join("Cargo.toml"), root.join("Cargo.lock")] {
        newest = newest.max(std::fs::metadata(path)?.modified()?);
    }
    newest = newest.max(newest_in(&root.join("src"))?);
    if built.is_some_and(|b| b >= newest) {
        println!("binary: {} (newer than its sources)", binary.display());
        return Ok(binary);
    }
    println!("binary: missing or older than src/; running `cargo build --release --bin conductor`");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "conductor"])
        .current_dir(root)
        .status()?;
    if !status.success() {
        return Err(format!("cargo build --release --bin conductor: {status}").into());
    }
    Ok(binary)
}

fn newest_in(dir: &Path) -> std::io::Result<SystemTime> {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let time = if meta.is_dir() {
            newest_in(&entry.path())?
        } else {
            meta.modified()?
        };
        newest = newest.max(time);
    }
    Ok(newest)
}

// ---------------------------------------------------------------- objects

fn template(name: &str, tag: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": name, "tier": "web"}},
        "spec": {
            "containers": [{
                "name": "app",
                "image": format!("registry.example.com/shop/{name}:{tag}"),
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "env": [
                    {"name": "LOG_LEVEL", "value": "info"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                ],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                    "limits": {"memory": "256Mi"},
                },
                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
            }],
            "terminationGracePeriodSeconds": 30,
        },
    })
}

fn rollout(name: &str, tag: &str, replicas: i32) -> Value {
    json!({
        "apiVersion": "conductor.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": template(name, tag),
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {"duration": "1s"}}]}},
        },
    })
}

/// The hash the controller computes, from the template as its own types
/// read it, so the inserted ReplicaSets are the ones it would have made.
fn hash_of(rollout: &Value) -> Result<String, BoxError> {
    let typed: Rollout = serde_json::from_value(rollout.clone())?;
    Ok(template_hash(typed.spec.template.as_ref()))
}

fn replica_set(owner: &Value, tag: &str, revision: u64, replicas: i32) -> Result<Value, BoxError> {
    let name = owner["metadata"]["name"].as_str().unwrap_or_default();
    let uid = owner["metadata"]["uid"].as_str().unwrap_or_default();
    let mut at_revision = owner.clone();
    at_revision["spec"]["template"] = template(name, tag);
    let hash = hash_of(&at_revision)?;
    let mut pod_template = template(name, tag);
    pod_template["metadata"]["labels"][HASH_LABEL] = json!(hash);
    Ok(json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{name}-{hash}"),
            "namespace": NAMESPACE,
            "labels": {"app": name, "tier": "web", HASH_LABEL: hash, ROLLOUT_LABEL: name},
            "annotations": {REPLICA_SET_REVISION_ANNOTATION: revision.to_string(), LABEL_ANNOTATION: tag},
            "ownerReferences": [{
                "apiVersion": "conductor.dev/v1alpha1", "kind": "Rollout", "name": name, "uid": uid,
                "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name, HASH_LABEL: hash}},
            "template": pod_template,
        },
        "status": {
            "replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
            "availableReplicas": replicas, "observedGeneration": 1,
        },
    }))
}

/// A fake API server serving Conductor's kinds, as a cluster with its
/// CRDs installed (a resource without one is `404 page not found`).
fn fake_with_crds() -> Result<FakeApi, BoxError> {
    let fake = FakeApi::new();
    for crd in conductor::crd::all() {
        fake.insert(
            ("apiextensions.k8s.io/v1", "customresourcedefinitions"),
            serde_json::to_value(crd)?,
        )?;
    }
    Ok(fake)
}

/// `count` rollouts at `v2`, each with its `v2` ReplicaSet ready and a
/// scaled-down `v1` one, as a cluster that has been running a while.
fn fill(fake: &FakeApi, count: usize) -> Result<(), BoxError> {
    for i in 0..count {
        let stored = fake.insert(
            ("conductor.dev/v1alpha1", "rollouts"),
            rollout(&format!("r{i}"), "v2", 3),
        )?;
        fake.insert(
            ("apps/v1", "replicasets"),
            replica_set(&stored, "v1", 1, 0)?,
        )?;
        fake.insert(
            ("apps/v1", "replicasets"),
            replica_set(&stored, "v2", 2, 3)?,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------- controller process

#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    /// Since the process was started.
    at: Duration,
    ready: bool,
    reconciles: f64,
    writes: f64,
    healthy: f64,
    errors: f64,
}

impl Sample {
    fn succeeded(&self) -> f64 {
        self.reconciles - self.errors
    }
}

/// The last sample, and whether the condition held before `PHASE_TIMEOUT`.
#[derive(Debug, Clone, Copy)]
struct Waited {
    sample: Sample,
    reached: bool,
}

impl Waited {
    fn secs(&self) -> String {
        let secs = self.sample.at.as_secs_f64();
        if self.reached {
            format!("{secs:>8.1} s")
        } else {
            format!("NOT within {secs:.0} s")
        }
    }
}

/// Samples every 100 ms until `done` says so or `PHASE_TIMEOUT` passes;
/// errors if the process dies. The samples are kept for rates.
async fn sample_until(
    controller: &mut Controller,
    samples: &mut Vec<Sample>,
    what: &str,
    mut done: impl FnMut(&Sample, &[Sample]) -> bool,
) -> Result<Waited, BoxError> {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(status) = controller.exited() {
            return Err(format!("controller exited ({status}) while waiting for {what}").into());
        }
        let at = controller.started.elapsed();
        if at > PHASE_TIMEOUT {
            let sample = samples.last().copied().unwrap_or_default();
            println!("  gave up waiting for {what} after {at:.0?}; last sample {sample:?}");
            return Ok(Waited {
                sample,
                reached: false,
            });
        }
        let ready = matches!(get(controller.metrics, "/readyz").await, Ok((200, _)));
        // Not listening yet, or busy: the next tick tries again.
        let Ok((200, text)) = get(controller.metrics, "/metrics").await else {
            continue;
        };
        let sample = Sample {
            at,
            ready,
            reconciles: metric(&text, RECONCILES),
            writes: metric(&text, WRITES),
            healthy: metric(&text, HEALTHY),
            errors: metric(&text, ERRORS),
        };
        samples.push(sample);
        if done(&sample, samples) {
            return Ok(Waited {
                sample,
                reached: true,
            });
        }
    }
}

/// No reconcile counted for `QUIET`.
fn quiet(samples: &[Sample]) -> bool {
    let Some(last) = samples.last() else {
        return false;
    };
    let since = last.at.saturating_sub(QUIET);
    samples.first().is_some_and(|s| s.at <= since)
        && samples
            .iter()
            .rev()
            .take_while(|s| s.at >= since)
            .all(|s| s.reconciles == last.reconciles)
}

/// Best per-second growth of `value` over any window of at least one second.
fn best_rate(samples: &[Sample], value: impl Fn(&Sample) -> f64) -> f64 {
    let mut best = 0.0_f64;
    for (i, from) in samples.iter().enumerate() {
        if let Some(to) = samples[i..]
            .iter()
            .find(|s| s.at >= from.at + Duration::from_secs(1))
        {
            best = best.max((value(to) - value(from)) / (to.at - from.at).as_secs_f64());
        }
    }
    best
}

/// Growth per second of `value` from the first reconcile counted to the
/// first sample with `goal` reconciles (or the last sample).
fn average_rate(samples: &[Sample], goal: f64, value: impl Fn(&Sample) -> f64) -> f64 {
    let Some(first) = samples.iter().position(|s| s.reconciles > 0.0) else {
        return 0.0;
    };
    // The window opens at the sample before the first reconcile counted.
    let from = samples[first.saturating_sub(1)];
    let to = samples
        .iter()
        .find(|s| s.reconciles >= goal)
        .or(samples.last())
        .copied()
        .unwrap_or(from);
    let secs = (to.at - from.at).as_secs_f64();
    if secs > 0.0 {
        (value(&to) - value(&from)) / secs
    } else {
        0.0
    }
}

fn first_ready(samples: &[Sample]) -> Option<Duration> {
    samples.iter().find(|s| s.ready).map(|s| s.at)
}

// ---------------------------------------------------------------- scenario 1 and 2

async fn large(binary: &Path, scratch: &Path) -> Result<(), BoxError> {
    println!("\n== {LARGE} rollouts, {} ReplicaSets ==", 2 * LARGE);
    let fake = fake_with_crds()?;
    let filled = Instant::now();
    fill(&fake, LARGE)?;
    println!(
        "  filled the fake: {} objects in {:.1} s",
        fake.object_count(),
        filled.elapsed().as_secs_f64()
    );
    let _simulator = Simulator::start(&fake);
    let server = fakeapi::serve(fake.clone(), SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let kubeconfig = scratch.join("large.kubeconfig");
    fakeapi::write_kubeconfig(&kubeconfig, server.addr())?;

    // Cold start: every rollout is new to the controller and gets a status.
    println!("  cold start (no rollout has a status yet):");
    let cold = run_large(binary, &kubeconfig, &scratch.join("cold.log"), |s, all| {
        s.healthy >= LARGE as f64 && quiet(all)
    })
    .await?;
    let statuses = fake
        .list_objects(("conductor.dev/v1alpha1", "rollouts"), Some(NAMESPACE))
        .iter()
        .filter(|r| r["status"]["phase"] == "Healthy")
        .count();
    println!("    rollouts with status Healthy in the fake's store: {statuses}");

    // Steady state: everything already has its status, nothing to write.
    println!("  restart with every status written:");
    let steady = run_large(
        binary,
        &kubeconfig,
        &scratch.join("steady.log"),
        |_, all| quiet(all),
    )
    .await?;
    println!(
        "    writes: cold start {}, steady restart {}",
        cold.writes, steady.writes
    );
    Ok(())
}

/// One controller process over the 10,000 rollouts: samples until
/// `settled`, prints the figures, returns the last sample.
async fn run_large(
    binary: &Path,
    kubeconfig: &Path,
    log: &Path,
    settled: impl FnMut(&Sample, &[Sample]) -> bool,
) -> Result<Sample, BoxError> {
    let goal = LARGE as f64;
    let mut controller = Controller::start(binary, kubeconfig, log, &["--no-leader-election"])?;
    let mut samples = Vec::new();
    let at_goal = sample_until(
        &mut controller,
        &mut samples,
        "10,000 reconciles",
        |s, _| s.reconciles >= goal,
    )
    .await?;
    let (rss_at_goal, _) = memory(controller.pid())?;
    let end = sample_until(&mut controller, &mut samples, "the settled state", settled).await?;
    let (rss, hwm) = memory(controller.pid())?;
    let fds = std::fs::read_dir(format!("/proc/{}/fd", controller.pid()))?.count();
    drop(controller);
    let last = end.sample;
    match first_ready(&samples) {
        Some(ready) => println!(
            "    ready (caches synced)     {:>8.1} s",
            ready.as_secs_f64()
        ),
        None => println!("    never ready"),
    }
    println!("    {LARGE} reconciles        {}", at_goal.secs());
    println!(
        "    settled                   {}  ({} reconciles of which {} failed, {} writes, Healthy {}, {fds} open fds at the end)",
        end.secs(),
        last.reconciles,
        last.errors,
        last.writes,
        last.healthy
    );
    println!(
        "    1. memory: VmRSS {rss_at_goal:.1} MB at {LARGE} reconciles, {rss:.1} MB at the end, peak VmHWM {hwm:.1} MB   (target <= 150 MB)"
    );
    let all = |s: &Sample| s.reconciles;
    let ok = |s: &Sample| s.succeeded();
    println!(
        "    2. reconciles/s: best 1 s window {:.0} ({:.0} successful), average up to {LARGE} reconciles {:.0} ({:.0} successful)   (target >= 2,000/s)",
        best_rate(&samples, all),
        best_rate(&samples, ok),
        average_rate(&samples, goal, all),
        average_rate(&samples, goal, ok),
    );
    print_log(log);
    Ok(last)
}

// ---------------------------------------------------------------- scenario 3

fn rollout_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("conductor.dev", "v1alpha1", "Rollout"),
        "rollouts",
    )
}

/// Rollouts whose status says Healthy with `tag` as the stable revision.
fn healthy_at(fake: &FakeApi, tag: &str) -> usize {
    let is_done = |r: &Arc<Value>| {
        let status = &r["status"];
        status["phase"] == "Healthy" && status["stableRevision"] == tag
    };
    fake.list_objects(("conductor.dev/v1alpha1", "rollouts"), Some(NAMESPACE))
        .iter()
        .filter(|r| is_done(r))
        .count()
}

async fn convergence(binary: &Path, scratch: &Path) -> Result<(), BoxError> {
    println!(
        "\n== convergence after restart: {CONVERGE} rollouts change image while the controller is down =="
    );
    let fake = fake_with_crds()?;
    for i in 0..CONVERGE {
        fake.insert(
            ("conductor.dev/v1alpha1", "rollouts"),
            rollout(&format!("c{i}"), "v1", 1),
        )?;
    }
    let _simulator = Simulator::start(&fake);
    let server = fakeapi::serve(fake.clone(), SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let kubeconfig = scratch.join("converge.kubeconfig");
    fakeapi::write_kubeconfig(&kubeconfig, server.addr())?;
    let goal = CONVERGE as f64;

    let log = scratch.join("converge-first.log");
    let mut controller = Controller::start(binary, &kubeconfig, &log, &["--no-leader-election"])?;
    let mut samples = Vec::new();
    let first = sample_until(
        &mut controller,
        &mut samples,
        "1,000 Healthy at v1",
        |s, _| s.healthy >= goal && healthy_at(&fake, "v1") == CONVERGE,
    )
    .await?;
    drop(controller);
    println!(
        "  first start: {CONVERGE} new rollouts Healthy at v1: {} ({} reconciles, {} errors, {} writes)",
        first.secs(),
        first.sample.reconciles,
        first.sample.errors,
        first.sample.writes
    );
    print_log(&log);

    let rollouts: kube::Api<DynamicObject> =
        kube::Api::namespaced_with(fake.client_as("bench"), NAMESPACE, &rollout_resource());
    for i in 0..CONVERGE {
        let name = format!("c{i}");
        let patch = json!({"spec": {"template": template(&name, "v2")}});
        rollouts
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    println!("  controller stopped; changed the image of all {CONVERGE} to :v2");

    let log = scratch.join("converge-restart.log");
    let mut controller = Controller::start(binary, &kubeconfig, &log, &["--no-leader-election"])?;
    let mut samples = Vec::new();
    let done = sample_until(
        &mut controller,
        &mut samples,
        "1,000 Healthy at v2",
        |s, _| s.healthy >= goal && healthy_at(&fake, "v2") == CONVERGE,
    )
    .await?;
    drop(controller);
    let ready = first_ready(&samples).map_or(f64::NAN, |r| r.as_secs_f64());
    println!(
        "  3. convergence: all {CONVERGE} Healthy at v2 after the restart: {} (ready at {ready:.1} s; {} at v2 in the store; {} reconciles, {} errors, {} writes)   (no target set; the 1 s pause is the floor)",
        done.secs(),
        healthy_at(&fake, "v2"),
        done.sample.reconciles,
        done.sample.errors,
        done.sample.writes
    );
    print_log(&log);
    Ok(())
}
