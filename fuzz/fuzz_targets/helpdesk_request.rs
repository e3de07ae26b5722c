//! Requests to the helpdesk API through its own router (`helpdesk::router`,
//! the one `helpdesk serve` listens with), in process, on an in-memory
//! SQLite database. Input: `METHOD /path?query` on the first line, then the
//! JSON body. Checked: no panic; no request makes the service fail (a 5xx
//! means input reached the database unchecked, or a handler broke); every
//! error answer is JSON naming the error; a created customer is the one
//! asked for.
#![no_main]

use std::cell::RefCell;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use conductor_fuzz::{header_and_body, text};
use helpdesk::{App, Db, Faults, MAX_BODY_BYTES, Metrics, router};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// Requests served on one database before a fresh one: keeps memory flat
/// over millions of runs.
const REQUESTS_PER_DATABASE: u32 = 2_000;

struct Service {
    runtime: Runtime,
    router: Option<Router>,
    served: u32,
}

thread_local! {
    static SERVICE: RefCell<Service> = RefCell::new(Service {
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("no runtime: {e}")),
        router: None,
        served: 0,
    });
}

/// A migrated database holding customer 1 and its ticket 1.
async fn fresh() -> Router {
    let db = Db::open("sqlite::memory:")
        .await
        .unwrap_or_else(|e| panic!("no database: {e}"));
    db.migrate()
        .await
        .unwrap_or_else(|e| panic!("no schema: {e}"));
    let app = Arc::new(App {
        db,
        metrics: Metrics::new("fuzz"),
        faults: Faults::new(0.0, 0).unwrap_or_else(|e| panic!("{e}")),
        token: None,
        version: "fuzz".into(),
    });
    let router = router(app);
    for (path, body) in [
        (
            "/customers",
            json!({"name": "Ada", "email": "ada@example.com"}),
        ),
        (
            "/tickets",
            json!({"subject": "s", "customer_id": 1, "channel": "sms"}),
        ),
    ] {
        let (status, answer) = send(&router, Method::POST, path, body.to_string().into()).await;
        assert_eq!(status, StatusCode::CREATED, "seeding {path}: {answer}");
    }
    router
}

async fn send(router: &Router, method: Method, uri: &str, body: Vec<u8>) -> (StatusCode, String) {
    let Ok(request) = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
    else {
        return (StatusCode::OK, String::new());
    };
    let response = router
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|e| match e {});
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 16 * MAX_BODY_BYTES)
        .await
        .unwrap_or_else(|e| panic!("unreadable answer: {e}"));
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let (line, body) = header_and_body(text);
    let (method, uri) = line.split_once(' ').unwrap_or(("POST", line));
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    if !uri.starts_with('/') {
        return;
    }
    SERVICE.with_borrow_mut(|service| {
        if service.served % REQUESTS_PER_DATABASE == 0 {
            service.router = Some(service.runtime.block_on(fresh()));
        }
        service.served += 1;
        let Some(router) = &service.router else {
            return;
        };
        let (status, answer) =
            service
                .runtime
                .block_on(send(router, method.clone(), uri, body.as_bytes().to_vec()));
        check(&method, uri, body, status, &answer);
    });
});

fn check(method: &Method, uri: &str, body: &str, status: StatusCode, answer: &str) {
    assert!(
        !status.is_server_error(),
        "{method} {uri} {body:?} answered {status}: {answer}"
    );
    let path = uri.split('?').next().unwrap_or(uri);
    let open = ["/healthz", "/readyz", "/version", "/metrics"].contains(&path);
    // HEAD answers carry no body; 405s are the router's, with none either.
    let has_body = *method != Method::HEAD && status != StatusCode::METHOD_NOT_ALLOWED;
    if status.is_client_error() && has_body && !open {
        let error: Value = serde_json::from_str(answer)
            .unwrap_or_else(|e| panic!("{status} answer is not JSON ({e}): {answer}"));
        assert!(
            error.get("error").is_some(),
            "{status} answer names no error: {answer}"
        );
    }
    if status == StatusCode::CREATED && *method == Method::POST && path == "/customers" {
        let asked: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let created: Value = serde_json::from_str(answer).unwrap_or(Value::Null);
        // Stored trimmed, the address in lower case.
        let name = asked["name"].as_str().map(str::trim);
        let email = asked["email"].as_str().map(|e| e.trim().to_lowercase());
        assert_eq!(
            created["name"].as_str(),
            name,
            "created {answer} for {body}"
        );
        assert_eq!(
            created["email"].as_str(),
            email.as_deref(),
            "created {answer} for {body}"
        );
    }
}
