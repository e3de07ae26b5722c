//! The demo's Git repositories, in a temporary folder: a source repository
//! holding this repository's service config and chart, with one commit
//! (and tag) per release, and a bare ledger repository the deploys record
//! into, exactly as a team's would be.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::DemoError;

pub struct Workspace {
    dir: Option<tempfile::TempDir>,
    kept: Option<PathBuf>,
    pub source: PathBuf,
    pub ledger: PathBuf,
    /// The chart's folder inside `source`.
    chart: PathBuf,
    environment: String,
}

/// One value a release sets in the chart, as `a.b.c` and its YAML text.
pub type Setting = (&'static str, String);

fn setup(what: &str) -> impl Fn(std::io::Error) -> DemoError + '_ {
    move |e| DemoError::Setup(format!("{what}: {e}"))
}

fn git(dir: &Path, args: &[&str]) -> Result<String, DemoError> {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=conductor demo",
            "-c",
            "user.email=demo@conductor.invalid",
        ])
        .args(args)
        .output()
        .map_err(setup("git"))?;
    if !out.status.success() {
        return Err(DemoError::Setup(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), DemoError> {
    std::fs::create_dir_all(to).map_err(setup("copy"))?;
    for entry in std::fs::read_dir(from).map_err(setup("copy"))? {
        let entry = entry.map_err(setup("copy"))?;
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(setup("copy"))?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target).map_err(setup("copy"))?;
        }
    }
    Ok(())
}

/// `{"a": {"b": value}}` from `a.b` and a YAML value's text.
fn nested(settings: &[Setting]) -> Result<serde_yaml::Value, DemoError> {
    let mut root = serde_yaml::Mapping::new();
    for (path, text) in settings {
        let value: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| DemoError::Setup(format!("{path}: {e}")))?;
        let mut keys: Vec<&str> = path.split('.').collect();
        let last = keys.pop().unwrap_or_default();
        let mut node = &mut root;
        for key in keys {
            let entry = node
                .entry(key.into())
                .or_insert_with(|| serde_yaml::Value::Mapping(Default::default()));
            let serde_yaml::Value::Mapping(next) = entry else {
                return Err(DemoError::Setup(format!("{path}: {key} is not a mapping")));
            };
            node = next;
        }
        node.insert(last.into(), value);
    }
    Ok(serde_yaml::Value::Mapping(root))
}

impl Workspace {
    /// The source repository with `service`'s config and chart from `repo`,
    /// recording into a ledger beside it; `per_cluster` values (analysis
    /// tuning) go into each cluster's values file. Nothing is committed yet.
    pub fn create(
        repo: &Path,
        service: &str,
        environment: &str,
        per_cluster: &[(String, Vec<Setting>)],
    ) -> Result<Self, DemoError> {
        let dir = tempfile::Builder::new()
            .prefix("conductor-demo-")
            .tempdir()
            .map_err(setup("temporary folder"))?;
        let source = dir.path().join("source");
        let ledger = dir.path().join("ledger.git");
        let config = format!("conductor-config/{service}.yaml");
        let text = std::fs::read_to_string(repo.join(&config)).map_err(setup(&config))?;
        let mut parsed: serde_yaml::Value =
            serde_yaml::from_str(&text).map_err(|e| DemoError::Setup(format!("{config}: {e}")))?;
        let chart = parsed["chart"]
            .as_str()
            .filter(|c| Path::new(c).is_relative())
            .ok_or_else(|| DemoError::Setup(format!("{config}: no chart inside the repository")))?
            .to_owned();
        parsed["ledger"] = serde_yaml::to_value(serde_yaml::Mapping::from_iter([(
            "repository".into(),
            ledger.display().to_string().into(),
        )]))
        .map_err(|e| DemoError::Setup(e.to_string()))?;
        std::fs::create_dir_all(source.join("conductor-config")).map_err(setup("source"))?;
        let written =
            serde_yaml::to_string(&parsed).map_err(|e| DemoError::Setup(e.to_string()))?;
        std::fs::write(source.join(&config), written).map_err(setup(&config))?;
        copy_tree(&repo.join(&chart), &source.join(&chart))?;
        for (cluster, settings) in per_cluster {
            if settings.is_empty() {
                continue;
            }
            let path = source
                .join(&chart)
                .join(format!("values/{environment}/{cluster}.yaml"));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(setup("values"))?;
            }
            let text = serde_yaml::to_string(&nested(settings)?)
                .map_err(|e| DemoError::Setup(e.to_string()))?;
            std::fs::write(&path, text).map_err(setup("values"))?;
        }
        // The repository's own tools (helm), where a deploy looks for them.
        let tools = repo.join(".tools");
        if tools.is_dir() {
            let absolute = tools.canonicalize().map_err(setup(".tools"))?;
            std::os::unix::fs::symlink(absolute, source.join(".tools")).map_err(setup(".tools"))?;
            std::fs::write(source.join(".gitignore"), ".tools\n").map_err(setup(".gitignore"))?;
        }
        git(dir.path(), &["init", "--quiet", "--bare", "ledger.git"])?;
        git(&source, &["init", "--quiet", "-b", "main"])?;
        Ok(Self {
            dir: Some(dir),
            kept: None,
            chart: source.join(&chart),
            environment: environment.to_owned(),
            source,
            ledger,
        })
    }

    /// Commits a release: `settings` go into the environment's values file
    /// (in this workspace, never the repository it was copied from); the
    /// commit is tagged `label`, which is what the deploy is given.
    pub fn release(
        &self,
        label: &str,
        subject: &str,
        settings: &[Setting],
    ) -> Result<(), DemoError> {
        if !settings.is_empty() {
            let path = self.chart.join(format!("values/{}.yaml", self.environment));
            let mut text = std::fs::read_to_string(&path).map_err(setup("values"))?;
            let mut values: serde_yaml::Value = serde_yaml::from_str(&text)
                .map_err(|e| DemoError::Setup(format!("{}: {e}", path.display())))?;
            merge(&mut values, nested(settings)?);
            text = serde_yaml::to_string(&values).map_err(|e| DemoError::Setup(e.to_string()))?;
            std::fs::write(&path, text).map_err(setup("values"))?;
        }
        std::fs::write(self.source.join("RELEASE"), format!("{label}\n"))
            .map_err(setup("release"))?;
        git(&self.source, &["add", "."])?;
        git(&self.source, &["commit", "--quiet", "-m", subject])?;
        git(&self.source, &["tag", label])?;
        Ok(())
    }

    /// The ledger branch's commits, oldest first: `<sha> <subject>`.
    pub fn ledger_log(&self) -> Vec<String> {
        git(
            &self.ledger,
            &["log", "--reverse", "--format=%h %s", "conductor/ledger"],
        )
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
    }

    /// Keeps the folder after the demo; returns where it is.
    pub fn keep(&mut self) -> PathBuf {
        if let Some(dir) = self.dir.take() {
            self.kept = Some(dir.keep());
        }
        self.kept.clone().unwrap_or_default()
    }
}

fn merge(into: &mut serde_yaml::Value, from: serde_yaml::Value) {
    match (into, from) {
        (serde_yaml::Value::Mapping(into), serde_yaml::Value::Mapping(from)) => {
            for (key, value) in from {
                match into.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        into.insert(key, value);
                    }
                }
            }
        }
        (into, from) => *into = from,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_settings_nest_and_merge_over_values() {
        let mut values: serde_yaml::Value =
            serde_yaml::from_str("replicas: 4\nanalysis:\n  interval: 2s\n  count: 3\n").unwrap();
        merge(
            &mut values,
            nested(&[
                ("analysis.interval", "10s".into()),
                ("faults.errorRate", "0.3".into()),
            ])
            .unwrap(),
        );
        assert_eq!(
            values,
            serde_yaml::from_str::<serde_yaml::Value>(
                "replicas: 4\nanalysis:\n  interval: 10s\n  count: 3\nfaults:\n  errorRate: 0.3\n"
            )
            .unwrap()
        );
    }
}
