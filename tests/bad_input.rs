//! Every bad input a user can write gets a message naming the file, the
//! line and the field, through the same commands users run.

#[path = "support/common.rs"]
mod common;

use common::{SERVICE, TestRepo};

const CONFIG: &str = "conductor-config/shop.yaml";

/// Runs `plan` on the repo and returns what the user sees, asserting failure.
fn plan_fails(repo: &TestRepo, extra: &[&str]) -> String {
    let mut args = vec!["plan", "shop", "--env", "production"];
    args.extend_from_slice(extra);
    repo.conductor(&args).failure().all()
}

fn assert_names(out: &str, location: &str, needles: &[&str]) {
    assert!(out.contains(location), "expected `{location}` in:\n{out}");
    for needle in needles {
        assert!(out.contains(needle), "expected `{needle}` in:\n{out}");
    }
}

#[test]
fn yaml_syntax_error_in_config() {
    let repo = TestRepo::new();
    repo.write(
        CONFIG,
        &SERVICE.replace("        wave: 2\n", "        wave: 2\n   oops: : :\n"),
    );
    let out = plan_fails(&repo, &[]);
    assert_names(
        &out,
        "conductor-config/shop.yaml:16:",
        &["did not find expected key, while parsing a block mapping"],
    );
}

#[test]
fn wrong_type_names_field_and_line() {
    let repo = TestRepo::new();
    repo.write(CONFIG, &SERVICE.replace("wave: 2", "wave: second"));
    let out = plan_fails(&repo, &[]);
    assert_names(
        &out,
        "conductor-config/shop.yaml:15: environments.production.clusters[1].wave:",
        &["invalid type", "expected u32"],
    );
}

#[test]
fn unknown_field_suggests_nearest_name() {
    let repo = TestRepo::new();
    repo.write(
        CONFIG,
        &SERVICE.replace("region: us-east-1", "regoin: us-east-1"),
    );
    let out = plan_fails(&repo, &[]);
    assert_names(
        &out,
        "conductor-config/shop.yaml:12: environments.production.clusters[1]:",
        &["unknown field `regoin`", "did you mean `region`?"],
    );
}

#[test]
fn unknown_top_level_field_suggests_nearest_name() {
    let repo = TestRepo::new();
    repo.write(
        CONFIG,
        &SERVICE.replace("chart: charts/shop", "chrat: charts/shop"),
    );
    let out = plan_fails(&repo, &[]);
    assert_names(
        &out,
        "conductor-config/shop.yaml:2:",
        &["unknown field `chrat`", "did you mean `chart`?"],
    );
}

#[test]
fn missing_required_field() {
    let repo = TestRepo::new();
    repo.write(CONFIG, &SERVICE.replace("        context: prod-us\n", ""));
    let out = plan_fails(&repo, &[]);
    assert_names(
        &out,
        "conductor-config/shop.yaml:11: environments.production.clusters[1]:",
        &["missing field `context`"],
    );
}

#[test]
fn unknown_environment_suggests_nearest() {
    let repo = TestRepo::new();
    let out = repo
        .conductor(&["plan", "shop", "--env", "prodution"])
        .failure()
        .all();
    assert_names(
        &out,
        "conductor-config/shop.yaml: unknown environment `prodution`",
        &["did you mean `production`?", "known: production"],
    );
}

#[test]
fn unknown_cluster_suggests_nearest() {
    let repo = TestRepo::new();
    let out = plan_fails(&repo, &["--cluster", "eu-west-2"]);
    assert_names(
        &out,
        "conductor-config/shop.yaml: unknown cluster `eu-west-2` in environment `production`",
        &["did you mean `eu-west-1`?"],
    );
}

#[test]
fn unknown_service_lists_known_ones() {
    let repo = TestRepo::new();
    let out = repo
        .conductor(&["plan", "shpo", "--env", "production"])
        .failure()
        .all();
    assert_names(
        &out,
        "conductor-config/shpo.yaml",
        &["unknown service `shpo`", "did you mean `shop`?"],
    );
}

#[test]
fn duplicate_cluster_name_points_at_both() {
    let repo = TestRepo::new();
    repo.write(
        CONFIG,
        &SERVICE.replace("name: us-east-1", "name: eu-west-1"),
    );
    let out = plan_fails(&repo, &[]);
    assert_names(
        &out,
        "conductor-config/shop.yaml:11: environments.production.clusters[1].name:",
        &["duplicate cluster name `eu-west-1`", "(first at line 6)"],
    );
}

#[test]
fn duplicate_key_points_at_the_repeat() {
    let repo = TestRepo::new();
    repo.write(
        CONFIG,
        &SERVICE.replace(
            "chart: charts/shop\n",
            "chart: charts/shop\nchart: charts/other\n",
        ),
    );
    let out = plan_fails(&repo, &[]);
    assert_names(
        &out,
        "conductor-config/shop.yaml:3",
        &["duplicate field `chart`"],
    );
}

#[test]
fn missing_chart_names_the_field() {
    let repo = TestRepo::new();
    repo.remove("charts/shop");
    let out = plan_fails(&repo, &[]);
    assert_names(
        &out,
        "conductor-config/shop.yaml:2: chart:",
        &["chart `charts/shop` not found"],
    );
}

#[test]
fn invalid_names_are_rejected_with_their_field() {
    let repo = TestRepo::new();
    repo.write(
        CONFIG,
        &SERVICE
            .replace("name: us-east-1", "name: US_East")
            .replace("wave: 1", "wave: 0"),
    );
    let out = plan_fails(&repo, &[]);
    // Both problems, not just the first.
    assert_names(
        &out,
        "conductor-config/shop.yaml:11: environments.production.clusters[1].name:",
        &["`US_East` is not a valid name"],
    );
    assert_names(
        &out,
        "conductor-config/shop.yaml:10: environments.production.clusters[0].wave:",
        &["wave must be 1 or more"],
    );
}

#[test]
fn service_name_must_match_file_name() {
    let repo = TestRepo::new();
    repo.write(CONFIG, &SERVICE.replace("service: shop", "service: store"));
    let out = plan_fails(&repo, &[]);
    assert_names(
        &out,
        "conductor-config/shop.yaml:1: service:",
        &["declares service `store`"],
    );
}

#[test]
fn empty_environment_is_rejected() {
    let repo = TestRepo::new();
    repo.write(
        CONFIG,
        "service: shop\nchart: charts/shop\nenvironments:\n  staging:\n    clusters: []\n",
    );
    let out = repo.conductor(&["validate"]).failure().all();
    assert_names(
        &out,
        "conductor-config/shop.yaml:5: environments.staging.clusters:",
        &["lists no cluster"],
    );
}

#[test]
fn values_file_that_is_not_a_map() {
    let repo = TestRepo::new();
    repo.write(
        "charts/shop/values/production.yaml",
        "# replicas per region\n- 3\n- 4\n",
    );
    let out = plan_fails(&repo, &[]);
    assert_names(
        &out,
        "charts/shop/values/production.yaml:2:",
        &["a values file must be a map of keys to values, found a list"],
    );
}

#[test]
fn values_file_with_bad_yaml() {
    let repo = TestRepo::new();
    repo.write(
        "charts/shop/values/production/us-east-1.yaml",
        "replicas: 3\nimage:\n  tag: [unclosed\n",
    );
    let out = plan_fails(&repo, &["--cluster", "us-east-1"]);
    assert_names(
        &out,
        "charts/shop/values/production/us-east-1.yaml:3:",
        &["while parsing a flow sequence, expected ',' or ']'"],
    );
}

#[test]
fn values_file_with_duplicate_key() {
    let repo = TestRepo::new();
    repo.write(
        "charts/shop/values/production.yaml",
        "replicas: 3\nimage: {}\nreplicas: 4\n",
    );
    let out = plan_fails(&repo, &[]);
    assert_names(
        &out,
        "charts/shop/values/production.yaml:3:",
        &["duplicate key `replicas`"],
    );
}

#[test]
fn values_file_for_unknown_cluster_is_reported() {
    let repo = TestRepo::new();
    repo.write(
        "charts/shop/values/production/eu-west1.yaml",
        "replicas: 3\n",
    );
    repo.write("charts/shop/values/prod.yaml", "replicas: 3\n");
    let out = repo.conductor(&["validate"]).failure().all();
    assert_names(
        &out,
        "charts/shop/values/production/eu-west1.yaml:",
        &[
            "unknown cluster `eu-west1` are never used",
            "did you mean `eu-west-1`?",
        ],
    );
    assert_names(
        &out,
        "charts/shop/values/prod.yaml:",
        &["unknown environment `prod`"],
    );
    assert!(out.contains("2 problem(s)"), "{out}");
}

#[test]
fn helm_template_error_names_template_file_and_line() {
    let repo = TestRepo::new();
    repo.write(
        "charts/shop/templates/broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  x: {{ .Values.missing.field }}\n",
    );
    let out = plan_fails(&repo, &["--cluster", "eu-west-1"]);
    assert_names(
        &out,
        "charts/shop: helm template failed for cluster `eu-west-1`",
        &["shop/templates/broken.yaml:6", "missing"],
    );
}

#[test]
fn rendered_rollout_with_a_typo_names_template_and_field() {
    let repo = TestRepo::new();
    repo.write(
        "charts/shop/templates/rollout.yaml",
        "apiVersion: conductor.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: shop\nspec:\n  replicas: {{ .Values.replicas }}\n  strategy:\n    canary:\n      steps:\n        - setWeigth: 10\n",
    );
    let out = plan_fails(&repo, &["--cluster", "eu-west-1"]);
    assert_names(
        &out,
        "charts/shop/templates/rollout.yaml: spec.strategy.canary.steps[0].setWeigth: Rollout/shop for cluster `eu-west-1`",
        &["not supported by Conductor; did you mean `setWeight`?"],
    );
}

#[test]
fn invalid_revision_is_rejected_before_rendering() {
    let repo = TestRepo::new();
    let out = plan_fails(&repo, &["--revision", "abc; rm -rf /"]);
    assert_names(
        &out,
        "invalid revision `abc; rm -rf /`",
        &["letters, digits"],
    );
}

#[test]
fn validate_lists_every_problem_across_files() {
    let repo = TestRepo::new();
    repo.write("charts/shop/values/production.yaml", "- not a map\n");
    repo.write(
        "conductor-config/other.yaml",
        "service: other\nchart: charts/nope\nenvironments:\n  dev:\n    clusters:\n      - {name: a, region: r, context: c, namespace: n, wave: 1}\n",
    );
    let out = repo.conductor(&["validate"]).failure().all();
    assert_names(
        &out,
        "conductor-config/other.yaml:2: chart:",
        &["not found"],
    );
    // Both clusters of production read the bad file: one problem to fix.
    assert_eq!(
        out.matches("charts/shop/values/production.yaml:1:").count(),
        1,
        "{out}"
    );
    assert!(out.contains("2 problem(s)"), "{out}");
}

#[test]
fn missing_helm_is_a_clear_error() {
    let repo = TestRepo::new();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_conductor"))
        .args(["--repo"])
        .arg(repo.path())
        .args(["plan", "shop", "--env", "production"])
        .env("CONDUCTOR_HELM", repo.path().join("no-such-helm"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(out.contains("no-such-helm does not run"), "{out}");
}

#[test]
fn old_helm_is_refused() {
    let repo = TestRepo::new();
    let fake = repo.path().join("old-helm");
    std::fs::write(&fake, "#!/bin/sh\necho v3.11.3\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_conductor"))
        .arg("--repo")
        .arg(repo.path())
        .args(["plan", "shop", "--env", "production"])
        .env("CONDUCTOR_HELM", &fake)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stderr);
    assert!(
        out.contains("is v3.11.3; conductor needs 3.12 or newer"),
        "{out}"
    );
}

#[test]
fn a_webhook_url_in_the_config_is_refused_without_repeating_it() {
    let repo = TestRepo::new();
    let secret = "https://hooks.slack.com/services/T000/B000/s3cr3t";
    repo.write(
        CONFIG,
        &format!(
            "{SERVICE}notifications:\n  - name: team-chat\n    type: slack\n    url: {secret}\n    events: [waveDon]\n"
        ),
    );
    let out = plan_fails(&repo, &[]);
    assert_names(
        &out,
        "conductor-config/shop.yaml:20: notifications[0].events[0]:",
        &["unknown variant `waveDon`", "did you mean `waveDone`?"],
    );
    repo.write(
        CONFIG,
        &format!(
            "{SERVICE}notifications:\n  - name: team-chat\n    type: slack\n    url: {secret}\n"
        ),
    );
    let out = plan_fails(&repo, &[]);
    assert_names(
        &out,
        "conductor-config/shop.yaml:19: notifications[0].url:",
        &[
            "a webhook URL is a secret and must not be committed to Git",
            "urlFrom: {env: VARIABLE}",
        ],
    );
    assert!(!out.contains("s3cr3t"), "{out}");
}

#[test]
fn a_compare_url_without_both_revisions_names_the_field() {
    let repo = TestRepo::new();
    repo.write(
        CONFIG,
        &SERVICE.replace(
            "chart: charts/shop\n",
            "chart: charts/shop\ncompareUrl: https://git.example.com/acme/shop/commit/{to}\n",
        ),
    );
    let out = plan_fails(&repo, &[]);
    assert_names(
        &out,
        "conductor-config/shop.yaml:3: compareUrl:",
        &["is not an http(s) URL with {from} and {to} in it"],
    );
}
