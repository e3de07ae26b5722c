//! Certificates are verified by default for metric providers (through
//! `conductor analyze` and through the operator; a deploy's webhooks are
//! in `tests/deploy.rs`): HTTPS servers on loopback whose
//! certificate a CA minted for the test signed, as a company's private CA
//! would. Untrusted, the measurement is an Error naming the server and the
//! cure; the CA bundle (`--ca-bundle`, `CONDUCTOR_CA_BUNDLE`) makes it
//! pass; `insecure: true` passes too, and the measurement says it was not
//! verified.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/rollouts.rs"]
mod rollouts;
#[path = "support/servers.rs"]
mod servers;
#[path = "support/tls.rs"]
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cluster::{Cluster, wait_for};
use conductor::crd::analysis::AnalysisTemplate;
use conductor::crd::rollout::Rollout;
use rollouts::{V1, V2, V3, rollout, services, stable_at};
use serde_json::{Value, json};
use servers::{Request, Response, conductor_analyze, handler};
use tls::TestCa;

const UNVERIFIED: &str = "TLS certificate not verified (insecure: true)";

/// Answers a web metric at `/rate` and Prometheus' instant queries, and
/// counts what it was asked: a server nobody trusts is never asked.
async fn metrics_server(ca: &TestCa, asked: Arc<AtomicUsize>) -> servers::Stub {
    ca.stub(handler(move |r: Request| {
        asked.fetch_add(1, Ordering::SeqCst);
        async move {
            match r.path.as_str() {
                "/rate" => Response::new(200, r#"{"errorRate": 0.01}"#),
                "/api/v1/query" if r.header("Authorization") == Some("Bearer s3cr3t") => {
                    Response::new(
                        200,
                        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"0.02"]}]}}"#,
                    )
                }
                _ => Response::new(404, "{}"),
            }
        }
    }))
    .await
}

/// A web and a Prometheus metric on `base`, each deciding on its first
/// error; `extra` is added to both providers (`insecure: true`).
fn template(name: &str, base: &str, extra: &str) -> String {
    format!(
        "\
apiVersion: conductor.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: {name}
spec:
  metrics:
    - name: web
      consecutiveErrorLimit: 0
      successCondition: result < 0.05
      provider:
        web:
          url: {base}/rate?token=s3cr3t
          jsonPath: \"{{$.errorRate}}\"
{extra}    - name: prometheus
      consecutiveErrorLimit: 0
      successCondition: result[0] < 0.05
      provider:
        prometheus:
          address: {base}
          query: sum(rate(errors[1m]))
          headers:
            - key: Authorization
              value: Bearer s3cr3t
{extra}"
    )
}

/// The one measurement of each metric, web first.
fn measurements(status: &Value) -> Vec<&Value> {
    status["metricResults"]
        .as_array()
        .expect("metric results")
        .iter()
        .map(|m| &m["measurements"][0])
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn metric_providers_verify_certificates_unless_the_ca_is_given_or_insecure_is_set() {
    let ca = TestCa::new("metrics");
    let other = TestCa::new("other");
    let asked = Arc::new(AtomicUsize::new(0));
    let server = metrics_server(&ca, asked.clone()).await;
    let base = server.url();
    let dir = tempfile::tempdir().unwrap();
    let bundle = ca.bundle(dir.path(), "metrics-ca.pem");
    let other_bundle = other.bundle(dir.path(), "other-ca.pem");
    let flag = |path: &std::path::Path| vec!["--ca-bundle".to_owned(), path.display().to_string()];

    // Nothing trusts the CA: both measurements are Errors naming the
    // server, why, and the cure, and nothing of the URL's path and query
    // (where tokens live) nor of the headers. A bundle of another CA
    // changes nothing.
    for (name, extra) in [("untrusted", vec![]), ("other-ca", flag(&other_bundle))] {
        let (code, status, printed) =
            conductor_analyze(dir.path(), name, &template(name, &base, ""), &extra, &[]).await;
        assert_eq!(
            (code, status["phase"].as_str()),
            (1, Some("Error")),
            "{name}: {printed}"
        );
        for measurement in measurements(&status) {
            assert_eq!(measurement["phase"], "Error", "{name}: {measurement:#}");
            let message = measurement["message"].as_str().unwrap_or_default();
            assert!(
                message.starts_with(&format!(
                    "TLS certificate verification failed for {}: its certificate is not signed by a trusted CA",
                    server.addr
                )) && message.ends_with("trust its CA with --ca-bundle (CONDUCTOR_CA_BUNDLE)"),
                "{name}: {message}"
            );
            assert!(
                !message.contains("s3cr3t") && !message.contains("/rate"),
                "{name}: {message}"
            );
        }
    }
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "an untrusted server was sent a request"
    );

    // The CA bundle, from the environment as the chart sets it: both pass,
    // verified.
    let (code, status, printed) = conductor_analyze(
        dir.path(),
        "trusted",
        &template("trusted", &base, ""),
        &[],
        &[("CONDUCTOR_CA_BUNDLE", &bundle.display().to_string())],
    )
    .await;
    assert_eq!(
        (code, status["phase"].as_str()),
        (0, Some("Successful")),
        "{printed}"
    );
    for measurement in measurements(&status) {
        assert_eq!(measurement["phase"], "Successful", "{measurement:#}");
        assert_eq!(measurement["message"], Value::Null, "{measurement:#}");
    }
    assert_eq!(asked.load(Ordering::SeqCst), 2);

    // `insecure: true`, as Argo writes it, and no bundle: both pass, and
    // each measurement records that the certificate was not verified.
    let (code, status, printed) = conductor_analyze(
        dir.path(),
        "insecure",
        &template("insecure", &base, "          insecure: true\n"),
        &[],
        &[],
    )
    .await;
    assert_eq!(
        (code, status["phase"].as_str()),
        (0, Some("Successful")),
        "{printed}"
    );
    let values: Vec<(&Value, &Value)> = measurements(&status)
        .iter()
        .map(|m| (&m["value"], &m["message"]))
        .collect();
    assert_eq!(
        values,
        [
            (&Value::from("0.01"), &Value::from(UNVERIFIED)),
            (&Value::from("[0.02]"), &Value::from(UNVERIFIED)),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ca_bundle_that_cannot_be_used_stops_the_command_before_it_measures() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.yaml");
    std::fs::write(&file, template("t", "https://127.0.0.1:9", "")).unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    for (bundle, expected) in [
        (
            dir.path().join("missing.pem"),
            format!(
                "--ca-bundle: cannot read the CA bundle {}",
                dir.path().join("missing.pem").display()
            ),
        ),
        (
            empty.clone(),
            format!(
                "--ca-bundle: the CA bundle {} holds no PEM certificate",
                empty.display()
            ),
        ),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_conductor"))
            .args(["analyze", "--output", "json", "--ca-bundle"])
            .arg(&bundle)
            .arg(&file)
            .output()
            .expect("run conductor");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(&expected), "{stderr}");
        assert!(output.stdout.is_empty(), "measured anyway");
    }
}

/// 50%, then an analysis of `template`.
fn analysis_steps(template: &str) -> Value {
    json!([
        { "setWeight": 50 },
        { "analysis": { "templates": [{ "templateName": template }] } }
    ])
}

/// The controller, given the bundle of one CA, measures a server that CA
/// signed and promotes; a server another CA signed is an Error naming
/// it, and the release aborts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_trusts_its_ca_bundle_and_aborts_on_a_certificate_it_does_not() {
    let ca = TestCa::new("metrics");
    let stranger = TestCa::new("stranger");
    let asked = Arc::new(AtomicUsize::new(0));
    let trusted = metrics_server(&ca, asked.clone()).await;
    let untrusted = metrics_server(&stranger, asked.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start("tls").await;
    let _controller = cluster
        .controller_trusting("replica-a", Some(ca.bundle(dir.path(), "ca.pem")))
        .await;
    for (name, server) in [("trusted", &trusted), ("untrusted", &untrusted)] {
        cluster
            .apply::<AnalysisTemplate>(json!({
                "apiVersion": "conductor.dev/v1alpha1",
                "kind": "AnalysisTemplate",
                "metadata": { "name": name },
                "spec": { "metrics": [{
                    "name": "error-rate",
                    "consecutiveErrorLimit": 0,
                    "successCondition": "result < 0.05",
                    "provider": { "web": {
                        "url": format!("{}/rate", server.url()),
                        "jsonPath": "{$.errorRate}"
                    } }
                }] }
            }))
            .await;
    }
    services(&cluster, "shop").await;
    let api = cluster.api::<Rollout>();
    let limit = std::time::Duration::from_secs(30);
    cluster
        .apply::<Rollout>(rollout("shop", V1, 2, analysis_steps("trusted")))
        .await;
    wait_for(&api, "shop", limit, "healthy on 3.9", stable_at("3.9")).await;
    cluster
        .apply::<Rollout>(rollout("shop", V2, 2, analysis_steps("trusted")))
        .await;
    wait_for(&api, "shop", limit, "promoted to 3.10", stable_at("3.10")).await;
    assert_eq!(asked.load(Ordering::SeqCst), 1, "one verified measurement");

    cluster
        .apply::<Rollout>(rollout("shop", V3, 2, analysis_steps("untrusted")))
        .await;
    let aborted = wait_for(&api, "shop", limit, "aborted", |r| {
        r.status.as_ref().and_then(|s| s.abort) == Some(true)
    })
    .await;
    let status = aborted.status.unwrap_or_default();
    let why = status.message.unwrap_or_default();
    assert!(
        why.contains(&format!(
            "TLS certificate verification failed for {}",
            untrusted.addr
        )),
        "{why}"
    );
    assert_eq!(status.stable_revision.as_deref(), Some("3.10"));
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "the stranger was never asked"
    );
}
