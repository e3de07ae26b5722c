//! The fake over real HTTP/1.1 on loopback, so another process (the
//! operator binary, kubectl) can use it through a kubeconfig.
//!
//! ```text
//!   TCP ──hyper http1──▶ collect body ──▶ FakeService (user = bearer token's, or User-Agent)
//!                                              │
//!   chunked response ◀──── ResponseBody ◀──────┘ (watches stream until they end)
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;

use http::{Request, Response, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tower::Service;

use crate::error::ApiError;
use crate::fake::FakeApi;
use crate::response::{self, ResponseBody};
use crate::user::User;

/// Identity in the audit log for requests that carry no `User-Agent`.
const DEFAULT_IDENTITY: &str = "http";

/// Who sent a request: the user of its bearer token ([`FakeApi::add_token`]);
/// without one, `system:anonymous` once RBAC is enforced, else a user named
/// after the User-Agent (so an unauthenticated fake's audit log still tells
/// clients apart). An unknown token is a 401, as on a real server.
fn authenticate(fake: &FakeApi, req: &Request<Incoming>, agent: &str) -> Result<User, ApiError> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match bearer {
        Some(token) => fake
            .token_user(token)
            .ok_or_else(|| ApiError::new(401, "Unauthorized", "Unauthorized".to_string())),
        None if fake.rbac_enforced() => Ok(User::anonymous()),
        None => Ok(User::new(agent)),
    }
}

/// A running HTTP server; dropping it closes the listener and every open
/// connection, watches included.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// The bound address, with the real port when 0 was asked for.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, for a kubeconfig's `server`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes the listener and every open connection, and returns once
    /// they are closed, so the address can be bound again.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The accept task owns the connections' JoinSet, so aborting it
        // aborts them too.
        self.task.abort();
    }
}

/// Serves `fake` on `addr` (use port 0 for a free one) until the returned
/// [`Server`] is dropped. Must be called inside a Tokio runtime.
pub async fn serve(fake: FakeApi, addr: SocketAddr) -> std::io::Result<Server> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(accept(listener, fake));
    Ok(Server { addr, task })
}

async fn accept(listener: TcpListener, fake: FakeApi) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Watches answer in small chunks; Nagle would hold them back.
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(stream, fake.clone()));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            },
            // Reap finished connections so the set does not grow forever.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(stream: tokio::net::TcpStream, fake: FakeApi) {
    let service = service_fn(move |req| handle(fake.clone(), req));
    // A connection error is the client's business (reset, timeout); the
    // next connection is served all the same.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn handle(
    fake: FakeApi,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or(DEFAULT_IDENTITY)
        .to_owned();
    let user = match authenticate(&fake, &req, &agent) {
        Ok(user) => user,
        Err(e) => return Ok(response::error(&e)),
    };
    let (parts, body) = req.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return Ok(response::error(&ApiError::bad_request(format!(
                "failed to read request body: {e}"
            ))));
        }
    };
    let req = Request::from_parts(parts, kube::client::Body::from(bytes));
    fake.service_for(user, &agent).call(req).await
}

/// Writes a kubeconfig whose current context points at `http://ADDR`
/// with namespace `default` and no credentials. JSON is valid YAML, so
/// kubectl and `kube::Config` both read it.
pub fn write_kubeconfig(path: impl AsRef<Path>, addr: SocketAddr) -> std::io::Result<()> {
    write_kubeconfig_with_token(path, addr, None)
}

/// The same, authenticating with a bearer token given to
/// [`FakeApi::add_token`].
pub fn write_kubeconfig_with_token(
    path: impl AsRef<Path>,
    addr: SocketAddr,
    token: Option<&str>,
) -> std::io::Result<()> {
    let user = match token {
        Some(token) => json!({"token": token}),
        None => json!({}),
    };
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fakeapi", "cluster": {"server": format!("http://{addr}")}}],
        "users": [{"name": "fakeapi", "user": user}],
        "contexts": [{
            "name": "fakeapi",
            "context": {"cluster": "fakeapi", "user": "fakeapi", "namespace": "default"},
        }],
        "current-context": "fakeapi",
    });
    let text = serde_json::to_vec_pretty(&config).map_err(std::io::Error::other)?;
    std::fs::write(path, text)
}
