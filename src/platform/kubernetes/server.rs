//! `/metrics`, `/healthz` and `/readyz` for the kubelet and Prometheus.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use kube::runtime::reflector::Store;

use super::cached_rollout::CachedRollout;
use super::metrics::Metrics;

#[derive(Clone)]
pub struct Health {
    pub metrics: Arc<Metrics>,
    /// Set once this replica is either a standby or a leader whose caches are filled.
    pub ready: Arc<AtomicBool>,
    pub rollouts: Arc<std::sync::Mutex<Option<Store<CachedRollout>>>>,
}

impl Health {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            ready: Arc::default(),
            rollouts: Arc::default(),
        }
    }
}

pub fn router(health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(health)
}

/// Serves until `shutdown`; returns the bound address first.
pub async fn serve(
    addr: SocketAddr,
    health: Health,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router(health))
            .with_graceful_shutdown(shutdown)
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "metrics server");
        }
    });
    Ok((bound, task))
}

async fn metrics(State(health): State<Health>) -> impl IntoResponse {
    let store = health
        .rollouts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some(store) = store {
        let rollouts = store.state();
        health
            .metrics
            .set_rollout_phases(rollouts.iter().map(|r| r.phase().unwrap_or("Unknown")));
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        health.metrics.encode(),
    )
}

async fn ready(State(health): State<Health>) -> impl IntoResponse {
    if health.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}
