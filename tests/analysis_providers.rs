//! Datadog, web and podScrape providers against local HTTP servers that
//! answer as the real services do, through `conductor analyze`.

#[path = "support/servers.rs"]
mod servers;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use servers::{Request, Response, Stub, conductor_analyze, handler};

/// The first measurement of the run's first metric.
fn first(status: &serde_json::Value) -> &serde_json::Value {
    &status["metricResults"][0]["measurements"][0]
}

const KEYS: [(&str, &str); 2] = [("DD_API_KEY", "api-123"), ("DD_APP_KEY", "app-456")];

fn datadog_template(name: &str, site: &str, provider: &str, conditions: &str) -> String {
    format!(
        "apiVersion: conductor.dev/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: {name}\nspec:\n  metrics:\n    - name: errors\n{conditions}      provider:\n        datadog:\n          site: {site}\n{provider}"
    )
}

const BELOW_5PCT: &str =
    "      successCondition: result <= 0.05\n      failureCondition: result > 0.05\n";

/// Answers as Datadog's API does, documented shapes included.
async fn datadog(hits: Arc<AtomicUsize>) -> Stub {
    Stub::start(handler(move |r: Request| {
        let n = hits.fetch_add(1, Ordering::SeqCst);
        async move {
            if r.header("DD-API-KEY") != Some("api-123") || r.header("DD-APPLICATION-KEY") != Some("app-456") {
                return Response::new(403, r#"{"errors": ["Forbidden"]}"#);
            }
            match (r.method.as_str(), r.path.as_str()) {
                ("GET", "/api/v1/query") if r.query.contains("ratelimited") && n == 0 => {
                    Response::new(429, r#"{"errors": ["Too many requests"]}"#)
                        .header("X-RateLimit-Limit", "100")
                        .header("X-RateLimit-Remaining", "0")
                        // `NaN` parses as a float: the fuzz target found it panicked the wait.
                        .header("X-RateLimit-Reset", if r.query.contains("nan") { "NaN" } else { "1" })
                }
                ("GET", "/api/v1/query") if r.query.contains("empty") => {
                    Response::new(200, r#"{"status": "ok", "series": [], "from_date": 1, "to_date": 2}"#)
                }
                ("GET", "/api/v1/query") => Response::new(
                    200,
                    r#"{"status": "ok", "res_type": "time_series", "series": [{"metric": "errors", "pointlist": [[1700000000000.0, 0.30], [1700000010000.0, 0.02]], "scope": "service:helpdesk"}]}"#,
                ),
                ("POST", "/api/v2/query/timeseries") => {
                    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
                    let formula = body["data"]["attributes"]["formulas"][0]["formula"].as_str().unwrap_or("").to_owned();
                    let queries = body["data"]["attributes"]["queries"].as_array().map_or(0, Vec::len);
                    if formula != "errors / requests" || queries != 2 {
                        return Response::new(400, format!(r#"{{"errors": ["unexpected request {formula} {queries}"]}}"#));
                    }
                    Response::new(
                        200,
                        r#"{"data": {"type": "timeseries_response", "attributes": {"series": [{"group_tags": [], "query_index": 0, "unit": null}], "times": [1700000000000, 1700000010000, 1700000020000], "values": [[0.01, 0.02, 0.12]]}}}"#,
                    )
                }
                _ => Response::new(404, r#"{"errors": ["Not found"]}"#),
            }
        }
    }))
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn datadog_v1_v2_forbidden_and_rate_limited() {
    let hits = Arc::new(AtomicUsize::new(0));
    let stub = datadog(hits.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let site = stub.url();
    let v1 = |query: &str| format!("          query: {query}\n");

    // v1, last point 0.02: passes.
    let (code, status, printed) = conductor_analyze(
        dir.path(),
        "v1",
        &datadog_template("v1", &site, &v1("sum:errors{service:helpdesk}"), BELOW_5PCT),
        &[],
        &KEYS,
    )
    .await;
    assert_eq!(
        (code, status["phase"].as_str()),
        (0, Some("Successful")),
        "{printed}"
    );
    assert_eq!(first(&status)["value"], "0.02");
    assert!(
        !printed.contains("api-123") && !printed.contains("app-456"),
        "keys leaked: {printed}"
    );

    // v2 with a formula and the max aggregator: 0.12 fails.
    let v2 = "          apiVersion: v2\n          aggregator: max\n          queries:\n            errors: sum:errors{service:helpdesk}.as_count()\n            requests: sum:requests{service:helpdesk}.as_count()\n          formula: errors / requests\n";
    let (code, status, printed) = conductor_analyze(
        dir.path(),
        "v2",
        &datadog_template("v2", &site, v2, BELOW_5PCT),
        &[],
        &KEYS,
    )
    .await;
    assert_eq!(
        (code, status["phase"].as_str()),
        (1, Some("Failed")),
        "{printed}"
    );
    assert_eq!(first(&status)["value"], "0.12");

    // Wrong keys: 403 is an Error measurement naming the cause, never a pass.
    let one_error = "      consecutiveErrorLimit: 0\n".to_owned() + BELOW_5PCT;
    let (code, status, printed) = conductor_analyze(
        dir.path(),
        "forbidden",
        &datadog_template("forbidden", &site, &v1("sum:errors{*}"), &one_error),
        &[],
        &[("DD_API_KEY", "wrong"), ("DD_APP_KEY", "wrong")],
    )
    .await;
    assert_eq!(
        (code, status["phase"].as_str()),
        (1, Some("Error")),
        "{printed}"
    );
    let message = first(&status)["message"].as_str().unwrap();
    assert!(
        message.contains("403") && message.contains("Forbidden"),
        "{message}"
    );

    // Empty series: no data, inconclusive by default.
    let (_, status, printed) = conductor_analyze(
        dir.path(),
        "empty",
        &datadog_template("empty", &site, &v1("empty"), BELOW_5PCT),
        &[],
        &KEYS,
    )
    .await;
    assert_eq!(status["phase"].as_str(), Some("Inconclusive"), "{printed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn datadog_429_is_retried_after_the_advertised_reset() {
    let hits = Arc::new(AtomicUsize::new(0));
    let stub = datadog(hits.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let (code, status, printed) = conductor_analyze(
        dir.path(),
        "limited",
        &datadog_template(
            "limited",
            &stub.url(),
            "          query: ratelimited\n",
            BELOW_5PCT,
        ),
        &[],
        &KEYS,
    )
    .await;
    assert_eq!(
        (code, status["phase"].as_str()),
        (0, Some("Successful")),
        "{printed}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2, "one 429, one retry");
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "waited for X-RateLimit-Reset"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn datadog_429_with_a_reset_of_nan_is_retried_after_a_second() {
    let hits = Arc::new(AtomicUsize::new(0));
    let stub = datadog(hits.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (code, status, printed) = conductor_analyze(
        dir.path(),
        "limited-nan",
        &datadog_template(
            "limited-nan",
            &stub.url(),
            "          query: ratelimited-nan\n",
            BELOW_5PCT,
        ),
        &[],
        &KEYS,
    )
    .await;
    assert_eq!(
        (code, status["phase"].as_str()),
        (0, Some("Successful")),
        "{printed}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2, "one 429, one retry");
}

fn web_template(name: &str, url: &str, extra: &str) -> String {
    format!(
        "apiVersion: conductor.dev/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: {name}\nspec:\n  metrics:\n    - name: web\n      consecutiveErrorLimit: 0\n      successCondition: result <= 0.05\n      provider:\n        web:\n          url: {url}\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn web_provider_get_post_and_bad_answers() {
    let stub = Stub::start(handler(|r: Request| async move {
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/stats") => Response::new(
                200,
                r#"{"data": {"errorRate": "0.01", "series": [0.01, 0.2]}}"#,
            ),
            ("POST", "/query")
                if r.header("X-Token") == Some("t0k3n") && r.body.contains("helpdesk") =>
            {
                Response::new(200, r#"{"value": 0.5}"#)
            }
            ("GET", "/broken") => Response::new(503, "upstream unavailable"),
            ("GET", "/garbage") => Response::new(200, "<html>not json</html>"),
            ("GET", "/slow") => {
                tokio::time::sleep(Duration::from_secs(3)).await;
                Response::new(200, "0.01")
            }
            _ => Response::new(404, "{}"),
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let base = stub.url();
    let run = |name: &'static str, text: String| {
        let dir = dir.path().to_path_buf();
        async move { conductor_analyze(&dir, name, &text, &[], &[]).await }
    };
    let (code, status, printed) = run(
        "get",
        web_template(
            "get",
            &format!("{base}/stats"),
            "          jsonPath: \"{$.data.errorRate}\"\n",
        ),
    )
    .await;
    assert_eq!(
        (code, status["phase"].as_str()),
        (0, Some("Successful")),
        "{printed}"
    );

    let post = "          method: POST\n          headers:\n            - key: X-Token\n              value: t0k3n\n          body: '{\"service\": \"helpdesk\"}'\n          jsonPath: $.value\n";
    let (_, status, printed) =
        run("post", web_template("post", &format!("{base}/query"), post)).await;
    assert_eq!(status["phase"].as_str(), Some("Failed"), "{printed}");
    assert_eq!(first(&status)["value"], "0.5");

    for (name, path, expected) in [
        ("broken", "/broken", "HTTP 503"),
        ("garbage", "/garbage", "not JSON"),
        ("missing", "/stats", "no field `nope`"),
        ("slow", "/slow", "timed out"),
    ] {
        let extra = match name {
            "missing" => "          jsonPath: $.data.nope\n",
            "slow" => "          timeoutSeconds: 1\n",
            _ => "",
        };
        let (code, status, printed) =
            run(name, web_template(name, &format!("{base}{path}"), extra)).await;
        assert_eq!(
            (code, status["phase"].as_str()),
            (1, Some("Error")),
            "{printed}"
        );
        let message = first(&status)["message"].as_str().unwrap();
        assert!(message.contains(expected), "{name}: {message}");
    }
    stub.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, status, printed) = run(
        "down",
        web_template(
            "down",
            &format!("{base}/stats"),
            "          jsonPath: $.data.errorRate\n",
        ),
    )
    .await;
    assert_eq!(status["phase"].as_str(), Some("Error"), "{printed}");
    let message = first(&status)["message"].as_str().unwrap();
    assert!(message.contains("cannot connect"), "{message}");
}

/// An endpoint whose counters follow `scrapes`, one entry per scrape.
async fn pod(scrapes: Vec<(u64, u64)>) -> Stub {
    let n = Arc::new(AtomicUsize::new(0));
    Stub::start(handler(move |_| {
        let i = n.fetch_add(1, Ordering::SeqCst).min(scrapes.len() - 1);
        let (ok, errors) = scrapes[i];
        async move {
            Response::new(
                200,
                format!("# TYPE http_requests_total counter\nhttp_requests_total{{method=\"GET\",code=\"200\"}} {ok}\nhttp_requests_total{{method=\"GET\",code=\"500\"}} {errors}\n"),
            )
        }
    }))
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn pod_scrape_ratio_across_pods_with_a_counter_reset() {
    // Pod a: 100 more requests, 2 more errors. Pod b restarted between the
    // scrapes: its counters went from 400/40 down to 30/3, so its increase
    // is 33 requests, 3 errors. Ratio: 5 / 133.
    let a = pod(vec![(900, 10), (998, 12)]).await;
    let b = pod(vec![(400, 40), (30, 3)]).await;
    let template = "apiVersion: conductor.dev/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: scrape\nspec:\n  metrics:\n    - name: error-rate\n      interval: 1s\n      count: 1\n      successCondition: result <= 0.05\n      minimumTraffic:\n        min: 100\n      provider:\n        podScrape:\n          port: http\n          numerator:\n            metric: http_requests_total\n            labels:\n              code: \"5..\"\n          denominator:\n            metric: http_requests_total\n";
    let dir = tempfile::tempdir().unwrap();
    let endpoints = vec![
        "--endpoint".to_owned(),
        a.url(),
        "--endpoint".to_owned(),
        b.url(),
    ];
    let (code, status, printed) =
        conductor_analyze(dir.path(), "scrape", template, &endpoints, &[]).await;
    assert_eq!(
        (code, status["phase"].as_str()),
        (0, Some("Successful")),
        "{printed}"
    );
    let value: f64 = first(&status)["value"].as_str().unwrap().parse().unwrap();
    assert!((value - 5.0 / 133.0).abs() < 1e-9, "{value}");

    // The same traffic, but a floor of 1000 requests: too little to judge.
    let (a, b) = (
        pod(vec![(900, 10), (998, 12)]).await,
        pod(vec![(400, 40), (30, 3)]).await,
    );
    let endpoints = vec![
        "--endpoint".to_owned(),
        a.url(),
        "--endpoint".to_owned(),
        b.url(),
    ];
    let (_, status, printed) = conductor_analyze(
        dir.path(),
        "thin",
        &template.replace("min: 100", "min: 1000"),
        &endpoints,
        &[],
    )
    .await;
    assert_eq!(status["phase"].as_str(), Some("Inconclusive"), "{printed}");
    assert!(printed.contains("only 133 requests"), "{printed}");
}
