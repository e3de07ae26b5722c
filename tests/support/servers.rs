//! Real servers for tests: free loopback ports, processes stopped by PID
//! when the test ends (even by panic), readiness polled, never slept on,
//! and a tiny HTTP server whose answers the test decides.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A child process killed (by its PID) and reaped when dropped.
pub struct Process {
    pub name: String,
    child: Child,
}

impl Process {
    pub fn spawn(name: &str, command: &mut Command) -> Self {
        Self::spawn_logging(name, command, Stdio::null())
    }

    /// The same, with standard output going to `stdout` (e.g. a file the test reads).
    pub fn spawn_logging(name: &str, command: &mut Command, stdout: Stdio) -> Self {
        let child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            name: name.to_owned(),
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `url` until it answers 2xx, for at most `limit`.
pub async fn wait_ready(url: &str, limit: Duration) {
    let client = conductor::analysis::providers::http_client().expect("http client");
    let start = Instant::now();
    loop {
        if let Ok(r) = client.get(url).timeout(Duration::from_secs(1)).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(start.elapsed() < limit, "{url} not ready after {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

pub type Handler =
    Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// An HTTP/1.1 server on a free loopback port, stopped when dropped.
pub struct Stub {
    pub addr: SocketAddr,
    scheme: &'static str,
    task: tokio::task::JoinHandle<()>,
}

impl Stub {
    pub async fn start(handler: Handler) -> Self {
        Self::start_over("http", handler, |socket| async move { Some(socket) }).await
    }

    /// The same over the connection `wrap` makes of each accepted socket
    /// (a TLS session; see `support/tls.rs`), spoken as `scheme`; a socket
    /// it cannot wrap is dropped.
    pub async fn start_over<S, F, Fut>(scheme: &'static str, handler: Handler, wrap: F) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<S>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let wrap = Arc::new(wrap);
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let handler = handler.clone();
                let wrap = wrap.clone();
                tokio::spawn(async move {
                    let Some(mut socket) = wrap(socket).await else {
                        return;
                    };
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    let response = handler(request).await;
                    let mut head = format!(
                        "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                        response.status,
                        response.body.len()
                    );
                    for (k, v) in &response.headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    head.push_str("\r\n");
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(response.body.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { addr, scheme, task }
    }

    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Stops answering: later connections are refused.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request<S: AsyncRead + Unpin>(socket: &mut S) -> Option<Request> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buffer.len() > 1 << 20 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (target, String::new()),
    };
    Some(Request {
        method,
        path,
        query,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    Arc::new(move |r| Box::pin(f(r)))
}

/// Runs `conductor analyze --output json <extra args> <file>` with `text`
/// as the file; returns the exit code, the run status and everything printed.
pub async fn conductor_analyze(
    dir: &std::path::Path,
    name: &str,
    text: &str,
    extra: &[String],
    env: &[(&str, &str)],
) -> (i32, serde_json::Value, String) {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, text).expect("write template");
    let mut command = Command::new(env!("CARGO_BIN_EXE_conductor"));
    command
        .args(["analyze", "--output", "json"])
        .args(extra)
        .arg(&file);
    for (k, v) in env {
        command.env(k, v);
    }
    let output = tokio::task::spawn_blocking(move || command.output().expect("run conductor"))
        .await
        .expect("join");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let status = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{printed}"));
    (output.status.code().unwrap_or(-1), status, printed)
}
