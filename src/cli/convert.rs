//! `conductor convert`: reads Argo Rollouts manifests (files, folders,
//! or stdin), writes Conductor's, and lists on stderr every field that did
//! not carry over, by file, document and path. Exit status 0 when
//! everything carried over, 1 when something did not, 2 when the input
//! could not be read.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Deserialize;
use serde_json::Value;

use crate::convert::{Converted, convert};
use crate::crd::schema::SchemaSet;

#[derive(Debug, clap::Args)]
#[command(after_help = "Comments are not kept: the output is the documents as YAML.")]
pub struct Args {
    /// Files or folders of YAML (`-` or nothing: stdin).
    paths: Vec<PathBuf>,
    /// Write each input file's converted documents under this folder, at
    /// the same relative path, instead of to stdout.
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: document {index} is not YAML: {source}")]
    Yaml {
        path: String,
        index: usize,
        source: serde_yaml::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// One input: where it came from (for messages and `--out-dir`) and its text.
struct Input {
    shown: String,
    relative: PathBuf,
    text: String,
}

pub fn run(args: Args) -> Result<ExitCode, String> {
    match convert_all(&args, &mut std::io::stdout(), &mut std::io::stderr()) {
        Ok(true) => Ok(ExitCode::SUCCESS),
        Ok(false) => Ok(ExitCode::from(1)),
        Err(error) => {
            eprintln!("error: {error}");
            Ok(ExitCode::from(2))
        }
    }
}

/// Converts every input; `Ok(true)` when every field carried over.
pub fn convert_all(
    args: &Args,
    out: &mut dyn Write,
    report: &mut dyn Write,
) -> Result<bool, ConvertError> {
    let schemas = SchemaSet::new();
    let mut clean = true;
    let mut converted_count = 0;
    for input in inputs(&args.paths)? {
        let mut documents = Vec::new();
        for (index, document) in serde_yaml::Deserializer::from_str(&input.text).enumerate() {
            let value = Value::deserialize(document).map_err(|source| ConvertError::Yaml {
                path: input.shown.clone(),
                index: index + 1,
                source,
            })?;
            if value.is_null() {
                continue;
            }
            let converted = convert(value, &schemas);
            clean &= report_problems(&input.shown, index + 1, &converted, report);
            converted_count += 1;
            documents.push(converted.document);
        }
        let yaml = documents
            .iter()
            .map(|d| serde_yaml::to_string(d).map(|y| format!("---\n{y}")))
            .collect::<Result<String, _>>()
            .map_err(|source| ConvertError::Yaml {
                path: input.shown.clone(),
                index: 0,
                source,
            })?;
        match &args.out_dir {
            Some(dir) => {
                let path = dir.join(&input.relative);
                let write = |path: &Path| -> std::io::Result<()> {
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::write(path, &yaml)
                };
                write(&path).map_err(|source| ConvertError::Write {
                    path: path.display().to_string(),
                    source,
                })?;
            }
            None => out
                .write_all(yaml.as_bytes())
                .map_err(|source| ConvertError::Write {
                    path: "stdout".into(),
                    source,
                })?,
        }
    }
    let verdict = if clean {
        format!("converted {converted_count} document(s); every field carried over")
    } else {
        format!(
            "converted {converted_count} document(s); the fields above did not carry over: fix or remove them before applying"
        )
    };
    let _ = writeln!(report, "{verdict}");
    Ok(clean)
}

/// Writes each problem of a document; true when it had none.
fn report_problems(
    path: &str,
    index: usize,
    converted: &Converted,
    report: &mut dyn Write,
) -> bool {
    for problem in &converted.problems {
        let _ = writeln!(
            report,
            "{path}: document {index} ({}): {problem}",
            converted.what
        );
    }
    converted.problems.is_empty()
}

fn inputs(paths: &[PathBuf]) -> Result<Vec<Input>, ConvertError> {
    if paths.is_empty() || paths.iter().any(|p| p.as_os_str() == "-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| ConvertError::Read {
                path: "stdin".into(),
                source,
            })?;
        return Ok(vec![Input {
            shown: "stdin".into(),
            relative: PathBuf::from("stdin.yaml"),
            text,
        }]);
    }
    let mut found = Vec::new();
    for path in paths {
        collect(path, path, &mut found)?;
    }
    Ok(found)
}

fn collect(root: &Path, path: &Path, found: &mut Vec<Input>) -> Result<(), ConvertError> {
    let read_error = |source| ConvertError::Read {
        path: path.display().to_string(),
        source,
    };
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(read_error)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            let yaml = entry.extension().is_some_and(|e| e == "yaml" || e == "yml");
            if entry.is_dir() || yaml {
                collect(root, &entry, found)?;
            }
        }
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let relative = if root == path {
        PathBuf::from(path.file_name().unwrap_or(path.as_os_str()))
    } else {
        path.strip_prefix(root).unwrap_or(path).to_path_buf()
    };
    found.push(Input {
        shown: path.display().to_string(),
        relative,
        text,
    });
    Ok(())
}
