//! How a command prints a report: text of its own, or YAML or JSON.

use clap::ValueEnum;

/// The `--output` a report is printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Yaml,
    Json,
}

/// Serialises a report as the user asked; `text` is the caller's own.
pub(super) fn serialize<T: serde::Serialize>(value: &T, output: Output) -> Result<String, String> {
    match output {
        Output::Text => Ok(String::new()),
        Output::Yaml => serde_yaml::to_string(value).map_err(|e| e.to_string()),
        Output::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
    }
}
