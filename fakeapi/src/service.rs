//! The `tower::Service` kube's client talks to: counts and audits requests,
//! answers injected faults, and hands everything else to the router.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Method, Request, Response, header};
use http_body_util::BodyExt;

use crate::error::ApiError;
use crate::query::Query;
use crate::request::Incoming;
use crate::response::{self, ResponseBody};
use crate::routes;
use crate::shared::{AuditEntry, Shared, lock};
use crate::user::User;

/// Serves requests against a [`crate::FakeApi`]'s state as one user.
#[derive(Debug, Clone)]
pub struct FakeService {
    shared: Arc<Shared>,
    user: Arc<User>,
    agent: Arc<str>,
}

impl FakeService {
    /// `agent` names the client as a User-Agent would (the field manager
    /// of writes that give none).
    pub(crate) fn new(shared: Arc<Shared>, user: User, agent: &str) -> Self {
        Self {
            shared,
            user: Arc::new(user),
            agent: agent.into(),
        }
    }
}

impl tower::Service<Request<kube::client::Body>> for FakeService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<kube::client::Body>) -> Self::Future {
        let shared = self.shared.clone();
        let user = self.user.clone();
        let agent = self.agent.clone();
        Box::pin(async move { Ok(serve(&shared, &user, &agent, req).await) })
    }
}

async fn serve(
    shared: &Shared,
    user: &User,
    agent: &str,
    req: Request<kube::client::Body>,
) -> Response<ResponseBody> {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_string());
    for counter in lock(&shared.counters).iter() {
        if path_and_query.contains(&*counter.path_contains) {
            counter.count.fetch_add(1, Ordering::Relaxed);
        }
    }
    let query = Query::parse(parts.uri.query());
    let field_manager = query.get("fieldManager").map(str::to_string);
    let (res, object) = match body.collect().await {
        Ok(collected) => match injected_fault(shared, &parts.method, &path_and_query) {
            Some(fault) => (response::error(&fault), None),
            None => {
                let content_type = parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(';').next())
                    .unwrap_or_default()
                    .trim();
                let incoming = Incoming {
                    method: &parts.method,
                    path: &path,
                    query,
                    content_type,
                    body: collected.to_bytes(),
                    user,
                    agent,
                };
                routes::handle(shared, &incoming)
            }
        },
        Err(e) => (
            response::error(&ApiError::bad_request(format!(
                "failed to read request body: {e}"
            ))),
            None,
        ),
    };
    if matches!(
        parts.method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        lock(&shared.audit).push(AuditEntry {
            identity: user.name.clone(),
            pod: user.pod.clone(),
            method: parts.method.clone(),
            path,
            status: res.status().as_u16(),
            time: jiff::Timestamp::now(),
            field_manager,
            object,
        });
    }
    // After the audit: the request took effect when it arrived, only its
    // answer is late.
    if let Some(wait) = injected_delay(shared, &parts.method, &path_and_query) {
        tokio::time::sleep(wait).await;
    }
    res
}

fn injected_fault(shared: &Shared, method: &Method, path_and_query: &str) -> Option<ApiError> {
    let mut faults = lock(&shared.faults);
    let index = faults
        .iter()
        .position(|f| f.matches(method, path_and_query))?;
    let fault = &mut faults[index];
    fault.times -= 1;
    let code = fault.status;
    if fault.times == 0 {
        faults.remove(index);
    }
    Some(ApiError::from_code(
        code,
        format!("injected fault: {code} for {method} {path_and_query}"),
    ))
}

/// How long to hold the answer to this request, using up one of the first
/// matching delay's `times`.
fn injected_delay(shared: &Shared, method: &Method, path_and_query: &str) -> Option<Duration> {
    let mut delays = lock(&shared.delays);
    let index = delays
        .iter()
        .position(|d| d.matches(method, path_and_query))?;
    let delay = &mut delays[index];
    delay.times -= 1;
    let wait = delay.delay;
    if delay.times == 0 {
        delays.remove(index);
    }
    Some(wait)
}
