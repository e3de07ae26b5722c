//! The Prometheus provider against a real Prometheus (Debian's package)
//! scraping test targets whose error rate the test sets, through
//! `conductor analyze`, as a user runs it.

#[path = "support/servers.rs"]
mod servers;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use servers::{Process, Response, Stub, free_port, handler, wait_ready};

/// A target serving `http_requests_total` that grows by 50 requests a
/// second, `error_rate` of them answered 500.
async fn target(error_rate: f64) -> Stub {
    let born = Instant::now();
    Stub::start(handler(move |_| async move {
        let total = (born.elapsed().as_secs_f64() * 50.0).floor();
        let errors = (total * error_rate).floor();
        Response::new(
            200,
            format!(
                "# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {}\nhttp_requests_total{{code=\"500\"}} {errors}\n",
                total - errors
            ),
        )
    }))
    .await
}

struct Prometheus {
    url: String,
    _process: Process,
    _dir: tempfile::TempDir,
}

async fn prometheus(targets: &[(&str, &Stub)]) -> Prometheus {
    let binary =
        std::env::var("CONDUCTOR_PROMETHEUS").unwrap_or_else(|_| "/usr/bin/prometheus".into());
    assert!(
        Path::new(&binary).is_file(),
        "{binary} missing: install Debian's prometheus (.ci/run does) or set CONDUCTOR_PROMETHEUS"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::from(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
    );
    for (job, stub) in targets {
        config.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets: ['{}']\n",
            stub.addr
        ));
    }
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let port = free_port();
    let process = Process::spawn(
        "prometheus",
        Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=error"),
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{url}/-/ready"), Duration::from_secs(30)).await;
    Prometheus {
        url,
        _process: process,
        _dir: dir,
    }
}

/// Waits until Prometheus has at least `samples` scrapes of every job.
async fn wait_for_samples(url: &str, jobs: usize, samples: usize) {
    let client = conductor::analysis::providers::http_client().unwrap();
    let start = Instant::now();
    loop {
        let answer: Value = client
            .get(format!("{url}/api/v1/query"))
            .query(&[("query", "count_over_time(up[30s])")])
            .send()
            .await
            .unwrap()
            .json_fallback()
            .await;
        let ready = answer["data"]["result"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter(|s| {
                        s["value"][1].as_str().and_then(|v| v.parse::<usize>().ok())
                            >= Some(samples)
                    })
                    .count()
            })
            .unwrap_or(0);
        if ready >= jobs {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "prometheus has not scraped: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

trait JsonFallback {
    async fn json_fallback(self) -> Value;
}

impl JsonFallback for reqwest::Response {
    async fn json_fallback(self) -> Value {
        serde_json::from_str(&self.text().await.unwrap_or_default()).unwrap_or_default()
    }
}

fn template(name: &str, prometheus: &str, query: &str, extra: &str) -> String {
    format!(
        "apiVersion: conductor.dev/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: {name}\nspec:\n  args:\n    - name: job\n  metrics:\n    - name: error-rate\n      interval: 1s\n      successCondition: result[0] <= 0.05\n      failureCondition: result[0] > 0.05\n{extra}      provider:\n        prometheus:\n          address: {prometheus}\n          query: '{query}'\n"
    )
}

const RATIO: &str = "sum(rate(http_requests_total{job=\"{{args.job}}\",code=~\"5..\"}[5s])) / sum(rate(http_requests_total{job=\"{{args.job}}\"}[5s]))";

async fn analyze(dir: &Path, name: &str, text: String, job: &str) -> (i32, Value) {
    let (code, status, _) = servers::conductor_analyze(
        dir,
        name,
        &text,
        &["--arg".into(), format!("job={job}")],
        &[],
    )
    .await;
    (code, status)
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_provider_decides_on_real_metrics() {
    tokio::time::timeout(Duration::from_secs(120), scenarios())
        .await
        .expect("finished in time");
}

async fn scenarios() {
    let (low, high, gone) = (target(0.01).await, target(0.40).await, target(0.0).await);
    let prom = prometheus(&[("low", &low), ("high", &high), ("gone", &gone)]).await;
    wait_for_samples(&prom.url, 3, 3).await;
    gone.stop();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let url = prom.url.clone();
    // The target that went away needs its 5s window to empty out first.
    let gone_after = async {
        tokio::time::sleep(Duration::from_secs(7)).await;
        tokio::join!(
            analyze(
                d,
                "gone",
                template("gone", &url, RATIO, "      count: 2\n"),
                "gone"
            ),
            analyze(
                d,
                "gone-fail",
                template(
                    "gone-fail",
                    &url,
                    RATIO,
                    "      count: 2\n      noDataPolicy: fail\n"
                ),
                "gone"
            ),
        )
    };
    let (healthy, failing, bad_query, (gone_default, gone_fail)) = tokio::join!(
        analyze(
            d,
            "low",
            template("low", &url, RATIO, "      count: 3\n"),
            "low"
        ),
        analyze(
            d,
            "high",
            template(
                "high",
                &url,
                RATIO,
                "      count: 5\n      failureLimit: 1\n"
            ),
            "high"
        ),
        analyze(
            d,
            "bad",
            template(
                "bad",
                &url,
                "sum(rate(http_requests_total[5s]",
                "      count: 3\n      consecutiveErrorLimit: 0\n"
            ),
            "low"
        ),
        gone_after,
    );

    let (code, status) = healthy;
    assert_eq!(
        (code, status["phase"].as_str()),
        (0, Some("Successful")),
        "{status:#}"
    );
    let measurements = &status["metricResults"][0]["measurements"];
    assert_eq!(measurements.as_array().unwrap().len(), 3);
    let value: f64 = measurements[0]["value"]
        .as_str()
        .unwrap()
        .trim_matches(['[', ']'])
        .parse()
        .unwrap();
    assert!(value < 0.05, "{value}");
    assert!(
        measurements[0]["query"]
            .as_str()
            .unwrap()
            .contains("job=\"low\""),
        "query recorded with args"
    );

    let (code, status) = failing;
    assert_eq!(
        (code, status["phase"].as_str()),
        (1, Some("Failed")),
        "{status:#}"
    );
    assert_eq!(
        status["metricResults"][0]["count"], 2,
        "fails on the second failed measurement: {status:#}"
    );

    let (code, status) = bad_query;
    assert_eq!(
        (code, status["phase"].as_str()),
        (1, Some("Error")),
        "{status:#}"
    );
    let message = status["metricResults"][0]["measurements"][0]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("prometheus bad_data") && message.contains("parse error"),
        "{message}"
    );

    let (code, status) = gone_default;
    assert_eq!(
        (code, status["phase"].as_str()),
        (1, Some("Inconclusive")),
        "{status:#}"
    );
    assert!(
        status["message"].as_str().unwrap().contains("no data"),
        "{status:#}"
    );
    let (_, status) = gone_fail;
    assert_eq!(status["phase"].as_str(), Some("Failed"), "{status:#}");
}
