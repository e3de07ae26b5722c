use super::*;

const SHA: &str = "3f2a9c1d5e6f708192a3b4c5d6e7f8091a2b3c4d";
const OLD: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
const PATH: &str = "shop/production/eu-west-1.yaml";

fn record() -> ClusterRecord {
    ClusterRecord {
        revision: SHA.to_owned(),
        label: "v1.4.0".to_owned(),
        state: ClusterState::Deploying,
        previous_revision: Some(OLD.to_owned()),
        previous_label: Some("v1.3.2".to_owned()),
        generation: 7,
        applied: Applied {
            digest: digest("kind: Rollout\n"),
            objects: vec![ObjectRef {
                api_version: "conductor.dev/v1alpha1".to_owned(),
                kind: "Rollout".to_owned(),
                namespace: Some("shop".to_owned()),
                name: "web".to_owned(),
            }],
        },
        updated_at: "2026-11-30T08:00:00Z".to_owned(),
        by: "ci@example.com".to_owned(),
        message: None,
        rollback: false,
    }
}

fn parse_error(text: &str) -> String {
    match parse_cluster(PATH, text) {
        Ok(record) => panic!("parsed {record:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn cluster_record_round_trips_with_camel_case_keys() {
    let text = to_yaml(&record()).unwrap();
    assert!(text.contains("previousRevision: "), "{text}");
    assert!(
        text.contains("apiVersion: conductor.dev/v1alpha1"),
        "{text}"
    );
    assert!(
        !text.contains("rollback"),
        "false rollback is left out: {text}"
    );
    assert!(!text.contains("message"), "no message is left out: {text}");
    assert_eq!(parse_cluster(PATH, &text).unwrap(), record());
}

#[test]
fn environment_record_round_trips() {
    let env = EnvironmentRecord {
        revision: SHA.to_owned(),
        label: "v1.4.0".to_owned(),
        generation: 3,
        updated_at: "2026-11-30T08:00:00+01:00".to_owned(),
        by: "ci".to_owned(),
        rollback: true,
    };
    let text = to_yaml(&env).unwrap();
    assert!(text.contains("rollback: true"), "{text}");
    let path = environment_path("shop", "production");
    assert_eq!(parse_environment(&path, &text).unwrap(), env);
    assert_eq!(
        parse_record(&path, &text).unwrap(),
        Record::Environment(env)
    );
}

#[test]
fn paths() {
    assert_eq!(cluster_path("shop", "production", "eu-west-1"), PATH);
    assert_eq!(
        environment_path("shop", "production"),
        "shop/production/_environment.yaml"
    );
}

#[test]
fn unknown_state_names_file_line_and_field() {
    let text = to_yaml(&record()).unwrap().replace("Deploying", "Helthy");
    let line = text.lines().position(|l| l.starts_with("state:")).unwrap() + 1;
    let message = parse_error(&text);
    assert!(
        message.starts_with(&format!("{PATH}:{line}: state: unknown variant `Helthy`")),
        "{message}"
    );
    assert!(!message.contains(" column "), "{message}");
}

#[test]
fn unknown_field_is_named() {
    let text = format!("{}colour: blue\n", to_yaml(&record()).unwrap());
    let message = parse_error(&text);
    assert!(message.starts_with(PATH), "{message}");
    assert!(message.contains("unknown field `colour`"), "{message}");
}

#[test]
fn short_revision_names_line_and_field() {
    let text = to_yaml(&record()).unwrap().replace(SHA, "3f2a9c1");
    let message = parse_error(&text);
    assert!(
        message.starts_with(&format!(
            "{PATH}:1: revision: `3f2a9c1` is not a full commit sha"
        )),
        "{message}"
    );
}

#[test]
fn bad_time_and_digest_are_named() {
    let text = to_yaml(&record())
        .unwrap()
        .replace("2026-11-30T08:00:00Z", "yesterday");
    assert!(parse_error(&text).contains("updatedAt: `yesterday`"));
    let bad = digest("x").replace("sha256:", "md5:");
    let text = to_yaml(&record())
        .unwrap()
        .replace(&digest("kind: Rollout\n"), &bad);
    let message = parse_error(&text);
    let line = text.lines().position(|l| l.contains("digest:")).unwrap() + 1;
    assert!(
        message.starts_with(&format!("{PATH}:{line}: applied.digest")),
        "{message}"
    );
}

#[test]
fn digest_is_sha256_hex() {
    assert_eq!(
        digest(""),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_ne!(digest("a"), digest("b"));
}

#[test]
fn object_ref_display() {
    let object = &record().applied.objects[0];
    assert_eq!(object.to_string(), "Rollout shop/web");
    let cluster_scoped = ObjectRef {
        namespace: None,
        kind: "Namespace".to_owned(),
        name: "shop".to_owned(),
        ..object.clone()
    };
    assert_eq!(cluster_scoped.to_string(), "Namespace shop");
}

#[test]
fn message_subject_says_where_and_what() {
    let text = describe(&record());
    let message = message("shop", "production", Some("eu-west-1"), &text);
    let mut lines = message.lines();
    assert_eq!(
        lines.next(),
        Some("shop/production/eu-west-1: Deploying 3f2a9c1 (was 1a2b3c4)")
    );
    assert_eq!(lines.next(), Some(""));
    assert_eq!(lines.next(), Some("by: ci@example.com"));
}

#[test]
fn long_subject_is_cut_to_72_and_kept_in_the_body() {
    let long = "x".repeat(100);
    let message = message("shop", "production", None, &long);
    let subject = message.lines().next().unwrap();
    assert_eq!(subject.chars().count(), 72);
    assert!(subject.ends_with('…'));
    assert!(message.contains(&format!("shop/production: {long}")));
}

#[test]
fn state_display_matches_serialized_form() {
    for state in [
        ClusterState::Deploying,
        ClusterState::Healthy,
        ClusterState::Failed,
        ClusterState::RolledBack,
        ClusterState::Interrupted,
    ] {
        assert_eq!(to_yaml(&state).unwrap().trim(), state.to_string());
    }
}

#[test]
fn missing_field_is_named() {
    let text: String = to_yaml(&record())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("by:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let message = parse_error(&text);
    assert!(message.starts_with(&format!("{PATH}:")), "{message}");
    assert!(message.contains("missing field `by`"), "{message}");
}

#[test]
fn not_yaml_names_the_line() {
    let message = parse_error("revision: [\n");
    assert!(message.starts_with(&format!("{PATH}:")), "{message}");
}
