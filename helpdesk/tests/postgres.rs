//! The same API on PostgreSQL (Debian's package), started by each test on a
//! free loopback port and stopped by PID: shared by two replicas, and
//! running the flows the SQLite tests run.

mod common;

use common::{flows, server};

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use server::Helpdesk;

struct Postgres {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's fast shutdown; SIGKILL if it lingers.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CONDUCTOR_PG_BIN") {
        return PathBuf::from(dir);
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|_| panic!("PostgreSQL missing: install Debian's postgresql (.ci/run does) or set CONDUCTOR_PG_BIN"))
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("postgres").is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("a PostgreSQL server under /usr/lib/postgresql")
}

/// Uid and gid of the `postgres` user when running as root: PostgreSQL
/// refuses to run as root.
fn run_as() -> Option<(u32, u32)> {
    let id = |args: &[&str]| -> Option<u32> {
        let out = Command::new("id").args(args).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    if id(&["-u"])? != 0 {
        return None;
    }
    Some((id(&["-u", "postgres"])?, id(&["-g", "postgres"])?))
}

fn command(program: PathBuf, user: Option<(u32, u32)>) -> Command {
    let mut command = Command::new(program);
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
    command
}

async fn postgres() -> Postgres {
    let bin = bin_dir();
    let user = run_as();
    let dir = tempfile::tempdir().unwrap();
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
    }
    let data = dir.path().join("data");
    let status = command(bin.join("initdb"), user)
        .args([
            "-D",
            data.to_str().unwrap(),
            "-U",
            "helpdesk",
            "--auth=trust",
            "-E",
            "UTF8",
        ])
        .stdout(Stdio::null())
        .status()
        .expect("initdb");
    assert!(status.success(), "initdb failed");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = command(bin.join("postgres"), user)
        .args([
            "-D",
            data.to_str().unwrap(),
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-k",
            dir.path().to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("postgres");
    let url = format!("postgres://helpdesk@127.0.0.1:{port}/postgres");
    let server = Postgres {
        child,
        url,
        _dir: dir,
    };
    sqlx::any::install_default_drivers();
    let start = Instant::now();
    while sqlx::AnyPool::connect(&server.url).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "PostgreSQL not ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}

/// `helpdesk migrate` against `database`, which must succeed.
fn migrate(database: &str) -> Output {
    let migrate = Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .args(["--database", database, "migrate"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    migrate
}

/// A new, migrated database `name` on `pg`, by URL.
async fn database(pg: &Postgres, name: &'static str) -> String {
    let pool = sqlx::AnyPool::connect(&pg.url).await.unwrap();
    // `CREATE DATABASE` takes no parameters; the name is the test's own literal.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (server, _) = pg.url.rsplit_once('/').unwrap();
    let url = format!("{server}/{name}");
    migrate(&url);
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_is_migrated_once_and_shared_by_replicas() {
    let pg = postgres().await;
    // A shared database is migrated by `helpdesk migrate` (the chart's hook Job), not by servers.
    let refused = Helpdesk::try_start(&pg.url, &[]).err().unwrap();
    assert!(refused.contains("run `helpdesk migrate`"), "{refused}");
    let migrate = migrate(&pg.url);
    assert!(String::from_utf8_lossy(&migrate.stdout).contains("schema at version 1 (1 applied)"));

    let (one, two) = (Helpdesk::start(&pg.url, &[]), Helpdesk::start(&pg.url, &[]));
    flows::life_cycle(&one).await;
    flows::bad_requests(&two).await;
    // The second replica sees what the first wrote.
    let (status, ticket) = flows::get(&format!("{}/tickets/1", two.url)).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(ticket["subject"], "ticket 0");
    let (status, _) = flows::post(
        &format!("{}/customers", two.url),
        json!({"name": "Ada", "email": "ada@example.com"}),
    )
    .await;
    assert_eq!(
        status,
        reqwest::StatusCode::CONFLICT,
        "unique across replicas"
    );
    let (status, _) = flows::get(&format!("{}/readyz", two.url)).await;
    assert_eq!(status, reqwest::StatusCode::OK);
}

/// Concurrent writes through two replicas of one database.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writes_land_whole_on_postgres() {
    let pg = postgres().await;
    let url = database(&pg, "races").await;
    let (one, two) = (Helpdesk::start(&url, &[]), Helpdesk::start(&url, &[]));
    flows::concurrent_writes(&[&one.url, &two.url]).await;
}

/// Write auth, request metrics and fault injection, as on SQLite: one
/// PostgreSQL, a fresh migrated database per flow, and each flow on its own
/// helpdesk process so no flow's requests reach another's counters.
#[tokio::test(flavor = "multi_thread")]
async fn auth_metrics_and_faults_on_postgres() {
    let pg = postgres().await;
    let (auth, metrics, faults) = (
        database(&pg, "auth").await,
        database(&pg, "metrics").await,
        database(&pg, "faults").await,
    );
    tokio::join!(
        flows::auth(&auth),
        flows::metrics(&metrics),
        flows::faults(&faults)
    );
}

/// The helm the workspace's tests use: `$CONDUCTOR_HELM`, else the one
/// `scripts/install-tools.sh` installs.
fn helm() -> PathBuf {
    std::env::var_os("CONDUCTOR_HELM").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/helm"),
        PathBuf::from,
    )
}

/// The chart's documents of `kind`.
fn of_kind<'a>(documents: &'a [serde_yaml::Value], kind: &str) -> Vec<&'a serde_yaml::Value> {
    documents.iter().filter(|d| d["kind"] == kind).collect()
}

/// The chart's migration hook, run as a cluster runs it: the Job's
/// container arguments with its environment (`DATABASE_URL` from the
/// chart's Secret, which is a hook ahead of the Job), against a database
/// nothing has migrated yet.
#[tokio::test(flavor = "multi_thread")]
async fn the_charts_migration_hook_migrates_the_shared_database() {
    use serde::Deserialize;
    let pg = postgres().await;
    let pool = sqlx::AnyPool::connect(&pg.url).await.unwrap();
    sqlx::raw_sql("CREATE DATABASE hooked")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (server, _) = pg.url.rsplit_once('/').unwrap();
    let url = format!("{server}/hooked");

    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/helpdesk");
    let out = Command::new(helm())
        .args(["template", "helpdesk"])
        .arg(&chart)
        .args(["--set", &format!("database.url={url}")])
        .output()
        .expect("helm runs (scripts/install-tools.sh, or set CONDUCTOR_HELM)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let documents: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| serde_yaml::Value::deserialize(d).ok())
        .filter(|d| !d.is_null())
        .collect();
    let hook = |d: &serde_yaml::Value| {
        let annotations = &d["metadata"]["annotations"];
        let events = annotations["helm.sh/hook"].as_str().unwrap_or_default();
        let weight: i64 = annotations["helm.sh/hook-weight"]
            .as_str()
            .map_or(0, |w| w.parse().unwrap());
        (events.contains("pre-upgrade") && events.contains("pre-install")).then_some(weight)
    };
    let jobs = of_kind(&documents, "Job");
    assert_eq!(jobs.len(), 1, "{text}");
    let job = jobs[0];
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    let secret_name = container["env"][0]["valueFrom"]["secretKeyRef"]["name"]
        .as_str()
        .expect("DATABASE_URL from a Secret");
    let secret = of_kind(&documents, "Secret")
        .into_iter()
        .find(|s| s["metadata"]["name"] == secret_name)
        .expect("the chart renders the Secret the Job reads");
    assert!(
        hook(secret).unwrap() < hook(job).expect("the Job is a pre-install/pre-upgrade hook"),
        "the Secret is created before the Job"
    );
    let database_url = secret["stringData"]["DATABASE_URL"].as_str().unwrap();
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();

    let refused = Helpdesk::try_start(&url, &[]).err().unwrap();
    assert!(refused.contains("run `helpdesk migrate`"), "{refused}");
    let migrated = Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .args(&args)
        .env("DATABASE_URL", database_url)
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let server = Helpdesk::start(&url, &[]);
    flows::life_cycle(&server).await;
}
