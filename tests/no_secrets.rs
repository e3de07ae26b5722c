//! No secret in any output. The operator runs rollouts whose analyses use
//! secrets the way people wire them (Datadog keys from the `datadog`
//! Secret, a bearer token and a URL parameter from a Secret through
//! analysis arguments), passing, failing and failing to connect; then
//! everything anyone can read is gathered (the controller's log at debug
//! level, every Event, every Rollout and AnalysisRun with its status,
//! `conductor rollout status` and `get`, the metrics page) and searched for
//! each secret value. Against the in-process fake API server by default;
//! against a real cluster when KUBECONFIG is set (the log is then this
//! process' own controller's, as here).

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/rollouts.rs"]
mod rollouts;
#[path = "support/servers.rs"]
mod servers;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use cluster::{Cluster, phase, wait_for};
use conductor::cli::rollout as rollout_cli;
use conductor::crd::analysis::{AnalysisRun, AnalysisTemplate};
use conductor::crd::rollout::Rollout;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use rollouts::{V1, V2, V3, engine_healthy_at, rollout, services, set_image};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(40);

/// Everything the tracing subscriber writes, for the search at the end.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// A secret value no test fixture could contain by chance.
fn secret(what: &str) -> String {
    format!("{what}-{:016x}", rand_u64())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    hasher.finish()
}

struct Secrets {
    api_key: String,
    app_key: String,
    token: String,
}

/// A Datadog-shaped and a web-shaped metric source in one, answering only
/// to the right keys and token, with an error rate the test sets.
fn source(secrets: &Secrets, rate: Arc<Mutex<f64>>) -> servers::Handler {
    let (api_key, app_key, token) = (
        secrets.api_key.clone(),
        secrets.app_key.clone(),
        secrets.token.clone(),
    );
    servers::handler(move |request: servers::Request| {
        let rate = *rate.lock().unwrap_or_else(|e| e.into_inner());
        let datadog = request.path == "/api/v1/query";
        let allowed = if datadog {
            request.header("DD-API-KEY") == Some(api_key.as_str())
                && request.header("DD-APPLICATION-KEY") == Some(app_key.as_str())
        } else {
            request.header("authorization") == Some(format!("Bearer {token}").as_str())
                && request.query == format!("token={token}")
        };
        async move {
            match (allowed, datadog) {
                (false, _) => servers::Response::new(403, r#"{"errors": ["Forbidden"]}"#),
                (true, true) => servers::Response::new(
                    200,
                    json!({ "status": "ok", "series": [{ "pointlist": [[0, rate]] }] }).to_string(),
                ),
                (true, false) if rate > 0.05 => servers::Response::new(500, "upstream said no"),
                (true, false) => {
                    servers::Response::new(200, json!({ "errorRate": rate }).to_string())
                }
            }
        }
    })
}

async fn apply_secret(cluster: &Cluster, name: &str, data: Value) {
    cluster
        .apply::<Secret>(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": { "name": name },
            "stringData": data
        }))
        .await;
}

async fn template(cluster: &Cluster, name: &str, provider: Value) {
    cluster
        .apply::<AnalysisTemplate>(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": { "name": name },
            "spec": {
                "args": [{ "name": "token" }],
                "metrics": [{
                    "name": name,
                    "interval": "1s",
                    "count": 2,
                    "successCondition": "result < 0.05",
                    "failureLimit": 0,
                    "consecutiveErrorLimit": 0,
                    "provider": provider
                }]
            }
        }))
        .await;
}

/// 50%, then an analysis of `templates` given the token from the
/// `metrics-token` Secret.
fn analysis_steps(templates: &[&str]) -> Value {
    let templates: Vec<Value> = templates
        .iter()
        .map(|t| json!({ "templateName": t }))
        .collect();
    json!([
        { "setWeight": 50 },
        { "analysis": {
            "templates": templates,
            "args": [{ "name": "token", "valueFrom": {
                "secretKeyRef": { "name": "metrics-token", "key": "token" }
            } }]
        } }
    ])
}

fn aborted(r: &Rollout) -> bool {
    phase(r) == "Degraded" && r.status.as_ref().and_then(|s| s.abort) == Some(true)
}

async fn cli(cluster: &Cluster, args: &[&str]) -> String {
    let line = ["conductor", "rollout"].iter().chain(args);
    let parsed = conductor::cli::Cli::try_parse_from(line).expect("the command parses");
    let conductor::cli::Command::Rollout { action, .. } = parsed.command else {
        unreachable!("`conductor rollout` parses as the rollout command");
    };
    let mut out = Vec::new();
    let code = rollout_cli::execute(cluster.client(), &cluster.namespace, action, &mut out).await;
    format!("{code:?}\n{}", String::from_utf8_lossy(&out))
}

async fn all_json<K>(api: Api<K>) -> String
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let list = api.list(&ListParams::default()).await.expect("list");
    serde_json::to_string_pretty(&list.items).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_used_by_analyses_appear_in_no_log_event_status_or_command_output() {
    let log = Log::default();
    let writer = log.clone();
    // The controller runs in this process: its log is this subscriber's.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let cluster = Cluster::start("no-secrets").await;
    let controller = cluster.controller("replica-a").await;
    let secrets = Secrets {
        api_key: secret("dd-api"),
        app_key: secret("dd-app"),
        token: secret("token"),
    };
    let rate = cluster::shared(0.01);
    let stub = servers::Stub::start(source(&secrets, rate.clone())).await;
    let closed = {
        let gone = servers::Stub::start(servers::handler(|_| async {
            servers::Response::new(200, "")
        }))
        .await;
        let url = gone.url();
        gone.stop();
        url
    };
    apply_secret(
        &cluster,
        "datadog",
        json!({ "api-key": secrets.api_key, "app-key": secrets.app_key }),
    )
    .await;
    apply_secret(&cluster, "metrics-token", json!({ "token": secrets.token })).await;
    template(
        &cluster,
        "datadog-errors",
        json!({ "datadog": { "query": "sum:errors{*}", "site": stub.url() } }),
    )
    .await;
    let web = |base: &str| {
        json!({ "web": {
            "url": format!("{base}/rate?token={{{{args.token}}}}"),
            "headers": [{ "key": "Authorization", "value": "Bearer {{args.token}}" }],
            "jsonPath": "{$.errorRate}"
        } })
    };
    template(&cluster, "web-errors", web(&stub.url())).await;
    template(&cluster, "unreachable", web(&closed)).await;

    // Passing, then failing on the metric, then failing to connect.
    services(&cluster, "vault").await;
    services(&cluster, "island").await;
    let rollouts = cluster.api::<Rollout>();
    let both = ["datadog-errors", "web-errors"];
    cluster
        .apply::<Rollout>(rollout("vault", V1, 2, analysis_steps(&both)))
        .await;
    cluster
        .apply::<Rollout>(rollout("island", V1, 2, analysis_steps(&["unreachable"])))
        .await;
    wait_for(
        &rollouts,
        "vault",
        LIMIT,
        "healthy",
        engine_healthy_at("3.9"),
    )
    .await;
    wait_for(
        &rollouts,
        "island",
        LIMIT,
        "healthy",
        engine_healthy_at("3.9"),
    )
    .await;
    set_image(&cluster, "vault", V2).await;
    wait_for(
        &rollouts,
        "vault",
        LIMIT,
        "promoted",
        engine_healthy_at("3.10"),
    )
    .await;
    *rate.lock().unwrap_or_else(|e| e.into_inner()) = 0.5;
    set_image(&cluster, "vault", V3).await;
    set_image(&cluster, "island", V2).await;
    let vault = wait_for(&rollouts, "vault", LIMIT, "aborted", aborted).await;
    let island = wait_for(&rollouts, "island", LIMIT, "aborted", aborted).await;
    // The failures said why, so the search below reads real messages.
    let said = |r: &Rollout| {
        r.status
            .as_ref()
            .and_then(|s| s.message.clone())
            .unwrap_or_default()
    };
    assert!(said(&vault).contains("failed"), "{}", said(&vault));
    assert!(said(&island).contains("error"), "{}", said(&island));

    let mut outputs = vec![
        ("the controller's log", log.text()),
        ("Events", all_json(cluster.api::<Event>()).await),
        ("Rollouts", all_json(cluster.api::<Rollout>()).await),
        ("AnalysisRuns", all_json(cluster.api::<AnalysisRun>()).await),
    ];
    for name in ["vault", "island"] {
        outputs.push(("rollout status", cli(&cluster, &["status", name]).await));
        outputs.push(("rollout get", cli(&cluster, &["get", name]).await));
    }
    if let Some(addr) = controller.metrics_addr {
        let page = reqwest_free_get(addr, "/metrics").await;
        outputs.push(("the metrics page", page));
    }
    let runs = &outputs[3].1;
    assert!(
        runs.contains("upstream said no") || runs.contains("500"),
        "the failed measurement is on record: {runs}"
    );
    for (what, text) in &outputs {
        assert!(!text.is_empty(), "{what} is empty");
        for value in [&secrets.api_key, &secrets.app_key, &secrets.token] {
            assert!(
                !text.contains(value.as_str()),
                "a secret in {what}: {}",
                around(text, value)
            );
        }
    }
}

/// The line around the first `needle`, for the failure message.
fn around(text: &str, needle: &str) -> String {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_default()
        .chars()
        .take(400)
        .collect()
}

/// GET over plain HTTP/1.0 on loopback: the metrics page is text.
async fn reqwest_free_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    socket
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .expect("send");
    let mut page = String::new();
    socket.read_to_string(&mut page).await.expect("read");
    page
}
