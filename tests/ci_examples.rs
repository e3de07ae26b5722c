//! The CI examples under `examples/ci/` hold real command lines: each one
//! must parse with the real CLI, name a service and environment this
//! repository configures, and map exit code 3 (refused or superseded) the
//! way the example says, so the examples cannot rot.

use std::path::Path;

use clap::Parser;
use conductor::cli::{Cli, Command};
use conductor::deploy::Exit;
use serde_yaml::Value;

fn example(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/ci")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every string under `key`, anywhere in the document (a `run:` block, a
/// `script:` list).
fn scripts(value: &Value, key: &str, found: &mut Vec<String>) {
    match value {
        Value::Mapping(map) => {
            for (k, v) in map {
                if k.as_str() == Some(key) {
                    match v {
                        Value::String(s) => found.push(s.clone()),
                        Value::Sequence(items) => {
                            found.extend(items.iter().filter_map(|i| i.as_str().map(str::to_owned)))
                        }
                        _ => {}
                    }
                }
                scripts(v, key, found);
            }
        }
        Value::Sequence(items) => items.iter().for_each(|i| scripts(i, key, found)),
        _ => {}
    }
}

/// A shell word list with the CI's variables given example values:
/// `${GITHUB_SHA::7}` and `$CI_COMMIT_SHORT_SHA` are short shas, any
/// other variable some text.
fn words(line: &str) -> Vec<String> {
    let mut expanded = String::new();
    let mut rest = line;
    while let Some(at) = rest.find('$') {
        expanded.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, tail) = match after.strip_prefix('{') {
            Some(braced) => {
                let end = braced.find('}').expect("a closing brace");
                (&braced[..end], &braced[end + 1..])
            }
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        expanded.push_str(if name.contains("SHA") {
            "abc1234"
        } else {
            "value"
        });
        rest = tail;
    }
    expanded.push_str(rest);
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in expanded.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn check_commands(file: &str, key: &str) -> Vec<String> {
    let document = example(file);
    let mut found = Vec::new();
    scripts(&document, key, &mut found);
    let commands: Vec<String> = found
        .iter()
        .flat_map(|s| s.lines())
        .map(str::trim)
        .filter(|l| l.starts_with("conductor "))
        .map(str::to_owned)
        .collect();
    assert!(!commands.is_empty(), "{file}: no conductor command found");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for command in &commands {
        let cli = Cli::try_parse_from(words(command))
            .unwrap_or_else(|e| panic!("{file}: `{command}` does not parse:\n{e}"));
        let Command::Deploy(args) = cli.command else {
            panic!("{file}: `{command}` is not a deploy");
        };
        let service = conductor::config::load_service(repo, args.service())
            .unwrap_or_else(|e| panic!("{file}: `{command}`: {e}"));
        assert!(
            service.environments.contains_key(args.environment()),
            "{file}: `{command}`: no environment {} in {}",
            args.environment(),
            service.name
        );
    }
    found
}

#[test]
fn the_github_actions_example_parses_and_passes_a_superseded_deploy() {
    let scripts = check_commands("github-actions.yaml", "run");
    let refused = Exit::Refused.code();
    assert!(
        scripts
            .iter()
            .any(|s| s.contains(&format!("\"$code\" -eq {refused}")) && s.contains("exit 0")),
        "exit {refused} passes with a notice"
    );
}

#[test]
fn the_gitlab_example_parses_and_allows_a_superseded_deploy() {
    check_commands("gitlab-ci.yml", "script");
    let document = example("gitlab-ci.yml");
    let allowed = &document["deploy-production"]["allow_failure"]["exit_codes"];
    assert_eq!(
        allowed
            .as_sequence()
            .map(|codes| codes.iter().filter_map(Value::as_u64).collect::<Vec<_>>()),
        Some(vec![u64::from(Exit::Refused.code())])
    );
}

#[test]
fn a_mistyped_flag_in_an_example_would_be_caught() {
    let typo =
        "conductor deploy helpdesk --environment production --revision \"$CI_COMMIT_SHORT_SHA\"";
    assert!(Cli::try_parse_from(words(typo)).is_err());
    assert_eq!(
        words("conductor deploy x --revision \"${GITHUB_SHA::7}\" --by \"$A/$B\""),
        [
            "conductor",
            "deploy",
            "x",
            "--revision",
            "abc1234",
            "--by",
            "value/value"
        ]
    );
}
