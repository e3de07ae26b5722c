//! `plan` and `validate` on the repository's own helpdesk configuration.

#[path = "support/common.rs"]
mod common;

use std::path::Path;

use common::conductor_in;
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn plan_json(args: &[&str]) -> Value {
    let mut all = vec!["plan", "helpdesk", "--output", "json"];
    all.extend_from_slice(args);
    let out = conductor_in(repo(), &all).success().stdout();
    serde_json::from_str(&out).unwrap()
}

#[test]
fn the_repository_config_validates() {
    let out = conductor_in(repo(), &["validate"]).success().stdout();
    assert!(
        out.contains("checked helpdesk: 3 environment(s), 7 cluster(s) rendered"),
        "{out}"
    );
    assert!(out.contains("valid: no problems"), "{out}");
}

#[test]
fn production_plan_shows_each_region() {
    let plan = plan_json(&["--env", "production", "--revision", "3f2a9c1"]);
    let clusters = plan["clusters"].as_array().unwrap();
    let summary: Vec<(&str, u64, i64)> = clusters
        .iter()
        .map(|c| {
            let rollout = c["objects"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["kind"] == "Rollout")
                .unwrap();
            (
                c["name"].as_str().unwrap(),
                c["wave"].as_u64().unwrap(),
                rollout["replicas"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("eu-west-1", 1, 6),
            ("us-east-1", 2, 10),
            ("ap-southeast-1", 2, 3)
        ]
    );
    let eu = &clusters[0];
    assert_eq!(
        eu["valuesFiles"],
        serde_json::json!([
            "charts/helpdesk/values.yaml",
            "charts/helpdesk/values/production.yaml",
            "charts/helpdesk/values/production/eu-west-1.yaml",
            "--revision (image.tag=3f2a9c1)"
        ])
    );
    let rollout = eu["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "Rollout")
        .unwrap();
    assert_eq!(
        rollout["images"][0],
        "ghcr.io/conductor-dev/helpdesk:3f2a9c1"
    );
    assert_eq!(rollout["steps"][0], "setWeight 10");
    assert_eq!(eu["values"]["analysis"]["maxErrorRate"], 0.01);
    assert!(plan.get("problems").is_none(), "{plan}");
}

#[test]
fn explain_names_the_file_and_line_of_each_key() {
    let plan = plan_json(&["--env", "production", "--cluster", "us-east-1", "--explain"]);
    let explain = plan["clusters"][0]["explain"].as_array().unwrap();
    let source = |key: &str| {
        let p = explain.iter().find(|p| p["key"] == key).unwrap();
        (p["source"].as_str().unwrap().to_owned(), p["line"].as_u64())
    };
    assert_eq!(
        source("replicas"),
        (
            "charts/helpdesk/values/production/us-east-1.yaml".into(),
            Some(1)
        )
    );
    assert_eq!(
        source("resources.limits.memory"),
        (
            "charts/helpdesk/values/production/us-east-1.yaml".into(),
            Some(4)
        )
    );
    assert_eq!(
        source("analysis.count"),
        ("charts/helpdesk/values/production.yaml".into(), Some(4))
    );
    assert_eq!(
        source("port"),
        ("charts/helpdesk/values.yaml".into(), Some(11))
    );
}

/// What helm renders for the staging cluster.
fn render_staging() -> String {
    conductor_in(
        repo(),
        &[
            "render",
            "helpdesk",
            "--env",
            "staging",
            "--cluster",
            "staging-eu-west-1",
        ],
    )
    .success()
    .stdout()
}

#[test]
fn staging_uses_pod_scrape_analysis() {
    let out = render_staging();
    assert!(out.contains("podScrape:"), "{out}");
    assert!(!out.contains("kind: HTTPRoute"), "{out}");
}

#[test]
fn text_plan_is_readable() {
    let out = conductor_in(
        repo(),
        &[
            "plan",
            "helpdesk",
            "--env",
            "production",
            "--cluster",
            "eu-west-1",
            "--explain",
        ],
    )
    .success()
    .stdout();
    assert!(
        out.contains(
            "== eu-west-1 (region eu-west-1, context prod-eu-west-1, namespace helpdesk, wave 1)"
        ),
        "{out}"
    );
    assert!(
        out.contains("replicas = 6    <- charts/helpdesk/values/production/eu-west-1.yaml:2"),
        "{out}"
    );
    assert!(
        out.contains("Rollout/helpdesk  replicas=6  image=ghcr.io/conductor-dev/helpdesk:latest"),
        "{out}"
    );
}

#[test]
fn the_chart_lints_for_every_cluster_and_with_a_shared_database() {
    let chart = repo().join("charts/helpdesk");
    let mut cases: Vec<Vec<String>> = Vec::new();
    for (env, clusters) in [
        ("demo", vec!["local-eu", "local-us", "local-ap"]),
        ("staging", vec!["staging-eu-west-1"]),
        (
            "production",
            vec!["eu-west-1", "us-east-1", "ap-southeast-1"],
        ),
    ] {
        for cluster in clusters {
            let mut files = vec![chart.join(format!("values/{env}.yaml"))];
            let cluster_file = chart.join(format!("values/{env}/{cluster}.yaml"));
            if cluster_file.exists() {
                files.push(cluster_file);
            }
            cases.push(
                files
                    .iter()
                    .flat_map(|f| ["-f".to_owned(), f.display().to_string()])
                    .collect(),
            );
        }
    }
    cases.push(vec![
        "--set".into(),
        "database.url=postgres://helpdesk@db:5432/helpdesk".into(),
    ]);
    for args in cases {
        let output = std::process::Command::new(common::helm())
            .arg("lint")
            .arg(&chart)
            .args(&args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && text.contains("0 chart(s) failed"),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn a_shared_database_gets_a_secret_and_a_migration_hook() {
    let repo_dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::helm())
        .args(["template", "helpdesk"])
        .arg(repo().join("charts/helpdesk"))
        .args(["--set", "database.url=postgres://helpdesk@db:5432/helpdesk"])
        .current_dir(repo_dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("kind: Secret")
            && text.contains("DATABASE_URL: \"postgres://helpdesk@db:5432/helpdesk\""),
        "{text}"
    );
    assert!(
        text.contains("helm.sh/hook: pre-install,pre-upgrade")
            && text.contains("args: [\"migrate\"]"),
        "{text}"
    );
    let embedded = render_staging();
    assert!(
        embedded.contains("sqlite:///data/helpdesk.db?mode=rwc") && !embedded.contains("kind: Job"),
        "{embedded}"
    );
}

/// Clusters whose helm input is byte for byte the same (namespace, values
/// files' contents, overrides) share one `helm template`; each still gets
/// its own plan.
#[test]
fn clusters_with_the_same_helm_input_render_once() {
    let repo = common::TestRepo::new();
    repo.write(
        "conductor-config/shop.yaml",
        "service: shop\nchart: charts/shop\nenvironments:\n  production:\n    clusters:\n\
         \x20     - {name: eu-west-1, region: eu-west-1, context: eu, namespace: shop, wave: 1}\n\
         \x20     - {name: us-east-1, region: us-east-1, context: us, namespace: shop, wave: 2}\n\
         \x20     - {name: ap-south-1, region: ap-south-1, context: ap, namespace: shop, wave: 2}\n\
         \x20     - {name: eu-canary, region: eu-west-1, context: eu, namespace: shop-canary, wave: 1}\n",
    );
    repo.write(
        "charts/shop/templates/named.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: r{{ .Values.replicas }}-{{ .Release.Namespace }}\n",
    );
    for (cluster, replicas) in [
        ("eu-west-1", 3),
        ("us-east-1", 3),
        ("ap-south-1", 5),
        ("eu-canary", 3),
    ] {
        repo.write(
            &format!("charts/shop/values/production/{cluster}.yaml"),
            &format!("replicas: {replicas}\n"),
        );
    }
    // A helm that notes each run, then is the real one.
    let log = repo.path().join("helm-runs.log");
    let wrapper = repo.path().join("helm-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n[ \"$1\" = template ] && echo \"$@\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            common::helm().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_conductor"))
        .arg("--repo")
        .arg(repo.path())
        .args(["plan", "shop", "--env", "production", "--output", "json"])
        .env("CONDUCTOR_HELM", &wrapper)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let plan: Value = serde_json::from_str(&stdout).unwrap();
    let rendered: Vec<(&str, &str, String)> = plan["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let named = c["objects"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|o| o["name"].as_str())
                .find(|n| n.starts_with('r'))
                .unwrap();
            let own_file = c["valuesFiles"][1].as_str().unwrap().to_owned();
            (c["name"].as_str().unwrap(), named, own_file)
        })
        .collect();
    let file = |c: &str| format!("charts/shop/values/production/{c}.yaml");
    assert_eq!(
        rendered,
        [
            ("eu-west-1", "r3-shop", file("eu-west-1")),
            ("us-east-1", "r3-shop", file("us-east-1")),
            ("ap-south-1", "r5-shop", file("ap-south-1")),
            ("eu-canary", "r3-shop-canary", file("eu-canary")),
        ]
    );
    let runs = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        runs.lines().count(),
        3,
        "one helm run per distinct input:\n{runs}"
    );
}
