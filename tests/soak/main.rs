//! The soak: the real `conductor controller` process drives 1,000 Rollouts
//! through continuous image updates (with aborts requested on some) against
//! the fake API server served on loopback, while the fake refuses writes
//! with 409s, answers 500/503, holds answers back, drops every watch every
//! few seconds and restarts once. Then the faults stop, and every rollout
//! must converge. Throughout, the fake's audit log is judged (`checker`):
//! no abort lost, no step promoted twice, no duplicate ReplicaSet; and the
//! controller's resident memory must show no upward trend.
//!
//! ```text
//!   this test                                        child process
//!   driver ──updates, aborts──▶ FakeApi ◀──HTTP──── conductor controller
//!   faults ──409/5xx/slow/drops/restart──▶ │ audit log      │ VmRSS every 1 s
//!   checker ◀──────────────────────────────┘                ▼
//!   Simulator (ReplicaSets' pods become available)     memory trend
//! ```
//!
//! `CONDUCTOR_SOAK_SECONDS` (default 60) bounds the run: faults and updates
//! for the first 70%, then convergence, which must come within the rest of
//! the run or 60 s, whichever is longer. `CONDUCTOR_SOAK_ROLLOUTS` (default
//! 1000), `CONDUCTOR_SOAK_RATE` (image updates per second, default one per
//! 50 rollouts) and `CONDUCTOR_SOAK_SEED` change the load. The ten-minute
//! run: `scripts/soak.sh` (600 s, release; `scripts/soak.sh 1800` for longer).

#[path = "../support/controller_child.rs"]
mod controller_child;

mod checker;
mod converged;
mod driver;
mod faults;
mod memory;
mod objects;
mod rng;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use controller_child::{ControllerChild, get, metric, print_log};
use fakeapi::FakeApi;
use fakeapi::simulator::Simulator;
use futures_util::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use tokio::time::Instant;

use checker::Checker;
use objects::NAMESPACE;
use rng::Rng;

/// Watch events kept per resource type: enough for a watch dropped every
/// few seconds to resume, few enough that the test's own memory stays small.
const HISTORY: usize = 20_000;
/// The first adoption of every rollout, before the clock starts.
const STARTUP_LIMIT: Duration = Duration::from_secs(600);
/// Share of the run with faults and updates; the rest is for convergence.
const FAULT_SHARE: f64 = 0.7;
/// Shortest time convergence is given after the faults stop.
const MIN_CONVERGE: Duration = Duration::from_secs(60);
/// The controller's resident memory may trend up over the second half of
/// the run by this much at most (the least-squares line's rise across the
/// window), and by no more than `RSS_SLOPE_FLOOR` MiB/min however long the
/// window: see README ("The soak") for why these bounds.
const RSS_RISE_LIMIT: f64 = 6.0;
const RSS_SLOPE_FLOOR: f64 = 2.0;

/// How often a line says how the run is going.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

struct Settings {
    seconds: u64,
    rollouts: usize,
    rate: f64,
    seed: u64,
}

impl Settings {
    fn from_env() -> Self {
        fn var<T: std::str::FromStr>(name: &str) -> Option<T> {
            let text = std::env::var(name).ok()?;
            Some(
                text.parse()
                    .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
            )
        }
        let rollouts: usize = var("CONDUCTOR_SOAK_ROLLOUTS").unwrap_or(1000);
        Self {
            seconds: var("CONDUCTOR_SOAK_SECONDS").unwrap_or(60),
            rollouts,
            rate: var("CONDUCTOR_SOAK_RATE").unwrap_or(rollouts as f64 / 50.0),
            seed: var("CONDUCTOR_SOAK_SEED").unwrap_or_else(|| {
                u64::from(std::process::id()) ^ jiff::Timestamp::now().as_second().unsigned_abs()
            }),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollouts_converge_through_faults_with_no_abort_lost_no_step_promoted_twice_and_no_memory_growth()
 {
    let settings = Settings::from_env();
    let total = Duration::from_secs(settings.seconds);
    let fault_phase = total.mul_f64(FAULT_SHARE);
    let converge_limit = (total - fault_phase).max(MIN_CONVERGE);
    println!(
        "soak: {} rollouts, {} s ({:.0} s of faults and image updates at {:.1}/s), seed {} (CONDUCTOR_SOAK_SEED)",
        settings.rollouts,
        settings.seconds,
        fault_phase.as_secs_f64(),
        settings.rate,
        settings.seed
    );
    let mut rng = Rng::new(settings.seed);

    let fake = FakeApi::with_history_limit(HISTORY);
    install_crds(&fake).await;
    create_rollouts(&fake, settings.rollouts).await;
    let _simulator = Simulator::start(&fake);
    let server = fakeapi::serve(fake.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("serve the fake on loopback");
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let kubeconfig = scratch.path().join("kubeconfig");
    fakeapi::write_kubeconfig(&kubeconfig, server.addr()).expect("write the kubeconfig");
    // Kept after the run (overwritten by the next) for a failure to be read.
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("soak-controller.log");
    let _ = std::fs::remove_file(&log);

    let checker: checker::Shared = Arc::new(Mutex::new(Checker::default()));
    let judging = tokio::spawn({
        let (fake, checker) = (fake.clone(), checker.clone());
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                checker.lock().unwrap().pump(&fake, false);
            }
        }
    });

    let mut controller = ControllerChild::start(
        Path::new(env!("CARGO_BIN_EXE_conductor")),
        &kubeconfig,
        &log,
        &["--namespace", NAMESPACE, "--lease-namespace", NAMESPACE],
    )
    .expect("start the controller");
    let startup = wait_converged(&fake, &mut controller, &log, STARTUP_LIMIT, "adopted").await;
    println!(
        "  startup: all {} rollouts Healthy at v0 after {:.1} s",
        settings.rollouts,
        startup.as_secs_f64()
    );

    // Faults and updates.
    let start = Instant::now();
    let (rss, sampler) = memory::sample(controller.pid(), start);
    let until = start + fault_phase;
    // Early, so the relist it causes (every watch lists again at once: a
    // step up in memory the allocator keeps) is over well before the
    // second half, where the trend is read.
    let restart_at = start + total / 10;
    let counts = Arc::new(driver::Counts::default());
    let mut driving = tokio::spawn(driver::run(
        fake.clone(),
        settings.rollouts,
        settings.rate,
        until,
        rng.fork(),
        counts.clone(),
    ));
    let mut faulting = tokio::spawn({
        let (fake, rng) = (fake.clone(), rng.fork());
        let kinds = faults::Kind::chosen();
        async move { faults::run(&fake, server, until, restart_at, rng, &kinds).await }
    });
    let (mut driven, mut faulted) = (false, None);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut next_progress = PROGRESS_EVERY;
    while !driven || faulted.is_none() {
        tokio::select! {
            done = &mut driving, if !driven => {
                done.expect("the driver");
                driven = true;
            }
            done = &mut faulting, if faulted.is_none() => {
                faulted = Some(done.expect("the fault schedule").expect("restart the API server"));
            }
            _ = tick.tick() => {
                still_running(&mut controller, &log);
                if start.elapsed() >= next_progress {
                    next_progress += PROGRESS_EVERY;
                    progress(&start, &counts, &rss);
                }
            }
        }
    }
    let Some((_server, fault_report)) = faulted else {
        unreachable!("the loop ends once the schedule returned")
    };

    // Calm: no fault, no new update. Every rollout must converge.
    let calm = Instant::now();
    let convergence =
        wait_converged(&fake, &mut controller, &log, converge_limit, "converged").await;
    let ended = start.elapsed();
    sampler.abort();
    let page = match get(controller.metrics, "/metrics").await {
        Ok((200, page)) => page,
        _ => String::new(),
    };
    judging.abort();
    let mut checker = std::mem::take(&mut *checker.lock().unwrap());
    checker.finish(&fake);
    let final_tally = converged::tally(&fake);
    let rss = rss.lock().unwrap().clone();
    let second_half = memory::second_half(&rss);
    let slope = memory::slope_per_minute(&second_half);
    let window = second_half.last().map_or(0.0, |p| p.0) - second_half.first().map_or(0.0, |p| p.0);
    let slope_limit = RSS_SLOPE_FLOOR.max(RSS_RISE_LIMIT / (window / 60.0).max(1e-9));

    let c = &checker.counts;
    println!(
        "  run: {:.1} s; faults stopped at {:.1} s",
        ended.as_secs_f64(),
        (calm - start).as_secs_f64()
    );
    println!(
        "  driver: {} image updates applied, {} aborts requested, {} driver writes refused and sent again",
        counts.updates.load(Ordering::Relaxed),
        counts.aborts.load(Ordering::Relaxed),
        counts.retries.load(Ordering::Relaxed)
    );
    println!("  faults (queued / served):");
    for (kind, queued) in &fault_report.queued {
        let served = fault_report.served.get(kind).copied().unwrap_or(0);
        println!("    {:<52} {queued:>6} / {served}", kind.describe());
    }
    println!(
        "  status history: {} status writes, {} steps promoted, {} revisions made stable, {} SetWeight and {} RolloutCompleted Events",
        c.status_writes, c.steps_promoted, c.completions, c.set_weight_events, c.completed_events
    );
    println!(
        "  aborts: {} requests seen: {} honored, {} after the revision was already stable, {} superseded by a newer revision, {} replaced by a newer request",
        c.abort_requests,
        c.aborts_honored,
        c.abort_requests_moot,
        c.aborts_superseded,
        c.aborts_replaced
    );
    println!(
        "  ReplicaSets: {} created, {} deleted (history limit), {} in the store",
        c.replica_sets_created,
        c.replica_sets_deleted,
        fake.list_objects(objects::REPLICA_SETS, Some(NAMESPACE))
            .len()
    );
    let refused: Vec<String> = c
        .refused
        .iter()
        .map(|((who, code), n)| format!("{who} {code}: {n}"))
        .collect();
    println!(
        "  writes refused by identity and code: {}",
        refused.join(", ")
    );
    println!(
        "  converged {:.1} s after the faults stopped: {} Healthy at their latest revision, {} aborted at it",
        convergence.as_secs_f64(),
        final_tally.healthy,
        final_tally.aborted
    );
    let reconciles = metric(&page, r#"conductor_reconciles_total{controller="rollout"}"#);
    println!(
        "  controller: {reconciles} reconciles ({} failed), {} writes; log {}",
        metric(
            &page,
            r#"conductor_reconcile_errors_total{controller="rollout""#
        ),
        metric(&page, r#"conductor_writes_total{controller="rollout"}"#),
        log.display()
    );
    let first = rss.first().map_or(f64::NAN, |p| p.1);
    let last = rss.last().map_or(f64::NAN, |p| p.1);
    let peak = rss.iter().map(|p| p.1).fold(0.0, f64::max);
    let every_tenth: Vec<String> = rss
        .iter()
        .step_by(10)
        .map(|p| format!("{:.0}", p.1))
        .collect();
    println!(
        "  memory: VmRSS every 10 s (MiB): {}",
        every_tenth.join(" ")
    );
    // What the trend would be per reconcile, were it a leak: reconciles
    // per minute over the whole controller life.
    let per_minute = reconciles / ((startup + ended).as_secs_f64() / 60.0);
    println!(
        "  memory: VmRSS {first:.1} MiB at the start, {last:.1} MiB at the end, peak {peak:.1} MiB; slope over the second half ({} samples, {window:.0} s) {slope:+.2} MiB/min, {:+.0} bytes per reconcile (limit {slope_limit:.1} MiB/min)",
        second_half.len(),
        slope * 1_048_576.0 / per_minute.max(1.0)
    );
    print_log(&log);

    assert!(
        checker.violations.is_empty(),
        "{} violations:\n{}",
        checker.violations.len(),
        checker.violations.join("\n")
    );
    assert!(
        slope < slope_limit,
        "the controller's memory grew {slope:.2} MiB/min over the second half of the run (limit {slope_limit:.1})"
    );
}

fn progress(start: &Instant, counts: &driver::Counts, rss: &memory::Points) {
    let rss = rss.lock().unwrap().last().map_or(f64::NAN, |p| p.1);
    println!(
        "    {:>4.0} s: {} image updates, {} aborts requested, VmRSS {rss:.1} MiB",
        start.elapsed().as_secs_f64(),
        counts.updates.load(Ordering::Relaxed),
        counts.aborts.load(Ordering::Relaxed)
    );
}

/// Polls the store until every rollout has converged; fails the test
/// when `limit` passes or the controller exits. Returns how long it took.
async fn wait_converged(
    fake: &FakeApi,
    controller: &mut ControllerChild,
    log: &Path,
    limit: Duration,
    what: &str,
) -> Duration {
    let from = Instant::now();
    let mut report_at = from + Duration::from_secs(5);
    loop {
        still_running(controller, log);
        let tally = converged::tally(fake);
        if tally.done() {
            return from.elapsed();
        }
        if Instant::now() >= report_at {
            report_at += Duration::from_secs(5);
            println!(
                "    {:.0} s: {} not {what} yet, e.g. {}",
                from.elapsed().as_secs_f64(),
                tally.waiting_count,
                tally.waiting.first().map_or("", String::as_str)
            );
        }
        if from.elapsed() > limit {
            print_log(log);
            for name in tally.waiting.iter().filter_map(|w| w.split(':').next()) {
                println!("  {name}: {}", describe(fake, name));
            }
            panic!(
                "{} rollouts not {what} after {limit:?}, e.g.:\n{}",
                tally.waiting_count,
                tally.waiting.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A rollout's status and ReplicaSets as stored, for a failure message.
fn describe(fake: &FakeApi, name: &str) -> String {
    let rollout = fake.get_object(objects::ROLLOUTS, NAMESPACE, name);
    let status = rollout
        .as_ref()
        .map(|r| r["status"].clone())
        .unwrap_or_default();
    let sets: Vec<String> = fake
        .list_objects(objects::REPLICA_SETS, Some(NAMESPACE))
        .iter()
        .filter(|rs| {
            rs["metadata"]["labels"][conductor::platform::kubernetes::ROLLOUT_LABEL] == name
        })
        .map(|rs| {
            format!(
                "{} rv {} replicas {} available {} revision {}",
                objects::object_name(rs),
                rs["metadata"]["resourceVersion"],
                rs["spec"]["replicas"],
                rs["status"]["availableReplicas"],
                rs["metadata"]["annotations"]
                    [conductor::platform::kubernetes::REPLICA_SET_REVISION_ANNOTATION]
            )
        })
        .collect();
    format!(
        "rv {} generation {}; status {status}; ReplicaSets: {}",
        rollout
            .as_ref()
            .map(|r| r["metadata"]["resourceVersion"].clone())
            .unwrap_or_default(),
        rollout
            .as_ref()
            .map(|r| r["metadata"]["generation"].clone())
            .unwrap_or_default(),
        sets.join("; ")
    )
}

fn still_running(controller: &mut ControllerChild, log: &Path) {
    if let Some(status) = controller.exited() {
        print_log(log);
        let tail = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(5).collect();
        panic!(
            "the controller exited ({status}); last log lines:\n{}",
            tail.join("\n")
        );
    }
}

async fn install_crds(fake: &FakeApi) {
    let api: Api<CustomResourceDefinition> = Api::all(fake.client_as("soak-setup"));
    for crd in conductor::crd::all() {
        let name = crd.meta().name.clone().expect("a CRD name");
        api.patch(
            &name,
            &PatchParams::apply("soak-setup").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("install the CRDs");
    }
}

async fn create_rollouts(fake: &FakeApi, n: usize) {
    let api: Api<conductor::crd::rollout::Rollout> =
        Api::namespaced(fake.client_as("soak-setup"), NAMESPACE);
    futures_util::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                let rollout = serde_json::from_value(objects::rollout(&objects::name(i), "v0"))
                    .expect("a valid Rollout");
                api.create(&PostParams::default(), &rollout)
                    .await
                    .expect("create a rollout");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}
