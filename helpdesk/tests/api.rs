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
async fn life_cycle_on_sqlite_in_memory() {
    flows::life_cycle(&Helpdesk::start("sqlite::memory:", &[])).await;
}

/// A SQLite file commits concurrent writes together, each in its own
/// savepoint; an in-memory database runs them one transaction at a time.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writes_land_whole_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let file = Helpdesk::start(&sqlite_file(&dir), &[]);
    let memory = Helpdesk::start("sqlite::memory:", &[]);
    let (file, memory) = ([file.url.as_str()], [memory.url.as_str()]);
    tokio::join!(
        flows::concurrent_writes(&file),
        flows::concurrent_writes(&memory)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_request_is_a_clear_json_error() {
    let dir = tempfile::tempdir().unwrap();
    flows::bad_requests(&Helpdesk::start(&sqlite_file(&dir), &[])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_need_the_token_reads_do_not() {
    flows::auth("sqlite::memory:").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_by_route_and_code() {
    flows::metrics("sqlite::memory:").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_injection_answers_the_configured_fraction_with_500() {
    flows::faults("sqlite::memory:").await;
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
