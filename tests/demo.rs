//! `conductor demo` end to end: real helpdesk processes, real HTTP through
//! the weighted proxy, the chart's rollout and analysis, the same engine.

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

/// Runs the demo and returns its exit code and JSON report.
fn demo_report(args: &[&str]) -> (Option<i32>, Value) {
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

#[test]
fn demo_promotes_the_good_release_and_rolls_back_the_bad_one() {
    let started = Instant::now();
    let (code, report) = demo_report(&["--speed", "fast", "--output", "json"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert!(
        started.elapsed().as_secs() < 90,
        "the fast scenario takes well under 90 s"
    );

    let good = &report["scenarios"][0];
    assert_eq!(
        (good["revision"].as_str(), good["outcome"].as_str()),
        (Some("v2"), Some("promoted")),
        "{good:#}"
    );
    let reasons: Vec<&str> = good["events"]
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
        "every step: {reasons:?}"
    );
    let weights: Vec<i64> = good["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["weight"].as_i64().unwrap())
        .collect();
    assert_eq!(weights, [25, 50, 100, 0], "{weights:?}");
    assert_eq!(good["canary"]["errors"], 0);

    let bad = &report["scenarios"][1];
    assert_eq!(
        (bad["revision"].as_str(), bad["outcome"].as_str()),
        (Some("v3"), Some("aborted")),
        "{bad:#}"
    );
    let aborted = find(&bad["events"], "reason", "RolloutAborted");
    assert!(
        aborted["message"]
            .as_str()
            .unwrap()
            .contains("analysis run")
            && aborted["message"].as_str().unwrap().contains("failed"),
        "{aborted}"
    );
    let failed = find(&bad["measurements"], "phase", "Failed");
    assert!(
        failed["value"].as_str().unwrap().parse::<f64>().unwrap() > 0.05,
        "{failed}"
    );
    let latency = bad["abortLatencyMs"]
        .as_f64()
        .expect("the report measures the abort latency");
    assert!(
        latency < 1000.0,
        "0% to the canary within 1 s of the deciding measurement: {latency} ms"
    );
    assert_eq!(bad["canaryAfterRollback"], false);
    assert!(
        bad["canary"]["requests"].as_u64().unwrap() > 0,
        "the bad canary did take some traffic"
    );

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
    assert_eq!(bad["outcome"], "aborted", "{bad:#}");
    let failed = find(&bad["measurements"], "phase", "Failed");
    let query = failed["query"].as_str().unwrap();
    assert!(
        query.contains("http_requests_total{service=\"helpdesk-canary\""),
        "measured through Prometheus: {query}"
    );
    assert!(bad["abortLatencyMs"].as_f64().unwrap() < 1000.0, "{bad:#}");
    assert_eq!(report["stableErrors"], 0);
}
