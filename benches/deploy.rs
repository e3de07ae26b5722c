//! The real `conductor deploy` process against 100 clusters (fake API
//! servers over loopback HTTP) in 4 waves of 25, with rollouts that turn
//! Healthy as soon as they are written: the time a wave takes beyond its
//! slowest cluster, the ledger write per transition, and the deploy
//! process's memory. Figures only, each printed next to its target.
//!
//! Run: `cargo bench --bench deploy`. It runs `target/release/conductor`,
//! which `cargo bench` builds next to the bench executable.
//!
//! ```text
//!   this process                                     child process
//!   100 × FakeApi ◀──HTTP (KUBECONFIG: 100 files)── conductor deploy ──▶ git push ──▶ ledger.git
//!        ▲ every 20 ms: Rollouts not Healthy             │ stdout lines, timestamped here
//!        └── stand-in controller writes status           └ /proc/<pid>/status every 50 ms
//! ```
//! Everything shares the machine's cores, so times are a ceiling.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conductor::gitops::LedgerLocation;
use conductor::gitops::ledger::{self, ClusterRecord, ClusterState};
use conductor::gitops::store::{Change, LedgerStore};
use conductor::gitops::transact::Decision;
use fakeapi::{FakeApi, Server};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const CLUSTERS: usize = 100;
const WAVES: usize = 4;
const NAMESPACE: &str = "shop";
const SERVICE: &str = "shop";
const ENV: &str = "production";
/// How often the stand-in controller looks at every fake's Rollouts.
const STAND_IN_POLL: Duration = Duration::from_millis(20);
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// Ledger writes timed on their own.
const LEDGER_WRITES: usize = 50;

fn main() -> Result<(), BoxError> {
    let binary = binary()?;
    let helm = helm()?;
    let scratch = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    println!("\n== ledger writes on their own: {LEDGER_WRITES} transitions ==");
    ledger_writes(scratch.path())?;

    println!("\n== {CLUSTERS} clusters in {WAVES} waves, rollouts Healthy as soon as written ==");
    let fleet = runtime.block_on(Fleet::start(scratch.path()))?;
    println!(
        "  KUBECONFIG lists {CLUSTERS} files, one context each, merged as kubectl merges them"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let healthy_writes: HealthyWrites = Arc::default();
    let stand_in = runtime.spawn(stand_in(
        fleet.fakes.clone(),
        healthy_writes.clone(),
        stop.clone(),
    ));

    let result = (|| -> Result<(), BoxError> {
        for (what, revision) in [
            ("first revision: objects created", &fleet.revisions[0]),
            ("second revision: objects updated", &fleet.revisions[1]),
        ] {
            println!("\n-- {what}: --revision {revision} --");
            runtime.block_on(fleet.renew_leases())?;
            healthy_writes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            let commits_before = fleet.ledger_commits();
            let run = deploy(&binary, &helm, &fleet, revision)?;
            let commits = fleet.ledger_commits() - commits_before;
            let writes = healthy_writes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            report(&run, commits, &writes);
            stand_in_latency(&fleet.fakes, revision);
        }
        Ok(())
    })();
    stop.store(true, Ordering::Relaxed);
    let _ = runtime.block_on(stand_in);
    drop(fleet);
    result
}

// ---------------------------------------------------------------- binaries

/// `target/<profile>/conductor`, next to `target/<profile>/deps/deploy-…`.
fn binary() -> Result<PathBuf, BoxError> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the bench executable has no grandparent directory")?;
    let binary = profile_dir.join("conductor");
    if !binary.is_file() {
        return Err(format!(
            "{} does not exist: build it in the same profile with `cargo build --release --bin conductor` \
             (`cargo bench --bench deploy` builds it too)",
            binary.display()
        )
        .into());
    }
    println!("binary: {}", binary.display());
    Ok(binary)
}

/// `$CONDUCTOR_HELM`, else the one `scripts/install-tools.sh` installs.
fn helm() -> Result<PathBuf, BoxError> {
    if let Some(path) = std::env::var_os("CONDUCTOR_HELM") {
        return Ok(PathBuf::from(path));
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/helm");
    if !local.is_file() {
        return Err("helm is needed: run scripts/install-tools.sh or set CONDUCTOR_HELM".into());
    }
    Ok(local)
}

fn git(dir: &Path, args: &[&str]) -> Result<String, BoxError> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(format!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

// ---------------------------------------------------------------- ledger alone

fn record(revision: &str, state: ClusterState) -> Result<String, BoxError> {
    let record = ClusterRecord {
        revision: revision.to_owned(),
        label: ledger::short(revision).to_owned(),
        state,
        previous_revision: None,
        previous_label: None,
        generation: 1,
        applied: ledger::Applied::default(),
        updated_at: jiff::Timestamp::now().to_string(),
        by: "bench".into(),
        message: None,
        rollback: false,
    };
    Ok(ledger::to_yaml(&record)?)
}

/// `LedgerStore::transact` against a fresh bare repository holding the
/// records of 100 clusters: one cluster's record per write, as the deploy
/// writes a cluster's end state. `read` (a fetch) is timed on its own too.
fn ledger_writes(scratch: &Path) -> Result<(), BoxError> {
    git(scratch, &["init", "--quiet", "--bare", "alone.git"])?;
    let location = LedgerLocation::new(scratch.join("alone.git").display().to_string());
    let opened = Instant::now();
    let mut store = LedgerStore::open(&location)?;
    let open = opened.elapsed();
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let mut changes = Vec::new();
    for i in 0..CLUSTERS {
        changes.push(Change::Put {
            path: ledger::cluster_path(SERVICE, ENV, &format!("c-{i}")),
            text: record(sha, ClusterState::Deploying)?,
        });
    }
    store.transact(SERVICE, ENV, |_| Decision::Write {
        changes: changes.clone(),
        message: "seed".into(),
        value: (),
    })?;
    let mut writes = Vec::new();
    for i in 0..LEDGER_WRITES {
        let text = record(sha, ClusterState::Healthy)?;
        let path = ledger::cluster_path(SERVICE, ENV, &format!("c-{}", i % CLUSTERS));
        let started = Instant::now();
        let outcome = store.transact(SERVICE, ENV, |_| Decision::Write {
            changes: vec![Change::Put {
                path: path.clone(),
                text: text.clone(),
            }],
            message: ledger::message(SERVICE, ENV, Some("c"), "Healthy"),
            value: (),
        })?;
        writes.push(started.elapsed());
        if !outcome.wrote {
            return Err("a ledger write did not land".into());
        }
    }
    let mut reads = Vec::new();
    for _ in 0..LEDGER_WRITES {
        let started = Instant::now();
        store.read(SERVICE, ENV)?;
        reads.push(started.elapsed());
    }
    println!(
        "  open (init cache + first fetch)       {:>7.1} ms",
        ms(open)
    );
    println!(
        "  transact (fetch + parse 100 records + commit + git push), {LEDGER_WRITES} writes: mean {:.1} ms, p95 {:.1} ms, max {:.1} ms   (target <= 100 ms per transition)",
        ms(mean(&writes)),
        ms(percentile(&writes, 0.95)),
        ms(percentile(&writes, 1.0)),
    );
    println!(
        "    of which read alone (git fetch + parse), {LEDGER_WRITES} reads: mean {:.1} ms, p95 {:.1} ms",
        ms(mean(&reads)),
        ms(percentile(&reads, 0.95)),
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mean(samples: &[Duration]) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.iter().sum::<Duration>() / samples.len() as u32
}

/// Nearest-rank percentile, `p` in (0, 1].
fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

// ---------------------------------------------------------------- the fleet

struct Fleet {
    repo: PathBuf,
    ledger: PathBuf,
    fakes: Vec<FakeApi>,
    _servers: Vec<Server>,
    kubeconfig: OsString,
    /// Short shas of the two releases, oldest first.
    revisions: [String; 2],
}

fn rollouts() -> (&'static str, &'static str) {
    ("conductor.dev/v1alpha1", "rollouts")
}

fn name_of(i: usize) -> String {
    format!("c-{i}")
}

fn wave_of(i: usize) -> usize {
    i / (CLUSTERS / WAVES) + 1
}

const CHART_ROLLOUT: &str = r#"apiVersion: conductor.dev/v1alpha1
kind: Rollout
metadata:
  name: shop
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app: shop
  template:
    metadata:
      labels:
        app: shop
    spec:
      containers:
        - name: shop
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
  strategy:
    canary:
      stableService: shop-stable
      canaryService: shop-canary
      steps:
        - setWeight: 50
"#;

const CHART_SERVICES: &str = r#"{{- range $role := list "stable" "canary" }}
---
apiVersion: v1
kind: Service
metadata:
  name: shop-{{ $role }}
spec:
  selector:
    app: shop
  ports:
    - port: 80
{{- end }}
"#;

impl Fleet {
    async fn start(scratch: &Path) -> Result<Fleet, BoxError> {
        let setup = Instant::now();
        let ledger = scratch.join("ledger.git");
        git(scratch, &["init", "--quiet", "--bare", "ledger.git"])?;
        let repo = scratch.join("repo");
        let mut config = format!(
            "service: {SERVICE}\nchart: charts/shop\nrevisionValue: image.tag\nledger:\n  repository: {}\nenvironments:\n  {ENV}:\n    clusters:\n",
            ledger.display()
        );
        for i in 0..CLUSTERS {
            config.push_str(&format!(
                "      - name: {}\n        region: region-{}\n        context: ctx-{i}\n        namespace: {NAMESPACE}\n        controllerNamespace: conductor\n        wave: {}\n",
                name_of(i),
                wave_of(i),
                wave_of(i)
            ));
        }
        let files = [
            ("conductor-config/shop.yaml", config.as_str()),
            (
                "charts/shop/Chart.yaml",
                "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
            ),
            (
                "charts/shop/values.yaml",
                "replicas: 2\nimage:\n  repository: registry.k8s.io/pause\n  tag: latest\n",
            ),
            ("charts/shop/templates/rollout.yaml", CHART_ROLLOUT),
            ("charts/shop/templates/services.yaml", CHART_SERVICES),
        ];
        for (path, text) in files {
            let path = repo.join(path);
            std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
            std::fs::write(path, text)?;
        }
        git(&repo, &["init", "--quiet", "-b", "main"])?;
        git(&repo, &["add", "."])?;
        git(&repo, &["commit", "--quiet", "-m", "shop"])?;
        let mut revisions = Vec::new();
        for what in ["first release", "second release"] {
            std::fs::write(repo.join("CHANGES"), format!("{what}\n"))?;
            git(&repo, &["add", "."])?;
            git(&repo, &["commit", "--quiet", "-m", what])?;
            revisions.push(git(&repo, &["rev-parse", "--short=7", "HEAD"])?);
        }

        let crds: Vec<Value> = conductor::crd::all()
            .into_iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?;
        let mut fakes = Vec::new();
        let mut servers = Vec::new();
        let mut kubeconfigs = Vec::new();
        for i in 0..CLUSTERS {
            let fake = FakeApi::new();
            for crd in &crds {
                fake.insert(
                    ("apiextensions.k8s.io/v1", "customresourcedefinitions"),
                    crd.clone(),
                )?;
            }
            for namespace in [NAMESPACE, "conductor"] {
                fake.insert(
                    ("v1", "namespaces"),
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
                )?;
            }
            fake.insert(
                ("coordination.k8s.io/v1", "leases"),
                json!({
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": "conductor-controller", "namespace": "conductor"},
                    "spec": {
                        "holderIdentity": format!("bench-controller-{i}"),
                        "leaseDurationSeconds": 15,
                        "renewTime": micro_time(),
                    },
                }),
            )?;
            let server = fakeapi::serve(fake.clone(), ([127, 0, 0, 1], 0).into()).await?;
            let kubeconfig = scratch.join(format!("kubeconfig-{i}"));
            let config = json!({
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": format!("cluster-{i}"), "cluster": {"server": server.url()}}],
                "users": [{"name": format!("user-{i}"), "user": {}}],
                "contexts": [{
                    "name": format!("ctx-{i}"),
                    "context": {"cluster": format!("cluster-{i}"), "user": format!("user-{i}"), "namespace": NAMESPACE},
                }],
                "current-context": format!("ctx-{i}"),
            });
            std::fs::write(&kubeconfig, serde_json::to_vec_pretty(&config)?)?;
            kubeconfigs.push(kubeconfig);
            fakes.push(fake);
            servers.push(server);
        }
        let kubeconfig = std::env::join_paths(&kubeconfigs)?;
        println!(
            "  set up {CLUSTERS} fake API servers, the source and the ledger repositories in {:.1} s",
            setup.elapsed().as_secs_f64()
        );
        let [first, second] = <[String; 2]>::try_from(revisions).map_err(|_| "two revisions")?;
        Ok(Fleet {
            repo,
            ledger,
            fakes,
            _servers: servers,
            kubeconfig,
            revisions: [first, second],
        })
    }

    /// The stand-in controllers renew their leases, as a leader does.
    async fn renew_leases(&self) -> Result<(), BoxError> {
        let leases = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("coordination.k8s.io", "v1", "Lease"),
            "leases",
        );
        for fake in &self.fakes {
            let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(
                fake.client_as("bench-controller"),
                "conductor",
                &leases,
            );
            let patch = json!({"spec": {"renewTime": micro_time()}});
            api.patch(
                "conductor-controller",
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        }
        Ok(())
    }

    fn ledger_commits(&self) -> usize {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(&self.ledger)
            .args(["rev-list", "--count", "conductor/ledger"])
            .stderr(Stdio::null())
            .output();
        out.ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(0)
    }
}

/// Now as Kubernetes writes a MicroTime: RFC 3339 with microseconds.
fn micro_time() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

// ---------------------------------------------------------------- stand-in controller

/// When the stand-in wrote a cluster's Rollout Healthy: (cluster, when).
type HealthyWrites = Arc<Mutex<Vec<(usize, Instant)>>>;

fn rollout_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("conductor.dev", "v1alpha1", "Rollout"),
        "rollouts",
    )
}

fn image_tag(rollout: &Value) -> Option<&str> {
    rollout
        .pointer("/spec/template/spec/containers/0/image")?
        .as_str()?
        .rsplit_once(':')
        .map(|(_, tag)| tag)
}

/// Instead of 100 controllers: every 20 ms, each fake's Rollouts that are
/// not Healthy at their generation and image tag get that status, written
/// through the status subresource as a controller writes it.
async fn stand_in(fakes: Vec<FakeApi>, writes: HealthyWrites, stop: Arc<AtomicBool>) {
    let apis: Vec<kube::Api<DynamicObject>> = fakes
        .iter()
        .map(|f| {
            kube::Api::namespaced_with(
                f.client_as("conductor-status"),
                NAMESPACE,
                &rollout_resource(),
            )
        })
        .collect();
    let mut tick = tokio::time::interval(STAND_IN_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        for (i, fake) in fakes.iter().enumerate() {
            for rollout in fake.list_objects(rollouts(), Some(NAMESPACE)) {
                let generation = rollout.pointer("/metadata/generation").cloned();
                let Some(tag) = image_tag(&rollout) else {
                    continue;
                };
                let status = &rollout["status"];
                let healthy = status["phase"] == "Healthy"
                    && status.get("observedGeneration") == generation.as_ref()
                    && status["stableRevision"] == tag;
                if healthy {
                    continue;
                }
                let name = rollout["metadata"]["name"].as_str().unwrap_or_default();
                let patch = json!({"status": {
                    "phase": "Healthy",
                    "observedGeneration": generation,
                    "stableRevision": tag,
                }});
                match apis[i]
                    .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => writes
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, Instant::now())),
                    Err(e) => eprintln!("  stand-in: status of {} failed: {e}", name_of(i)),
                }
            }
        }
    }
}

/// From the fakes' audit logs: the deploy's write of each Rollout at
/// `label` to the stand-in's Healthy status write for it.
fn stand_in_latency(fakes: &[FakeApi], label: &str) {
    let mut latencies = Vec::new();
    for fake in fakes {
        let audit = fake.audit();
        let at_label = |e: &fakeapi::AuditEntry| {
            e.status < 300
                && e.object.as_deref().and_then(image_tag) == Some(label)
                && e.object
                    .as_deref()
                    .and_then(|o| o.pointer("/metadata/name"))
                    .and_then(Value::as_str)
                    == Some("shop")
        };
        let written = audit.iter().find(|e| {
            at_label(e)
                && e.path.contains("/rollouts/")
                && !e.path.ends_with("/status")
                && e.field_manager.as_deref() == Some("conductor-deploy")
        });
        let healthy = audit.iter().find(|e| {
            at_label(e)
                && e.path.ends_with("/status")
                && e.object
                    .as_deref()
                    .and_then(|o| o.pointer("/status/phase"))
                    .and_then(Value::as_str)
                    == Some("Healthy")
        });
        if let (Some(w), Some(h)) = (written, healthy) {
            let d = h.time.duration_since(w.time);
            latencies.push(Duration::from_secs_f64(d.as_secs_f64().max(0.0)));
        }
    }
    println!(
        "  stand-in controller: Rollout written → status Healthy, {} clusters: mean {:.0} ms, p95 {:.0} ms, max {:.0} ms   (its {} ms poll; not the deploy's time)",
        latencies.len(),
        ms(mean(&latencies)),
        ms(percentile(&latencies, 0.95)),
        ms(percentile(&latencies, 1.0)),
        STAND_IN_POLL.as_millis()
    );
}

// ---------------------------------------------------------------- the deploy process

/// The deploy child process; killed (by its own PID) and reaped on drop.
struct DeployProcess {
    child: Child,
}

impl Drop for DeployProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

struct Run {
    started: Instant,
    ended: Instant,
    lines: Vec<(Instant, String)>,
    peak_rss_mb: f64,
    hwm_mb: f64,
}

/// `(VmRSS, VmHWM)` in MB.
fn memory(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn deploy(binary: &Path, helm: &Path, fleet: &Fleet, revision: &str) -> Result<Run, BoxError> {
    let started = Instant::now();
    let child = Command::new(binary)
        .arg("--repo")
        .arg(&fleet.repo)
        .args([
            "deploy",
            SERVICE,
            "--env",
            ENV,
            "--revision",
            revision,
            "--poll",
            "50ms",
            "--timeout",
            "120s",
            "--by",
            "bench",
        ])
        .env("KUBECONFIG", &fleet.kubeconfig)
        .env("CONDUCTOR_HELM", helm)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut process = DeployProcess { child };
    let pid = process.child.id();
    println!("  started conductor deploy pid {pid}");
    let stdout = process.child.stdout.take().ok_or("no stdout")?;
    let mut stderr = process.child.stderr.take().ok_or("no stderr")?;
    let lines: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((Instant::now(), line));
            }
        })
    };
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (mut peak_rss, mut hwm) = (0.0_f64, 0.0_f64);
    let status = loop {
        // Sampled before try_wait: after the exit /proc has nothing left.
        if let Some((rss, high)) = memory(pid) {
            peak_rss = peak_rss.max(rss);
            hwm = hwm.max(high);
        }
        if let Some(status) = process.child.try_wait()? {
            break status;
        }
        std::thread::sleep(SAMPLE_EVERY);
    };
    let ended = Instant::now();
    let _ = reader.join();
    let stderr = errors.join().unwrap_or_default();
    let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()));
    if !status.success() {
        println!("  conductor deploy failed ({status}); its whole output:");
        for (_, line) in &lines {
            println!("    {line}");
        }
        for line in stderr.lines() {
            println!("    stderr: {line}");
        }
        return Err(format!("conductor deploy --revision {revision}: {status}").into());
    }
    if !stderr.trim().is_empty() {
        println!("  stderr: {}", stderr.trim());
    }
    Ok(Run {
        started,
        ended,
        lines,
        peak_rss_mb: peak_rss,
        hwm_mb: hwm,
    })
}

// ---------------------------------------------------------------- figures

/// `[wave 2] c-37: applying 3 objects` → (2, "c-37", "applying 3 objects").
fn parse(line: &str) -> Option<(usize, &str, &str)> {
    let rest = line.strip_prefix("[wave ")?;
    let (wave, rest) = rest.split_once("] ")?;
    let (cluster, what) = rest.split_once(": ")?;
    Some((wave.parse().ok()?, cluster, what))
}

/// `Healthy at abc1234 after 0.3s` → 0.3.
fn after_seconds(what: &str) -> Option<f64> {
    what.strip_prefix("Healthy at ")?
        .rsplit_once(" after ")?
        .1
        .strip_suffix('s')?
        .parse()
        .ok()
}

#[derive(Default)]
struct WaveFigures {
    first_applying: Option<Instant>,
    last_healthy: Option<Instant>,
    slowest_after: f64,
    healthy_lines: Vec<Instant>,
    applying: BTreeMap<String, Instant>,
}

fn report(run: &Run, commits: usize, healthy_writes: &[(usize, Instant)]) {
    let mut waves: BTreeMap<usize, WaveFigures> = BTreeMap::new();
    let mut first_wave_line = None;
    for (at, line) in &run.lines {
        let Some((wave, cluster, what)) = parse(line) else {
            continue;
        };
        first_wave_line.get_or_insert(*at);
        let figures = waves.entry(wave).or_default();
        if what.starts_with("applying ") {
            figures.first_applying.get_or_insert(*at);
            figures.applying.insert(cluster.to_owned(), *at);
        } else if let Some(after) = after_seconds(what) {
            figures.last_healthy = Some(*at);
            figures.slowest_after = figures.slowest_after.max(after);
            figures.healthy_lines.push(*at);
        }
    }
    println!(
        "  total deploy time {:.2} s (process start to exit); {:.2} s before the first wave (render {CLUSTERS} clusters, preflight, intent)",
        (run.ended - run.started).as_secs_f64(),
        first_wave_line.map_or(f64::NAN, |f| (f - run.started).as_secs_f64()),
    );
    for (wave, figures) in &waves {
        let (Some(first), Some(last)) = (figures.first_applying, figures.last_healthy) else {
            println!("  wave {wave}: no applying/Healthy lines");
            continue;
        };
        let wall = (last - first).as_secs_f64();
        // When the API really said Healthy, from this side: the stand-in's
        // status write, measured from the cluster's own `applying` line.
        let slowest_in_api = healthy_writes
            .iter()
            .filter(|(i, _)| wave_of(*i) == *wave)
            .filter_map(|(i, at)| {
                let applying = figures.applying.get(&name_of(*i))?;
                Some(at.saturating_duration_since(*applying).as_secs_f64())
            })
            .fold(0.0_f64, f64::max);
        let gaps: Vec<Duration> = figures
            .healthy_lines
            .windows(2)
            .map(|w| w[1] - w[0])
            .collect();
        println!(
            "  wave {wave}: {} clusters, first `applying` → last `Healthy` {wall:.2} s; slowest cluster `after` {:.2} s; beyond the slowest {:.2} s   (target <= 1 s)",
            figures.healthy_lines.len(),
            figures.slowest_after,
            wall - figures.slowest_after,
        );
        println!(
            "          slowest cluster Healthy in its API {slowest_in_api:.2} s after its `applying`; beyond that {:.2} s; gap between consecutive `Healthy` lines: mean {:.0} ms, p95 {:.0} ms",
            wall - slowest_in_api,
            ms(mean(&gaps)),
            ms(percentile(&gaps, 0.95)),
        );
    }
    let handovers: Vec<String> = waves
        .values()
        .zip(waves.values().skip(1))
        .filter_map(|(done, next)| {
            Some(format!(
                "{:.0} ms",
                ms(next
                    .first_applying?
                    .saturating_duration_since(done.last_healthy?))
            ))
        })
        .collect();
    let tail = waves
        .values()
        .last()
        .and_then(|w| w.last_healthy)
        .map_or(f64::NAN, |last| {
            ms(run.ended.saturating_duration_since(last))
        });
    println!(
        "  between waves (last `Healthy` → next wave's first `applying`, the wave-start ledger commit): {}; last `Healthy` → exit {tail:.0} ms",
        handovers.join(", ")
    );
    let transitions = run
        .lines
        .iter()
        .filter(|(_, l)| parse(l).is_some_and(|(_, _, w)| after_seconds(w).is_some()))
        .count();
    // Clusters that end together share one commit, so the count is at most
    // one per transition.
    println!(
        "  ledger commits written: {commits} for {} transitions (1 intent, {WAVES} wave starts, {transitions} cluster ends; ends arriving together share a commit)",
        1 + WAVES + transitions
    );
    println!(
        "  deploy process memory: peak VmHWM {:.1} MB (highest VmRSS sampled {:.1} MB)   (target <= 200 MB)",
        run.hwm_mb, run.peak_rss_mb
    );
}
