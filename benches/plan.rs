//! Plans 100 generated clusters of the helpdesk chart and prints the time.
//! Target: at most 2 s on a 2-core machine. Run: `cargo bench --bench plan`.
//!
//! Two fleets: one whose cluster files repeat (replicas and thresholds by
//! tier: 45 distinct helm inputs, so 45 helm runs), and one where every
//! cluster differs (100 helm runs, the worst case).

use std::path::{Path, PathBuf};
use std::time::Instant;

use conductor::plan::{self, PlanRequest};

const CLUSTERS: usize = 100;

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// How a generated cluster's own values file reads.
type ClusterValues = fn(usize) -> String;

fn by_tier(i: usize) -> String {
    format!(
        "replicas: {}\nanalysis:\n  maxErrorRate: 0.0{}\n",
        2 + i % 9,
        1 + i % 5
    )
}

fn all_different(i: usize) -> String {
    format!("replicas: {}\nanalysis:\n  maxErrorRate: 0.05\n", 2 + i)
}

fn generate(root: &Path, source: &Path, cluster_values: ClusterValues) -> std::io::Result<()> {
    copy_dir(
        &source.join("charts/helpdesk"),
        &root.join("charts/helpdesk"),
    )?;
    let mut config = String::from(
        "service: helpdesk\nchart: charts/helpdesk\nenvironments:\n  production:\n    clusters:\n",
    );
    let cluster_files = root.join("charts/helpdesk/values/production");
    for i in 0..CLUSTERS {
        let name = format!("region-{i:03}");
        config.push_str(&format!(
            "      - {{name: {name}, region: {name}, context: ctx-{i}, namespace: helpdesk, wave: {}}}\n",
            1 + i % 4
        ));
        std::fs::write(
            cluster_files.join(format!("{name}.yaml")),
            cluster_values(i),
        )?;
    }
    std::fs::create_dir_all(root.join("conductor-config"))?;
    std::fs::write(root.join("conductor-config/helpdesk.yaml"), config)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (fleet, cluster_values) in [
        ("values repeating by tier", by_tier as ClusterValues),
        ("every cluster different", all_different),
    ] {
        let (best, median) = time_plans(&runtime, &source, cluster_values)?;
        println!(
            "plan {CLUSTERS} clusters, {fleet} (helm template per distinct input, --explain): best {best:.3} s, median {median:.3} s on {cores} core(s); target <= 2 s"
        );
    }
    Ok(())
}

/// Best and median of three plans of a generated fleet.
fn time_plans(
    runtime: &tokio::runtime::Runtime,
    source: &Path,
    cluster_values: ClusterValues,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let root = tempfile::tempdir()?;
    generate(root.path(), source, cluster_values)?;
    // Without CONDUCTOR_HELM or helm on PATH, conductor falls back to the
    // repository's .tools/bin/helm: point the generated repository at ours.
    let tools = source.join(".tools");
    if tools.is_dir() {
        std::os::unix::fs::symlink(&tools, root.path().join(".tools"))?;
    }
    let request = PlanRequest {
        repo: root.path(),
        service: "helpdesk",
        environment: "production",
        cluster: None,
        revision: Some("3f2a9c1"),
        explain: true,
    };
    let mut timings = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let report = runtime.block_on(plan::plan(&request))?;
        let elapsed = start.elapsed();
        if report.clusters.len() != CLUSTERS || !report.problems.is_empty() {
            return Err(format!("plan incomplete: {:?}", report.problems).into());
        }
        timings.push(elapsed.as_secs_f64());
    }
    timings.sort_by(f64::total_cmp);
    Ok((timings[0], timings[1]))
}
