//! Revisions as real `helpdesk` processes on loopback ports: started with
//! the revision's settings, ready when `/readyz` answers, stopped by PID.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("{0} binary not found (looked at {2}); build it (`cargo build -p {0}`) or set {1}")]
    Missing(String, String, String),
    #[error("cannot start helpdesk: {0}")]
    Start(String),
    #[error("helpdesk at {addr} not ready after {seconds}s")]
    NotReady { addr: SocketAddr, seconds: u64 },
}

/// How a revision runs: its version label, and the environment its pod
/// template gives the container (faults to inject, the version it reports).
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionSettings {
    pub label: String,
    pub env: Vec<(String, String)>,
}

pub struct Replica {
    pub addr: SocketAddr,
    child: Child,
}

impl Replica {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The program a workload's processes run: `$CONDUCTOR_<NAME>` (e.g.
/// `CONDUCTOR_HELPDESK`), else `name` next to this executable (or one
/// folder up, for test binaries under `target/*/deps`).
pub fn program_binary(name: &str) -> Result<PathBuf, ReplicaError> {
    let variable = format!("CONDUCTOR_{}", name.to_uppercase().replace('-', "_"));
    if let Some(path) = std::env::var_os(&variable) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()
        .map_err(|e| ReplicaError::Missing(name.to_owned(), variable.clone(), e.to_string()))?;
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    let candidates = [
        dir.join(name),
        dir.parent().map(|p| p.join(name)).unwrap_or_default(),
    ];
    candidates
        .iter()
        .find(|c| c.is_file())
        .cloned()
        .ok_or_else(|| {
            ReplicaError::Missing(
                name.to_owned(),
                variable.clone(),
                candidates
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })
}

/// Starts one replica and waits until it is ready.
pub async fn start(binary: &PathBuf, settings: &RevisionSettings) -> Result<Replica, ReplicaError> {
    let mut child = Command::new(binary)
        .args([
            "--database",
            "sqlite::memory:",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env_clear()
        .envs(
            settings
                .env
                .iter()
                // A process here keeps its data in memory, whatever the
                // chart's database is.
                .filter(|(name, _)| name != "DATABASE_URL")
                .map(|(name, value)| (name, value)),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| ReplicaError::Start(e.to_string()))?;
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        return Err(ReplicaError::Start("no stdout".into()));
    };
    // The first line names the address the server bound.
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| ReplicaError::Start(e.to_string()))?
    .map_err(|e| ReplicaError::Start(e.to_string()))?;
    let addr: Option<SocketAddr> = line
        .rsplit("http://")
        .next()
        .and_then(|a| a.trim().parse().ok());
    let replica = match addr {
        Some(addr) => Replica { addr, child },
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ReplicaError::Start(format!(
                "unexpected first line `{}`",
                line.trim()
            )));
        }
    };
    wait_ready(replica.addr).await?;
    Ok(replica)
}

async fn wait_ready(addr: SocketAddr) -> Result<(), ReplicaError> {
    let client = crate::analysis::providers::http_client().map_err(ReplicaError::Start)?;
    let limit = Duration::from_secs(10);
    let started = Instant::now();
    loop {
        let ready = client
            .get(format!("http://{addr}/readyz"))
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return Ok(());
        }
        if started.elapsed() > limit {
            return Err(ReplicaError::NotReady {
                addr,
                seconds: limit.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Replicas by revision hash, scaled to what the engine asks.
#[derive(Default)]
pub struct ReplicaSets {
    sets: BTreeMap<String, Vec<Replica>>,
}

impl ReplicaSets {
    /// Starts or stops replicas of `hash` until it has `replicas`.
    pub async fn scale(
        &mut self,
        binary: &PathBuf,
        hash: &str,
        settings: &RevisionSettings,
        replicas: usize,
    ) -> Result<(), ReplicaError> {
        let set = self.sets.entry(hash.to_owned()).or_default();
        // Newest first out, as a ReplicaSet does.
        set.truncate(replicas);
        while set.len() < replicas {
            set.push(start(binary, settings).await?);
        }
        Ok(())
    }

    pub fn addrs(&self, hash: &str) -> Vec<SocketAddr> {
        self.sets
            .get(hash)
            .map(|s| s.iter().map(|r| r.addr).collect())
            .unwrap_or_default()
    }

    pub fn count(&self, hash: &str) -> usize {
        self.sets.get(hash).map_or(0, Vec::len)
    }

    /// Every running process, for checking nothing is left behind.
    pub fn pids(&self) -> Vec<u32> {
        self.sets.values().flatten().map(Replica::pid).collect()
    }

    /// Stops every replica.
    pub fn stop_all(&mut self) {
        self.sets.clear();
    }
}
