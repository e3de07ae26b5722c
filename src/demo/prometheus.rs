//! `conductor demo --prometheus`: a real Prometheus on a free loopback
//! port, scraping the helpdesk processes found through a targets file that
//! follows the stable and canary replicas.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::error::DemoError;

pub struct Prometheus {
    pub url: String,
    child: Child,
    targets: PathBuf,
    written: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> Result<PathBuf, DemoError> {
    if let Some(path) = std::env::var_os("CONDUCTOR_PROMETHEUS") {
        return Ok(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("prometheus"))
        .find(|p| p.is_file())
        .ok_or_else(|| DemoError::Setup("--prometheus: no prometheus on PATH (apt-get install prometheus, or set CONDUCTOR_PROMETHEUS)".into()))
}

impl Prometheus {
    pub async fn start() -> Result<Self, DemoError> {
        let setup = |e: std::io::Error| DemoError::Setup(format!("--prometheus: {e}"));
        let dir = tempfile::tempdir().map_err(setup)?;
        let targets = dir.path().join("targets.json");
        std::fs::write(&targets, "[]").map_err(setup)?;
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: helpdesk\n    file_sd_configs:\n      - files: ['{}']\n        refresh_interval: 1s\n",
            targets.display()
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).map_err(setup)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(setup)?
            .port();
        let child = Command::new(binary()?)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(setup)?;
        let prometheus = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
            targets,
            written: "[]".into(),
            _dir: dir,
        };
        let client = crate::analysis::providers::http_client().map_err(DemoError::Setup)?;
        let started = Instant::now();
        loop {
            let ready = client
                .get(format!("{}/-/ready", prometheus.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(prometheus);
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err(DemoError::Setup(
                    "--prometheus: not ready after 30 s".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Points the scrape at the current replicas, labelled as the chart's
    /// queries expect (`service="helpdesk-stable"` / `"helpdesk-canary"`).
    pub fn follow(&mut self, stable: &[SocketAddr], canary: &[SocketAddr]) {
        let group = |addrs: &[SocketAddr], service: &str| serde_json::json!({"targets": addrs.iter().map(ToString::to_string).collect::<Vec<_>>(), "labels": {"service": service}});
        let text = serde_json::json!([
            group(stable, "helpdesk-stable"),
            group(canary, "helpdesk-canary")
        ])
        .to_string();
        if text != self.written {
            // Prometheus watches the file; a rename makes the change atomic.
            let temporary = self.targets.with_extension("tmp");
            if std::fs::write(&temporary, &text)
                .and_then(|()| std::fs::rename(&temporary, &self.targets))
                .is_ok()
            {
                self.written = text;
            }
        }
    }
}
