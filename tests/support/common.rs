//! Helpers shared by the integration tests: a throw-away repository with a
//! small chart, and the `conductor` binary run the way a user runs it.
//!
//! Every test helper lives in `tests/support/` and a test includes the ones
//! it uses by path (`#[path = "support/common.rs"] mod common;`), so cargo
//! never builds a helper as a test of its own and each test compiles only
//! what it needs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The helm the tests use: `$CONDUCTOR_HELM`, else the one
/// `scripts/install-tools.sh` installs into `.tools/bin`.
pub fn helm() -> PathBuf {
    if let Some(path) = std::env::var_os("CONDUCTOR_HELM") {
        return PathBuf::from(path);
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/helm");
    assert!(
        local.is_file(),
        "helm is needed: run scripts/install-tools.sh or set CONDUCTOR_HELM"
    );
    local
}

pub struct TestRepo {
    dir: tempfile::TempDir,
}

pub const SERVICE: &str = "\
service: shop
chart: charts/shop
environments:
  production:
    clusters:
      - name: eu-west-1
        region: eu-west-1
        context: prod-eu
        namespace: shop
        wave: 1
      - name: us-east-1
        region: us-east-1
        context: prod-us
        namespace: shop
        wave: 2
";

impl TestRepo {
    /// A repository with service `shop` whose chart renders its values into
    /// a ConfigMap, so tests can read back exactly what helm saw.
    pub fn new() -> Self {
        let repo = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.write("conductor-config/shop.yaml", SERVICE);
        repo.write(
            "charts/shop/Chart.yaml",
            "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
        );
        repo.write(
            "charts/shop/values.yaml",
            "replicas: 1\nimage:\n  tag: latest\n",
        );
        repo.write(
            "charts/shop/templates/values.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: values\ndata:\n  values.yaml: {{ .Values | toYaml | quote }}\n",
        );
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, relative: &str, text: &str) {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn remove(&self, relative: &str) {
        let path = self.dir.path().join(relative);
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
    }

    /// Runs `conductor --repo <this repo> <args>`.
    pub fn conductor(&self, args: &[&str]) -> Run {
        conductor_in(self.path(), args)
    }
}

pub fn conductor_in(repo: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_conductor"))
        .arg("--repo")
        .arg(repo)
        .args(args)
        .env("CONDUCTOR_HELM", helm())
        .output()
        .unwrap();
    Run(output)
}

pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Everything the user sees.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout(), self.stderr())
    }
    pub fn success(self) -> Self {
        assert_eq!(self.code(), Some(0), "expected success:\n{}", self.all());
        self
    }
    pub fn failure(self) -> Self {
        self.expect(1)
    }
    /// Exited with `code`, without panicking.
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            Some(code),
            "expected exit status {code}:\n{}",
            self.all()
        );
        assert!(!self.all().contains("panicked"), "{}", self.all());
        self
    }
}
