//! `conductor demo` end to end: `conductor deploy`'s orchestrator through
//! three local clusters in two waves (real helpdesk processes, real HTTP
//! through a weighted proxy each, the chart's rollout and analysis, the
//! same engine), into a real Git ledger.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

/// The first entry of a report list whose `key` is `value`.
fn find<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .and_then(|l| l.iter().find(|e| e[key] == value))
        .unwrap_or_else(|| panic!("no {key} {value} in {list:#}"))
}

/// `conductor --repo <this repo> demo <args>`, with the repository's helm.
fn demo(args: &[&str]) -> Command {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_conductor"));
    command.args(["--repo"]).arg(repo).arg("demo").args(args);
    if std::env::var_os("CONDUCTOR_HELM").is_none() {
        command.env("CONDUCTOR_HELM", repo.join(".tools/bin/helm"));
    }
    command
}

/// One demo at a time: each runs three clusters of real processes with
/// their users, and two at once on a small machine would measure the
/// machine, not the canary.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs the demo and returns its exit code and JSON report.
fn demo_report(args: &[&str]) -> (Option<i32>, Value) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let output = demo(args).output().unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), report)
}

/// A scenario's cluster by name.
fn cluster<'a>(scenario: &'a Value, name: &str) -> &'a Value {
    find(&scenario["clusters"], "name", name)
}

#[test]
fn demo_deploys_wave_by_wave_and_a_bad_release_never_leaves_wave_one() {
    let started = Instant::now();
    let (code, report) = demo_report(&["--speed", "fast", "--output", "json", "--keep"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert!(
        started.elapsed().as_secs() < 120,
        "the fast scenario takes under two minutes"
    );

    // v2 goes through every step in every cluster, wave 1 first.
    let good = &report["scenarios"][0];
    assert_eq!(
        (good["revision"].as_str(), good["outcome"].as_str()),
        (Some("v2"), Some("deployed")),
        "{good:#}"
    );
    assert_eq!(good["exitCode"], 0);
    for name in ["local-eu", "local-us", "local-ap"] {
        let c = cluster(good, name);
        assert_eq!(c["outcome"], "promoted", "{c:#}");
        assert_eq!(c["serving"], "v2");
        let reasons: Vec<&str> = c["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["reason"].as_str().unwrap())
            .collect();
        let count = |r: &str| reasons.iter().filter(|x| **x == r).count();
        assert_eq!(
            (
                count("SetWeight"),
                count("Paused"),
                count("AnalysisRunSuccessful"),
                count("RolloutCompleted")
            ),
            (2, 2, 2, 1),
            "{name}, every step: {reasons:?}"
        );
        let weights: Vec<i64> = c["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["weight"].as_i64().unwrap())
            .collect();
        assert_eq!(&weights[..4], [25, 50, 100, 0], "{name}: {weights:?}");
        assert_eq!(c["canary"]["errors"], 0);
    }
    assert_eq!(cluster(good, "local-eu")["wave"], 1);
    assert_eq!(cluster(good, "local-us")["wave"], 2);

    // v3 fails its analysis in wave 1 and is rolled back there; wave 2 never
    // runs it and keeps serving v2.
    let bad = &report["scenarios"][1];
    assert_eq!(bad["revision"], "v3");
    assert_eq!(bad["exitCode"], 1, "{bad:#}");
    assert!(
        bad["outcome"].as_str().unwrap().contains("local-eu"),
        "{bad:#}"
    );
    let eu = cluster(bad, "local-eu");
    assert_eq!(eu["outcome"], "aborted", "{eu:#}");
    assert_eq!(eu["state"], "Failed");
    assert_eq!(eu["serving"], "v2");
    let aborted = find(&eu["events"], "reason", "RolloutAborted");
    let message = aborted["message"].as_str().unwrap();
    assert!(
        message.contains("analysis run") && message.contains("failed"),
        "{aborted}"
    );
    let failed = find(&eu["measurements"], "phase", "Failed");
    assert!(
        failed["value"].as_str().unwrap().parse::<f64>().unwrap() > 0.05,
        "{failed}"
    );
    let latency = report["abortLatencyMs"]
        .as_f64()
        .expect("the report measures the abort latency");
    assert!(
        latency < 1000.0,
        "0% to the canary within 1 s of the deciding measurement: {latency} ms"
    );
    assert_eq!(eu["canaryAfterRollback"], false);
    assert!(
        eu["canary"]["requests"].as_u64().unwrap() > 0,
        "the bad canary did take some traffic"
    );
    for name in ["local-us", "local-ap"] {
        let c = cluster(bad, name);
        assert_eq!(
            (
                c["outcome"].as_str(),
                c["state"].as_str(),
                c["serving"].as_str()
            ),
            (Some("untouched"), Some("NotStarted"), Some("v2")),
            "{c:#}"
        );
        assert_eq!(c["canary"]["requests"], 0, "{name} never ran v3");
    }

    assert_eq!(
        report["stableErrors"], 0,
        "users of the stable revision saw no errors"
    );
    for pid in report["pids"].as_array().unwrap() {
        let pid = pid.as_u64().unwrap();
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "helpdesk process {pid} left behind"
        );
    }

    // The ledger recorded every transition; `--keep` left it where
    // `conductor status` and `history` read it.
    let ledger: Vec<&str> = report["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let position = |what: &str| {
        ledger
            .iter()
            .position(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no `{what}` in {ledger:#?}"))
    };
    assert!(position("wants v2") < position("local-eu: Healthy v2"));
    assert!(position("local-eu: Healthy v2") < position("wave 2: Deploying v2"));
    assert!(position("wants v3") < position("local-eu: Failed v3"));
    assert!(!ledger.iter().any(|l| l.contains("wave 2: Deploying v3")));
    let kept = Path::new(report["kept"].as_str().expect("--keep says where"));
    let status = Command::new(env!("CARGO_BIN_EXE_conductor"))
        .arg("--repo")
        .arg(kept.join("source"))
        .args(["status", "helpdesk", "--env", "demo"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}");
    assert!(text.contains("local-us") && text.contains("v2"), "{text}");
    std::fs::remove_dir_all(kept).unwrap();
}

/// Children of `pid`, from /proc (every thread's list).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

#[test]
fn sigterm_mid_rollout_stops_every_process() {
    use std::io::{BufRead, BufReader};
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut demo = demo(&["--scenario", "good"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(demo.stdout.take().unwrap());
    // Keep draining the output so the demo never writes to a closed pipe.
    let (seen, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = seen.send(line);
        }
    });
    // Wait until the canary is up (bounded by the demo's own limits).
    while let Ok(line) = lines.recv_timeout(std::time::Duration::from_secs(60)) {
        if line.contains("SetWeight") {
            break;
        }
    }
    let helpdesks = children(demo.id());
    assert!(
        helpdesks.len() >= 4,
        "stable and canary processes running: {helpdesks:?}"
    );
    Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status()
        .unwrap();
    let status = demo.wait().unwrap();
    assert_eq!(status.code(), Some(1), "interrupted is not success");
    for pid in helpdesks {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "helpdesk {pid} outlived the demo"
        );
    }
}

#[test]
fn demo_with_a_real_prometheus_rolls_back_the_bad_release() {
    let (code, report) = demo_report(&["--prometheus", "--scenario", "bad", "--output", "json"]);
    assert_eq!(code, Some(0), "{report:#}");
    let bad = &report["scenarios"][0];
    let eu = cluster(bad, "local-eu");
    assert_eq!(eu["outcome"], "aborted", "{bad:#}");
    let failed = find(&eu["measurements"], "phase", "Failed");
    let query = failed["query"].as_str().unwrap();
    assert!(
        query.contains("http_requests_total{service=\"helpdesk-canary\""),
        "measured through Prometheus: {query}"
    );
    assert!(eu["abortLatencyMs"].as_f64().unwrap() < 1000.0, "{bad:#}");
    assert_eq!(report["stableErrors"], 0);
}
