//! Plans 100 generated clusters of the helpdesk chart and prints the time.
//! Target: at most 2 s on a 2-core machine. Run: `cargo bench --bench plan`.

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

fn generate(root: &Path, source: &Path) -> std::io::Result<()> {
    copy_dir(
        &source.join("charts/helpdesk"),
        &root.join("charts/helpdesk"),
    )?;
    let mut config = String::from(
        "service: helpdesk\nchart: charts/helpdesk\nenvironments:\n  production:\n    clusters:\n",
    );
    let cluster_values = root.join("charts/helpdesk/values/production");
    for i in 0..CLUSTERS {
        let name = format!("region-{i:03}");
        config.push_str(&format!(
            "      - {{name: {name}, region: {name}, context: ctx-{i}, namespace: helpdesk, wave: {}}}\n",
            1 + i % 4
        ));
        std::fs::write(
            cluster_values.join(format!("{name}.yaml")),
            format!(
                "replicas: {}\nanalysis:\n  maxErrorRate: 0.0{}\n",
                2 + i % 9,
                1 + i % 5
            ),
        )?;
    }
    std::fs::create_dir_all(root.join("conductor-config"))?;
    std::fs::write(root.join("conductor-config/helpdesk.yaml"), config)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = tempfile::tempdir()?;
    generate(root.path(), &source)?;
    // Without CONDUCTOR_HELM or helm on PATH, conductor falls back to the
    // repository's .tools/bin/helm: point the generated repository at ours.
    let tools = source.join(".tools");
    if tools.is_dir() {
        std::os::unix::fs::symlink(&tools, root.path().join(".tools"))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
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
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "plan {CLUSTERS} clusters (helm template each, --explain): best {:.3} s, median {:.3} s on {cores} core(s); target <= 2 s",
        timings[0], timings[1]
    );
    Ok(())
}
