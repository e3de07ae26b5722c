//! Inputs the fuzz targets under `fuzz/` found bugs with, each fed through
//! the function its target calls, so each bug stays fixed. A test names
//! its target; the README's "Fuzzing" section says how to run them.

use std::path::Path;
use std::time::Duration;

use conductor::analysis::providers::fuzzing::datadog_rate_limit_wait;
use conductor::config::{self, ConfigError, values};
use conductor::gitops::ledger::{self, LedgerError};
use conductor::yaml_lines::LineIndex;

/// `service_config`: serde_yaml finds a missing field or a key cut short
/// at the end of the input, and reported the line after the last one.
#[test]
fn a_service_config_problem_at_the_end_names_a_line_the_file_has() {
    let repo = Path::new("/nonexistent");
    let path = config::service_path(repo, "helpdesk");
    for (text, line) in [
        ("#", 1),
        (
            "service: helpdesk\nchart: charts/helpdesk\n# comment\nun",
            4,
        ),
    ] {
        let Err(ConfigError::Invalid(problems)) =
            config::parse_service(repo, &path, "helpdesk", text)
        else {
            panic!("{text:?} parsed");
        };
        assert_eq!(problems[0].line, Some(line), "{text:?}: {}", problems[0]);
    }
}

/// `ledger_record`: the same for a ledger file.
#[test]
fn a_ledger_problem_at_the_end_names_a_line_the_file_has() {
    let error = ledger::parse_cluster("shop/production/eu-west-1.yaml", "applied:\nn")
        .expect_err("not a record");
    let LedgerError::Parse { line, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(*line, Some(2), "{error}");
}

/// Values files were already held to their last line with content; the
/// three readers now share that rule.
#[test]
fn a_values_problem_at_the_end_names_a_line_the_file_has() {
    let problem = values::parse(Path::new("v.yaml"), Path::new("v.yaml"), "a: [1,\n\n\n")
        .expect_err("an unclosed list");
    assert_eq!(problem.line, Some(1), "{problem}");
}

/// `service_config` and `values_merge`: an empty key or value at the end
/// of the input is placed where the stream ends, and the line index gave
/// that line (past the last) to duplicate keys and to `plan --explain`.
#[test]
fn the_line_index_never_points_past_the_last_line() {
    let index = LineIndex::build("?\n?\n#");
    assert_eq!(index.first_duplicate(), Some(3));
    let text = "? .:\n? ";
    let layer = values::parse(Path::new("v.yaml"), Path::new("v.yaml"), text).expect("a map");
    let merged = values::merge(std::slice::from_ref(&layer));
    let explained = values::explain(&[layer], &merged);
    let lines: Vec<usize> = explained.iter().filter_map(|p| p.line).collect();
    assert!(
        !lines.is_empty() && lines.iter().all(|l| *l <= 2),
        "{explained:?}"
    );
}

/// `datadog_answer`: a 429 whose `x-ratelimit-reset` said `NaN` (a number
/// to Rust's parser) panicked the measurement: NaN seconds is no Duration.
#[test]
fn a_datadog_reset_of_nan_waits_as_for_an_unreadable_one() {
    assert_eq!(
        datadog_rate_limit_wait(Some("  NaN")),
        Duration::from_secs(1)
    );
    assert_eq!(
        datadog_rate_limit_wait(Some("nonsense")),
        Duration::from_secs(1)
    );
    assert_eq!(
        datadog_rate_limit_wait(Some("inf")),
        Duration::from_secs(60)
    );
    assert_eq!(datadog_rate_limit_wait(Some("-3")), Duration::ZERO);
}
