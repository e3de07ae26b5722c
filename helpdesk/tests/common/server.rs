//! Starts the real `helpdesk` binary on a loopback port it picks, and stops
//! exactly that process when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

pub struct Helpdesk {
    child: Child,
    /// The rest of its standard output, after the line naming the address.
    stdout: BufReader<ChildStdout>,
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
        let mut stdout = BufReader::new(stdout);
        stdout.read_line(&mut line).map_err(|e| e.to_string())?;
        match line.find("http://") {
            Some(at) => Ok(Self {
                url: line[at..].trim().to_owned(),
                child,
                stdout,
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

impl Helpdesk {
    /// Stops it (SIGTERM, bounded wait, then kill) and returns everything
    /// it wrote to standard output and error.
    pub fn stop_and_output(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut output = String::new();
        let _ = self.stdout.read_to_string(&mut output);
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut output);
        }
        output
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
