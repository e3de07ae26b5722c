//! `conductor-config/<service>.yaml` through `config::parse_service`, as
//! `plan`, `validate` and `deploy` read it: never a panic, every problem
//! on a line of the file, and a service that parses keeps every promise
//! its checks make.
#![no_main]

use std::collections::HashSet;

use conductor::config::{self, ConfigError, check_dns_label};
use conductor::yaml_lines::LineIndex;
use conductor_fuzz::{assert_line_in, repository, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let repo = repository();
    let path = config::service_path(&repo, "helpdesk");
    match config::parse_service(&repo, &path, "helpdesk", text) {
        Ok(service) => {
            assert_eq!(service.name, "helpdesk");
            assert!(!service.environments.is_empty());
            for (name, env) in &service.environments {
                assert!(check_dns_label(name).is_ok(), "environment {name:?}");
                assert!(env.bake_ms >= 0, "bake {}", env.bake_ms);
                assert!(
                    !env.clusters.is_empty(),
                    "environment {name} has no cluster"
                );
                let mut seen = HashSet::new();
                for cluster in &env.clusters {
                    assert!(
                        seen.insert(&cluster.name),
                        "cluster {:?} twice",
                        cluster.name
                    );
                    assert!(check_dns_label(&cluster.name).is_ok());
                    assert!(check_dns_label(&cluster.namespace).is_ok());
                    assert!(cluster.wave >= 1);
                }
            }
        }
        Err(ConfigError::Invalid(problems)) => {
            assert!(!problems.is_empty());
            for problem in &problems {
                assert_line_in(text, problem.line, problem);
            }
        }
        Err(other) => panic!("parse_service gave a non-parse error: {other}"),
    }
    let index = LineIndex::build(text);
    assert_line_in(text, index.first_duplicate(), &"first duplicate key");
    for path in [
        "service",
        "environments.production.clusters[0].name",
        "a.b[3].c",
    ] {
        assert_line_in(text, index.line_of(path), &path);
    }
});
