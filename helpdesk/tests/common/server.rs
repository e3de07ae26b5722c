//! Starts the real `helpdesk` binary on a loopback port it picks, and stops
//! exactly that process when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Helpdesk {
    child: Child,
    pub url: String,
}

impl Helpdesk {
    /// `helpdesk serve --listen 127.0.0.1:0` with `env`, against `database`.
    pub fn start(database: &str, env: &[(&str, &str)]) -> Self {
        Self::try_start(database, env).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_start(database: &str, env: &[(&str, &str)]) -> Result<Self, String> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_helpdesk"));
        command
            .args(["--database", database, "serve", "--listen", "127.0.0.1:0"])
            .env_remove("DATABASE_URL")
            .env_remove("HELPDESK_API_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        // The first line names the address; the server is ready once printed.
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        match line.find("http://") {
            Some(at) => Ok(Self {
                url: line[at..].trim().to_owned(),
                child,
            }),
            None => {
                let _ = child.wait();
                let mut err = String::new();
                if let Some(stderr) = child.stderr.take() {
                    let _ = BufReader::new(stderr).read_line(&mut err);
                }
                Err(format!("helpdesk did not start: {}", err.trim()))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit.
    pub fn terminate(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Helpdesk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

pub fn sqlite_file(dir: &tempfile::TempDir) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("helpdesk.db").display()
    )
}
