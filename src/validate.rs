//! `conductor validate`: every service, environment, cluster, values file
//! and chart render of a repository, with every problem listed.

use std::path::Path;

use crate::config::{self, Service};
use crate::crd::schema::SchemaSet;
use crate::diagnostic::{Diagnostic, nearest};
use crate::plan::check_objects;
use crate::render::{self, Helm};

#[derive(Debug, Default)]
pub struct ValidationReport {
    /// `service: N environments, M clusters rendered` per valid service.
    pub checked: Vec<String>,
    pub problems: Vec<String>,
}

pub async fn validate(repo: &Path) -> ValidationReport {
    let mut report = ValidationReport::default();
    let names = match config::service_names(repo) {
        Ok(names) if names.is_empty() => {
            report.problems.push(format!(
                "{}: no service files (<service>.yaml) found",
                config::CONFIG_DIR
            ));
            return report;
        }
        Ok(names) => names,
        Err(e) => {
            report.problems.push(e.to_string());
            return report;
        }
    };
    let mut services = Vec::new();
    for name in &names {
        match config::load_service(repo, name) {
            Ok(service) => {
                report.problems.extend(
                    stray_values_files(repo, &service)
                        .iter()
                        .map(ToString::to_string),
                );
                services.push(service);
            }
            Err(e) => report.problems.extend(e.diagnostics()),
        }
    }
    let helm = match Helm::locate(repo).await {
        Ok(helm) => helm,
        Err(e) => {
            report.problems.push(e.to_string());
            return report;
        }
    };
    let schemas = SchemaSet::new();
    for service in &services {
        let mut rendered_count = 0;
        for environment in service.environments.values() {
            let results = render::render_clusters(
                &helm,
                repo,
                service,
                &environment.name,
                &environment.clusters,
                None,
            )
            .await;
            for result in results {
                match result {
                    Ok(rendered) => {
                        rendered_count += 1;
                        report.problems.extend(
                            check_objects(repo, service, &schemas, &rendered)
                                .iter()
                                .map(ToString::to_string),
                        );
                    }
                    Err(e) => report.problems.push(e.to_string()),
                }
            }
        }
        report.checked.push(format!(
            "{}: {} environment(s), {rendered_count} cluster(s) rendered",
            service.name,
            service.environments.len()
        ));
    }
    crate::diagnostic::dedup(&mut report.problems);
    report
}

/// Values files named after an environment or cluster the config does not
/// declare: helm would never read them, so a typo in a file name silently
/// drops the override.
fn stray_values_files(repo: &Path, service: &Service) -> Vec<Diagnostic> {
    let values_dir = service.chart.join("values");
    let Ok(entries) = std::fs::read_dir(&values_dir) else {
        return Vec::new();
    };
    let environments: Vec<&str> = service.environments.keys().map(String::as_str).collect();
    let mut problems = Vec::new();
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let shown = path.strip_prefix(repo).unwrap_or(&path).to_path_buf();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let is_yaml = path.extension().is_some_and(|e| e == "yaml");
        if path.is_dir() || is_yaml {
            match service.environments.get(stem) {
                None => problems.push(unknown(&shown, "environment", stem, &environments)),
                Some(environment) if path.is_dir() => {
                    let clusters: Vec<&str> = environment
                        .clusters
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect();
                    let Ok(files) = std::fs::read_dir(&path) else {
                        continue;
                    };
                    let mut files: Vec<_> = files.flatten().map(|e| e.path()).collect();
                    files.sort();
                    for file in files {
                        let cluster = file
                            .file_stem()
                            .and_then(|s| s.to_str())
                            .unwrap_or_default();
                        if file.extension().is_some_and(|e| e == "yaml")
                            && !clusters.contains(&cluster)
                        {
                            let shown = file.strip_prefix(repo).unwrap_or(&file);
                            problems.push(unknown(shown, "cluster", cluster, &clusters));
                        }
                    }
                }
                Some(_) => {}
            }
        }
    }
    problems
}

fn unknown(file: &Path, what: &str, name: &str, known: &[&str]) -> Diagnostic {
    let hint = nearest(name, known.iter().copied())
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default();
    Diagnostic::new(
        file,
        format!(
            "values for unknown {what} `{name}` are never used{hint} (known: {})",
            known.join(", ")
        ),
    )
}
