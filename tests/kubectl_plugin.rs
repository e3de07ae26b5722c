//! The shipped binary as people run it: `conductor controller` as its own
//! process against an API server over HTTP (the fake, served on loopback,
//! named by a kubeconfig), and `kubectl conductor ...` found by kubectl's
//! plugin discovery on PATH.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/servers.rs"]
mod servers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cluster::rbac;
use conductor::crd::rollout::{Rollout, RolloutPhase};
use fakeapi::simulator::Simulator;
use fakeapi::{FakeApi, User};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(30);

fn kubectl() -> Option<PathBuf> {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/kubectl");
    local.exists().then_some(local)
}

/// Current (the controller has seen the latest spec), in `phase`, on `revision`.
fn settled(phase: &'static str, revision: &'static str) -> impl Fn(&Rollout) -> bool {
    move |r: &Rollout| {
        let status = r.status.clone().unwrap_or_default();
        let on_revision = status.canary_revision.as_deref() == Some(revision)
            || status.stable_revision.as_deref() == Some(revision);
        status.observed_generation == r.metadata.generation
            && on_revision
            && status.phase.map(RolloutPhase::as_str) == Some(phase)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_conductor_drives_a_controller_process() {
    let Some(kubectl) = kubectl() else {
        panic!("kubectl missing: run `bash scripts/install-tools.sh` first");
    };
    // RBAC enforced: the controller runs as the chart's ServiceAccount with
    // the chart's rules, the person at kubectl as an admin.
    let fake = FakeApi::new();
    for crd in conductor::crd::all() {
        fake.insert(
            ("apiextensions.k8s.io/v1", "customresourcedefinitions"),
            serde_json::to_value(crd).expect("a CRD"),
        )
        .expect("install the CRDs");
    }
    fake.enforce_rbac().expect("enforce RBAC");
    rbac::install(
        &fake,
        &rbac::render("charts/conductor", rbac::RELEASE, "default", &[]),
    );
    let operator = User::service_account("default", rbac::RELEASE);
    fake.add_token("controller", operator.clone());
    fake.add_token("admin", User::admin());
    let _simulator = Simulator::start(&fake);
    let server = fakeapi::serve(fake.clone(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve the fake");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    fakeapi::write_kubeconfig_with_token(&kubeconfig, server.addr(), Some("admin"))
        .expect("kubeconfig");
    let controller_kubeconfig = dir.path().join("controller-kubeconfig");
    fakeapi::write_kubeconfig_with_token(&controller_kubeconfig, server.addr(), Some("controller"))
        .expect("kubeconfig");

    let port = servers::free_port();
    let log_path = dir.path().join("controller.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let _controller = servers::Process::spawn_logging(
        "conductor controller",
        Command::new(env!("CARGO_BIN_EXE_conductor"))
            .args([
                "controller",
                "--no-leader-election",
                "--namespace",
                "default",
            ])
            .arg(format!("--metrics-addr=127.0.0.1:{port}"))
            .env("KUBECONFIG", &controller_kubeconfig)
            .env("RUST_LOG", "info"),
        Stdio::from(log),
    );
    servers::wait_ready(&format!("http://127.0.0.1:{port}/readyz"), LIMIT).await;

    let rollouts: Api<Rollout> = Api::namespaced(fake.client(), "default");
    let rollout: Rollout = serde_json::from_value(json!({
        "apiVersion": "conductor.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": { "name": "web" },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": "web" } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": { "containers": [{ "name": "app", "image": "web:v1" }] }
            },
            "strategy": { "canary": { "steps": [{ "setWeight": 50 }, { "pause": {} }] } }
        }
    }))
    .expect("rollout");
    rollouts
        .create(&PostParams::default(), &rollout)
        .await
        .expect("create");
    cluster::wait_for(
        &rollouts,
        "web",
        LIMIT,
        "healthy on v1",
        settled("Healthy", "v1"),
    )
    .await;
    let patch = json!({ "spec": { "template": { "spec": { "containers": [{ "name": "app", "image": "web:v2" }] } } } });
    rollouts
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("new image");
    cluster::wait_for(
        &rollouts,
        "web",
        LIMIT,
        "paused on v2",
        settled("Paused", "v2"),
    )
    .await;

    // kubectl finds `kubectl-conductor` on PATH and hands it the rest of the line.
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    std::fs::copy(
        env!("CARGO_BIN_EXE_conductor"),
        plugins.join("kubectl-conductor"),
    )
    .expect("install the plugin");
    let path = format!(
        "{}:{}",
        plugins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kubeconfig_for_plugin = kubeconfig.clone();
    let run = move |args: &[&str]| {
        let output = Command::new(&kubectl)
            .arg("conductor")
            .args(args)
            .env("KUBECONFIG", &kubeconfig_for_plugin)
            .env("PATH", &path)
            .output()
            .expect("kubectl runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (code, out) = tokio::task::spawn_blocking(move || {
        let promoted = run(&["promote", "web", "--full"]);
        let status = run(&["status", "web", "--watch", "--timeout", "30s"]);
        let get = run(&["get", "web"]);
        (promoted, status, get)
    })
    .await
    .map(|(p, s, g)| ((p.0, s.0, g.0), format!("{}\n{}\n{}", p.1, s.1, g.1)))
    .expect("the plugin ran");
    assert_eq!(code, (Some(0), Some(0), Some(0)), "{out}");
    assert!(out.contains("promote-full: rollout web"), "{out}");
    assert!(out.contains("rollout web: Healthy"), "{out}");
    assert!(out.contains("REPLICASET"), "{out}");

    // Its logs are JSON lines a collector can parse.
    let logs = std::fs::read_to_string(&log_path).expect("logs");
    let lines: Vec<&str> = logs.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty(), "the controller logged nothing");
    for line in &lines {
        let parsed: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(parsed.get("level").is_some(), "{line}");
    }
    assert!(
        logs.contains("RolloutCompleted"),
        "decisions are logged: {logs}"
    );
    rbac::write_usage(
        rbac::OPERATOR,
        "kubectl-plugin",
        &rbac::used_by(&fake, &operator.name),
    );
    let forbidden = rbac::forbidden_to(&fake, &operator.name);
    assert!(
        forbidden.is_empty(),
        "the controller was forbidden what charts/conductor's RBAC does not grant: {forbidden:#?}"
    );
}
