//! `conductor convert` as a migrating user runs it: on Argo Rollouts
//! manifests as Argo's docs write them (the corpus of tests/fixtures/argo/
//! with Argo's apiVersion back), from folders, files and stdin.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const ARGO: &str = "argoproj.io/v1alpha1";
const CONDUCTOR: &str = "conductor.dev/v1alpha1";

fn conductor(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_conductor"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("conductor runs");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .expect("write stdin");
    drop(input);
    child.wait_with_output().expect("conductor ends")
}

/// The corpus as Argo users hold it, in `dir`; returns each file's
/// expected unsupported fields.
fn argo_corpus(dir: &Path) -> Vec<(String, Vec<String>)> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/argo");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&corpus).expect("corpus") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let expected = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect-unsupported:"))
            .map(|f| f.trim().to_owned())
            .collect();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        std::fs::write(dir.join(&name), text.replace(CONDUCTOR, ARGO)).expect("write");
        files.push((name, expected));
    }
    files.sort();
    files
}

#[test]
fn a_folder_of_argo_manifests_converts_and_names_every_field_left_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let files = argo_corpus(dir.path());
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let out_arg = out.path().to_string_lossy().into_owned();
    let run = conductor(&["convert", &dir_arg, "--out-dir", &out_arg], None);
    let report = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{report}");
    for (name, expected) in &files {
        for field in expected {
            assert!(
                report
                    .lines()
                    .any(|l| l.contains(name.as_str()) && l.contains(&format!("): {field}:"))),
                "{name}: {field} not reported in:\n{report}"
            );
        }
        let written = std::fs::read_to_string(out.path().join(name)).expect("converted file");
        assert!(
            !written.contains(ARGO),
            "{name} still says {ARGO}:\n{written}"
        );
        assert!(written.contains(CONDUCTOR), "{written}");
    }
    assert!(report.contains("did not carry over"), "{report}");
}

#[test]
fn a_manifest_that_carries_over_converts_cleanly_from_stdin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = argo_corpus(dir.path());
    let (clean, _) = files
        .iter()
        .find(|(name, expected)| {
            // Nothing unsupported, and nothing else wrong with it either.
            let header = std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
            name.starts_with("rollout-") && expected.is_empty() && !header.contains("# expect-")
        })
        .expect("a rollout the corpus accepts");
    let text = std::fs::read_to_string(dir.path().join(clean)).expect("read");
    let service = "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 80}]\n";
    let run = conductor(&["convert"], Some(&format!("{text}{service}")));
    let out = String::from_utf8_lossy(&run.stdout);
    let report = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{report}");
    assert!(report.contains("every field carried over"), "{report}");
    let documents: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&out)
        .map(|d| serde::Deserialize::deserialize(d).expect("yaml"))
        .collect();
    assert_eq!(documents.len(), 2, "{out}");
    assert_eq!(documents[0]["apiVersion"], CONDUCTOR);
    assert_eq!(documents[1]["apiVersion"], "v1", "other kinds pass through");
}

#[test]
fn input_that_is_not_yaml_is_a_clear_error() {
    let run = conductor(&["convert"], Some("kind: [unclosed\n"));
    let report = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{report}");
    assert!(report.contains("stdin: document 1 is not YAML"), "{report}");
}
