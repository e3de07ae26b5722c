//! A weighted HTTP reverse proxy on one front port. The canary gets exactly
//! `weight` percent of requests (spread evenly, not at random), each side
//! round-robins over its backends, and every answer is counted per side so
//! a demo can say what users saw. Requests in flight are counted per
//! backend, so a process is stopped only once the proxy is done with it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};

/// Requests larger than this are refused: the demo's traffic is small JSON.
const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Stable,
    Canary,
}

/// What users saw from one side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    pub requests: u64,
    pub errors: u64,
}

#[derive(Debug, Default)]
struct Routing {
    stable: Vec<SocketAddr>,
    canary: Vec<SocketAddr>,
    weight: u32,
    /// Requests routed so far, for the even weighted split.
    routed: u64,
    canary_routed: u64,
    next_stable: usize,
    next_canary: usize,
    served: [Served; 2],
    /// When the weight last became 0, and when a canary request last started.
    weight_zero_at: Option<Instant>,
    last_canary_at: Option<Instant>,
    /// Requests sent to each backend and not answered yet.
    in_flight: HashMap<SocketAddr, usize>,
}

impl Routing {
    /// The side for the next request, counted in flight until [`Routing::done`].
    fn pick(&mut self) -> Option<(Side, SocketAddr)> {
        let picked = self.pick_side();
        if let Some((_, backend)) = picked {
            *self.in_flight.entry(backend).or_default() += 1;
        }
        picked
    }

    fn done(&mut self, backend: SocketAddr) {
        if let Some(n) = self.in_flight.get_mut(&backend) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.in_flight.remove(&backend);
            }
        }
    }

    /// The canary whenever it is behind its share.
    fn pick_side(&mut self) -> Option<(Side, SocketAddr)> {
        self.routed += 1;
        let share = self.routed * u64::from(self.weight) / 100;
        let canary = !self.canary.is_empty() && self.canary_routed < share;
        if canary {
            self.canary_routed += 1;
            let backend = self.canary[self.next_canary % self.canary.len()];
            self.next_canary = self.next_canary.wrapping_add(1);
            self.last_canary_at = Some(Instant::now());
            return Some((Side::Canary, backend));
        }
        if self.stable.is_empty() {
            return None;
        }
        let backend = self.stable[self.next_stable % self.stable.len()];
        self.next_stable = self.next_stable.wrapping_add(1);
        Some((Side::Stable, backend))
    }
}

/// A handle on a running proxy; dropping it stops the proxy.
pub struct Proxy {
    pub addr: SocketAddr,
    routing: Arc<Mutex<Routing>>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    routing: Arc<Mutex<Routing>>,
    client: reqwest::Client,
}

impl Proxy {
    /// Starts on a free loopback port.
    pub async fn start() -> Result<Self, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("proxy: cannot listen: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let routing = Arc::new(Mutex::new(Routing::default()));
        let shared = Arc::new(Shared {
            routing: routing.clone(),
            client: crate::analysis::providers::http_client()?,
        });
        let app = axum::Router::new().fallback(forward).with_state(shared);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            routing,
            task,
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Routing) -> T) -> T {
        // A poisoned lock means a panic mid-update of plain counters: the
        // data is still usable.
        let mut routing = self.routing.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut routing)
    }

    pub fn set_backends(&self, stable: Vec<SocketAddr>, canary: Vec<SocketAddr>) {
        self.with(|r| {
            r.stable = stable;
            r.canary = canary;
        });
    }

    /// Sets the canary's percentage (clamped to 0..=100).
    pub fn set_weight(&self, weight: i32) {
        let weight = u32::try_from(weight.clamp(0, 100)).unwrap_or(0);
        self.with(|r| {
            if weight == 0 && r.weight != 0 {
                r.weight_zero_at = Some(Instant::now());
            }
            if weight != r.weight {
                // Restart the even split so the new share holds from now on.
                r.routed = 0;
                r.canary_routed = 0;
            }
            r.weight = weight;
        });
    }

    /// Requests sent to any of `backends` and not answered yet.
    pub fn in_flight(&self, backends: &[SocketAddr]) -> usize {
        self.with(|r| backends.iter().filter_map(|b| r.in_flight.get(b)).sum())
    }

    pub fn served(&self, side: Side) -> Served {
        self.with(|r| r.served[side as usize])
    }

    /// Whether any canary request started after the weight went to 0.
    pub fn canary_after_zero(&self) -> bool {
        self.with(|r| matches!((r.weight_zero_at, r.last_canary_at), (Some(zero), Some(last)) if last > zero))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "te",
    "host",
];

/// A request in flight to `backend`, until dropped however it ends.
struct InFlight {
    routing: Arc<Mutex<Routing>>,
    backend: SocketAddr,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut routing = self.routing.lock().unwrap_or_else(|e| e.into_inner());
        routing.done(self.backend);
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let picked = {
        let mut routing = shared.routing.lock().unwrap_or_else(|e| e.into_inner());
        routing.pick()
    };
    let Some((side, backend)) = picked else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no backend").into_response();
    };
    let _in_flight = InFlight {
        routing: shared.routing.clone(),
        backend,
    };
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    };
    let mut upstream = shared
        .client
        .request(parts.method, format!("http://{backend}{path}"))
        .body(body);
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            upstream = upstream.header(name, value);
        }
    }
    let (status, headers, bytes) = match upstream.send().await {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            match answer.bytes().await {
                Ok(bytes) => (status, headers, bytes),
                Err(_) => (
                    StatusCode::BAD_GATEWAY,
                    Default::default(),
                    Default::default(),
                ),
            }
        }
        Err(_) => (
            StatusCode::BAD_GATEWAY,
            Default::default(),
            Default::default(),
        ),
    };
    {
        let mut routing = shared.routing.lock().unwrap_or_else(|e| e.into_inner());
        let served = &mut routing.served[side as usize];
        served.requests += 1;
        if status.is_server_error() {
            served.errors += 1;
        }
    }
    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != HeaderName::from_static("content-length")
        {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from(bytes))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_exact_and_even() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let mut r = Routing {
            stable: vec![a],
            canary: vec![b],
            weight: 20,
            ..Default::default()
        };
        let picks: Vec<Side> = (0..10).map(|_| r.pick().map(|p| p.0).unwrap()).collect();
        assert_eq!(picks.iter().filter(|s| **s == Side::Canary).count(), 2);
        assert_eq!(picks[4], Side::Canary, "spread out, not bunched");
        r.weight = 0;
        assert!((0..50).all(|_| r.pick().map(|p| p.0) == Some(Side::Stable)));
    }

    #[test]
    fn a_request_is_in_flight_from_pick_until_done() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut r = Routing {
            stable: vec![a],
            ..Default::default()
        };
        assert_eq!(r.pick().map(|p| p.1), Some(a));
        assert_eq!(r.pick().map(|p| p.1), Some(a));
        assert_eq!(r.in_flight.get(&a), Some(&2));
        r.done(a);
        r.done(a);
        r.done(a);
        assert!(r.in_flight.is_empty());
    }
}
