//! A webhook receiver on loopback for `conductor deploy`'s notifications:
//! axum on 127.0.0.1, recording every request it got (path, JSON body,
//! the status it answered) in arrival order. `POST /ok/<name>` answers
//! 200, `/flaky/<name>` 500 twice then 200, `/down/<name>` always 500.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Received {
    /// `<how>/<name>`.
    pub path: String,
    pub body: Value,
    pub status: u16,
}

#[derive(Default)]
struct Seen {
    requests: Vec<Received>,
    per_path: HashMap<String, usize>,
}

pub struct Receiver {
    base: String,
    seen: Arc<Mutex<Seen>>,
    _task: tokio::task::JoinHandle<()>,
}

async fn hook(
    State(seen): State<Arc<Mutex<Seen>>>,
    Path((how, name)): Path<(String, String)>,
    body: String,
) -> StatusCode {
    let mut seen = seen.lock().unwrap();
    let path = format!("{how}/{name}");
    let count = {
        let n = seen.per_path.entry(path.clone()).or_default();
        *n += 1;
        *n
    };
    let status = match how.as_str() {
        "flaky" if count <= 2 => StatusCode::INTERNAL_SERVER_ERROR,
        "down" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::OK,
    };
    let body = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{path}: the body is not JSON ({e}): {body}"));
    seen.requests.push(Received {
        path,
        body,
        status: status.as_u16(),
    });
    status
}

impl Receiver {
    pub async fn start() -> Receiver {
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let app = axum::Router::new()
            .route("/{how}/{name}", post(hook))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            base,
            seen,
            _task: task,
        }
    }

    /// `http://127.0.0.1:<port>`: no deploy output may contain it.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, how: &str, name: &str) -> String {
        format!("{}/{how}/{name}", self.base)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.seen.lock().unwrap().requests.clone()
    }

    /// The bodies `how/name` accepted (answered 2xx), in order.
    pub fn delivered(&self, how: &str, name: &str) -> Vec<Value> {
        let path = format!("{how}/{name}");
        self.requests()
            .into_iter()
            .filter(|r| r.path == path && (200..300).contains(&r.status))
            .map(|r| r.body)
            .collect()
    }

    /// How many requests `how/name` got, accepted or not.
    pub fn count(&self, how: &str, name: &str) -> usize {
        let path = format!("{how}/{name}");
        self.requests().iter().filter(|r| r.path == path).count()
    }
}
