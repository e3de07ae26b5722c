//! The committed CRDs match the Rust types, and manifests are checked
//! against them as the API server would.

use std::path::Path;

use conductor::crd::schema::SchemaSet;
use conductor::crd::{self, AnalysisTemplate, Rollout};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// `crds/` for kubectl users and the operator chart's own copy, which
/// helm installs before the chart's templates.
#[test]
fn committed_crds_are_up_to_date() {
    for folder in ["crds", "charts/conductor/crds"] {
        let dir = repo().join(folder);
        let generated = crd::all();
        for crd in &generated {
            let path = dir.join(crd::file_name(crd));
            let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "{} missing ({e}); run `conductor crds --out-dir {folder}`",
                    path.display()
                )
            });
            assert!(
                committed == crd::to_yaml(crd).unwrap(),
                "{} is stale; run `cargo run -- crds --out-dir {folder}` and commit it",
                path.display()
            );
        }
        let files = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(
            files,
            generated.len(),
            "{folder}/ holds files no CRD generates"
        );
    }
}

#[test]
fn rollout_crd_serves_status_scale_and_printer_columns() {
    let rollout = crd::all().remove(0);
    assert_eq!(rollout.spec.group, "conductor.dev");
    assert_eq!(rollout.spec.names.short_names, Some(vec!["ro".to_owned()]));
    let version = &rollout.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    let scale = version
        .subresources
        .as_ref()
        .unwrap()
        .scale
        .as_ref()
        .unwrap();
    assert_eq!(scale.spec_replicas_path, ".spec.replicas");
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.selector")
    );
    let columns: Vec<&str> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        columns,
        [
            "Desired", "Phase", "Step", "Weight", "Stable", "Canary", "Age"
        ]
    );
}

#[test]
fn example_manifests_validate_against_the_generated_schemas() {
    let schemas = SchemaSet::new();
    for example in [
        "examples/canary-rollout.yaml",
        "examples/bluegreen-rollout.yaml",
        "examples/error-rate-analysistemplate.yaml",
    ] {
        let manifest = load(example);
        let problems = schemas.check(&manifest).expect("a Conductor kind");
        assert!(problems.is_empty(), "{example}: {problems:?}");
    }
    // The typed API reads them too.
    let rollout: Rollout = serde_json::from_value(load("examples/canary-rollout.yaml")).unwrap();
    assert_eq!(rollout.spec.strategy.canary.unwrap().steps.len(), 6);
    let template: AnalysisTemplate =
        serde_json::from_value(load("examples/error-rate-analysistemplate.yaml")).unwrap();
    assert_eq!(template.spec.metrics.len(), 2);
}

#[test]
fn invalid_rollout_is_rejected_with_each_field_named() {
    let schemas = SchemaSet::new();
    let problems = schemas
        .check(&load("tests/fixtures/invalid-rollout.yaml"))
        .expect("a Conductor kind");
    let found = |field: &str, text: &str| {
        problems
            .iter()
            .any(|p| p.field == field && p.message.contains(text))
    };
    assert!(
        found(
            "spec.strategy.canary.steps[0]",
            "unknown field `setWieght`; did you mean `setWeight`?"
        ),
        "{problems:#?}"
    );
    assert!(
        found("spec.strategy.canary.steps[1].setWeight", "\"fifty\""),
        "{problems:#?}"
    );
    assert!(
        found("spec.strategy.canary.steps[2].analysis", "templates"),
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 3, "{problems:#?}");
}

#[test]
fn objects_of_other_kinds_are_not_checked() {
    let schemas = SchemaSet::new();
    let service = serde_json::json!({"apiVersion": "v1", "kind": "Service", "spec": {"bogus": 1}});
    assert!(schemas.check(&service).is_none());
}
