//! The helpdesk API through real HTTP on loopback.

mod common;

use common::{flows, server};

use flows::{get, post};
use reqwest::StatusCode;
use serde_json::json;
use server::{Helpdesk, client, sqlite_file};

#[tokio::test(flavor = "multi_thread")]
async fn life_cycle_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    flows::life_cycle(&Helpdesk::start(&sqlite_file(&dir), &[])).await;
}

/// Reads of a SQLite file run on their own connections: each must still
/// see every write answered before it, with many requests in flight.
#[tokio::test(flavor = "multi_thread")]
async fn reads_see_every_answered_write_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let server = Helpdesk::start(&sqlite_file(&dir), &[]);
    let u = server.url.clone();
    post(
        &format!("{u}/customers"),
        json!({"name": "Ada", "email": "ada@example.com"}),
    )
    .await;
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let u = u.clone();
            tokio::spawn(async move {
                let (status, t) = post(
                    &format!("{u}/tickets"),
                    json!({"subject": format!("w{w}"), "customer_id": 1, "channel": "sms"}),
                )
                .await;
                assert_eq!(status, StatusCode::CREATED, "{t}");
                let ticket = format!("{u}/tickets/{}", t["id"]);
                assert_eq!(get(&ticket).await.0, StatusCode::OK);
                for n in 1..=10 {
                    post(
                        &format!("{ticket}/messages"),
                        json!({"author": "agent:zoe", "body": format!("reply {n}")}),
                    )
                    .await;
                    let (_, read) = get(&ticket).await;
                    assert_eq!(read["messages"].as_array().map(Vec::len), Some(n), "{read}");
                }
                let (_, closed) = post(&format!("{ticket}/close"), json!({})).await;
                assert_eq!(closed["status"], "closed");
                assert_eq!(get(&ticket).await.1["status"], "closed");
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_request_is_a_clear_json_error() {
    flows::bad_requests(&Helpdesk::start("sqlite::memory:", &[])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_need_the_token_reads_do_not() {
    let server = Helpdesk::start("sqlite::memory:", &[("HELPDESK_API_TOKEN", "s3cr3t")]);
    let u = &server.url;
    let body = json!({"name": "Ada", "email": "ada@example.com"});
    let (status, answer) = post(&format!("{u}/customers"), body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let post_as = |token: &'static str| {
        client()
            .post(format!("{u}/customers"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    assert_eq!(
        post_as("wrong").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_as("s3cr3t").await.unwrap().status(),
        StatusCode::CREATED
    );
    for path in [
        "/customers/1",
        "/tickets",
        "/healthz",
        "/readyz",
        "/version",
        "/metrics",
    ] {
        let r = client().get(format!("{u}{path}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
}

fn count(metrics: &str, route: &str, method: &str, code: &str) -> u64 {
    let needle =
        format!("http_requests_total{{method=\"{method}\",route=\"{route}\",code=\"{code}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&needle))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_by_route_and_code() {
    let server = Helpdesk::start("sqlite::memory:", &[("HELPDESK_VERSION", "v7")]);
    let u = &server.url;
    post(
        &format!("{u}/customers"),
        json!({"name": "Ada", "email": "ada@example.com"}),
    )
    .await;
    for _ in 0..3 {
        post(
            &format!("{u}/tickets"),
            json!({"subject": "s", "customer_id": 1, "channel": "voice"}),
        )
        .await;
    }
    post(
        &format!("{u}/tickets"),
        json!({"subject": "", "customer_id": 1, "channel": "voice"}),
    )
    .await;
    for id in [1, 2, 999] {
        get(&format!("{u}/tickets/{id}")).await;
    }
    let text = client()
        .get(format!("{u}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count(&text, "/tickets", "POST", "201"), 3, "{text}");
    assert_eq!(count(&text, "/tickets", "POST", "422"), 1);
    assert_eq!(count(&text, "/tickets/{id}", "GET", "200"), 2);
    assert_eq!(count(&text, "/tickets/{id}", "GET", "404"), 1);
    assert!(text.contains("helpdesk_tickets_created_total 3"), "{text}");
    assert!(
        text.contains("helpdesk_build_info{version=\"v7\""),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket{le="),
        "{text}"
    );
    let (_, version) = get(&format!("{u}/version")).await;
    assert_eq!(version["version"], "v7");
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_injection_answers_the_configured_fraction_with_500() {
    let server = Helpdesk::start("sqlite::memory:", &[("HELPDESK_ERROR_RATE", "0.3")]);
    let u = &server.url;
    let client = client();
    let mut failed = 0;
    for _ in 0..2000 {
        let r = client.get(format!("{u}/channels")).send().await.unwrap();
        if r.status() == StatusCode::INTERNAL_SERVER_ERROR {
            failed += 1;
        }
    }
    let rate = f64::from(failed) / 2000.0;
    // 0.3 +- 0.05 is about 5 standard deviations for 2,000 requests.
    assert!((rate - 0.3).abs() < 0.05, "observed error rate {rate}");
    let text = client
        .get(format!("{u}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        count(&text, "/channels", "GET", "500"),
        u64::try_from(failed).unwrap()
    );
    // Health is never faked.
    for _ in 0..50 {
        assert_eq!(
            client
                .get(format!("{u}/readyz"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_and_exits_cleanly() {
    let server = Helpdesk::start("sqlite::memory:", &[("HELPDESK_LATENCY_MS", "1500")]);
    let url = format!("{}/channels", server.url);
    let in_flight = tokio::spawn(async move { client().get(url).send().await.map(|r| r.status()) });
    // Well inside the added latency: the request is being handled.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let code = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        StatusCode::OK,
        "the in-flight request finished"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_a_schema_newer_than_it_knows() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_file(&dir);
    drop(Helpdesk::start(&database, &[]));
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&database).await.unwrap();
    sqlx::query("INSERT INTO schema_version (version) VALUES (99)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let error = Helpdesk::try_start(&database, &[]).err().unwrap();
    assert!(
        error.contains("schema is version 99, newer than this helpdesk knows (1)"),
        "{error}"
    );
}
