//! The real `conductor controller` binary as a child process against a
//! served fake (through a kubeconfig), as the operator bench and the soak
//! run it: its log to a file, its memory read from `/proc/<pid>/status`,
//! its `/metrics` read over a fresh loopback connection, and the process
//! killed by its own PID when dropped, even when the run fails.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Instant;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The controller child process; killed (by its own PID) and reaped on drop.
pub struct ControllerChild {
    child: Child,
    pub metrics: SocketAddr,
    pub started: Instant,
}

impl ControllerChild {
    /// `binary controller --log-format json --metrics-addr <free port>`
    /// plus `args`, with `RUST_LOG=warn` (see [`rust_log`]), appending its
    /// output to `log`.
    pub fn start(
        binary: &Path,
        kubeconfig: &Path,
        log: &Path,
        args: &[&str],
    ) -> Result<Self, BoxError> {
        let metrics = free_port()?;
        let out = File::options().create(true).append(true).open(log)?;
        let child = Command::new(binary)
            .args(["controller", "--log-format", "json", "--metrics-addr"])
            .arg(metrics.to_string())
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", rust_log())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        println!(
            "  started controller pid {} (metrics {metrics})",
            child.id()
        );
        Ok(Self {
            child,
            metrics,
            started: Instant::now(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, once it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// `(VmRSS, VmHWM)` in MiB.
    pub fn memory(&self) -> Result<(f64, f64), BoxError> {
        memory(self.pid())
    }
}

impl Drop for ControllerChild {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// `warn`, or `CONDUCTOR_CHILD_RUST_LOG` for a closer look (e.g.
/// `warn,kube_runtime=debug`).
fn rust_log() -> String {
    std::env::var("CONDUCTOR_CHILD_RUST_LOG").unwrap_or_else(|_| "warn".into())
}

/// A port nobody listens on right now; the controller binds it a moment later.
pub fn free_port() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// `(VmRSS, VmHWM)` of process `pid` in MiB.
pub fn memory(pid: u32) -> Result<(f64, f64), BoxError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    match (field("VmRSS:"), field("VmHWM:")) {
        (Some(rss), Some(hwm)) => Ok((rss, hwm)),
        _ => Err(format!("no VmRSS/VmHWM in /proc/{pid}/status").into()),
    }
}

/// One GET over a fresh connection: the status code and the body.
pub async fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), BoxError> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no status line")?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((code, body.to_owned()))
}

/// The sum of every sample of `series` (a name and the start of its labels)
/// on a Prometheus text page.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(series))
        .filter_map(|rest| {
            rest.trim_start_matches(|c| c != ' ')
                .split_whitespace()
                .next()
        })
        .filter_map(|v| v.parse::<f64>().ok())
        // Not `sum()`: an empty f64 sum is -0.0, which prints as "-0".
        .fold(0.0, |total, v| total + v)
}

/// Warnings and errors the controller logged, grouped by message.
pub fn log_summary(log: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let message = serde_json::from_str::<Value>(line)
            .ok()
            .map(|v| {
                let level = v["level"].as_str().unwrap_or("?").to_owned();
                let fields = &v["fields"];
                let message = fields["message"].as_str().unwrap_or_default();
                let error = fields["error"].as_str().unwrap_or_default();
                format!("{level} {message} {error}")
            })
            .unwrap_or_else(|| line.to_owned());
        // Object names make every line unique; keep the first 160 chars.
        let key: String = message.chars().take(160).collect();
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// The ten most common of [`log_summary`], one line each.
pub fn print_log(log: &Path) {
    let summary = log_summary(log);
    if summary.is_empty() {
        println!("  controller log: no warnings or errors");
    }
    let mut common: Vec<_> = summary.into_iter().collect();
    common.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    for (message, count) in common.iter().take(10) {
        println!("  controller log: {count:>6} × {message}");
    }
}
