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
            "spec.strategy.canary.steps[0].setWieght",
            "not supported by Conductor; did you mean `setWeight`?"
        ),
        "{problems:#?}"
    );
    assert!(
        found("spec.strategy.canary.steps[1].setWeight", "\"fifty\""),
        "{problems:#?}"
    );
    // An analysis naming no template (neither `templates` nor Argo's
    // older `templateName`) passes the schema: the engine reports it.
    assert_eq!(problems.len(), 2, "{problems:#?}");
    let spec: conductor::crd::rollout::RolloutSpec = serde_json::from_value(serde_json::json!({
        "replicas": 1,
        "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}},
        "strategy": {"canary": {"steps": [{"analysis": {"args": []}}]}}
    }))
    .unwrap();
    let Err(problem) = conductor::engine::Settings::from_spec(&spec, None) else {
        panic!("an analysis naming no template was accepted");
    };
    assert!(
        problem
            .to_string()
            .starts_with("spec.strategy.canary.steps[0].analysis.templates"),
        "{problem}"
    );
}

#[test]
fn objects_of_other_kinds_are_not_checked() {
    let schemas = SchemaSet::new();
    let service = serde_json::json!({"apiVersion": "v1", "kind": "Service", "spec": {"bogus": 1}});
    assert!(schemas.check(&service).is_none());
}

/// Closed sets are `enum`s in the schema, so the API server (and
/// `conductor validate`) rejects a misspelt value instead of storing it.
#[test]
fn closed_sets_are_published_as_enums() {
    let yaml = |name: &str| std::fs::read_to_string(repo().join("crds").join(name)).unwrap();
    let rollouts = yaml("rollouts.conductor.dev.yaml");
    for values in [
        "- Healthy\n                - Progressing\n                - Paused\n                - Degraded",
        "- never\n                    - onsuccess\n                    - progressively",
        "- CanaryPauseStep\n                      - BlueGreenPause",
    ] {
        assert!(
            rollouts.contains(values),
            "rollouts CRD lacks enum {values}"
        );
    }
    let runs = yaml("analysisruns.conductor.dev.yaml");
    for values in [
        "- Pending\n",
        "- GET\n",
        "- v2\n",
        "- mean\n",
        "- inconclusive\n",
    ] {
        assert!(
            runs.contains(values),
            "analysisruns CRD lacks enum value {values}"
        );
    }

    let schemas = SchemaSet::new();
    let mut rollout = load("examples/canary-rollout.yaml");
    rollout["spec"]["workloadRef"] = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "scaleDown": "sometimes"
    });
    rollout["status"] = serde_json::json!({"phase": "Healthyish"});
    let problems = schemas.check(&rollout).expect("a Conductor kind");
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert!(
        fields.contains(&"spec.workloadRef.scaleDown") && fields.contains(&"status.phase"),
        "{problems:#?}"
    );
    // The typed API reads the same values as before.
    let typed: Rollout = serde_json::from_value(serde_json::json!({
        "apiVersion": "conductor.dev/v1alpha1", "kind": "Rollout", "metadata": {"name": "r"},
        "spec": {"strategy": {}, "workloadRef": {
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "scaleDown": "onsuccess"}},
        "status": {"phase": "Paused", "pauseConditions": [
            {"reason": "InconclusiveAnalysis", "startTime": "2026-11-24T10:00:00Z"}]}
    }))
    .unwrap();
    let status = typed.status.unwrap();
    assert_eq!(status.phase.map(|p| p.as_str()), Some("Paused"));
    assert_eq!(
        status.pause_conditions[0].reason.to_string(),
        "InconclusiveAnalysis"
    );
}
