//! `conductor validate`: every problem in the repository, for PR CI.

use std::path::Path;
use std::process::ExitCode;

use crate::validate;

pub async fn run(repo: &Path) -> Result<ExitCode, String> {
    let report = validate::validate(repo).await;
    for line in &report.checked {
        println!("checked {line}");
    }
    if report.problems.is_empty() {
        println!("valid: no problems");
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &report.problems {
        println!("{problem}");
    }
    println!("{} problem(s)", report.problems.len());
    Ok(ExitCode::FAILURE)
}
