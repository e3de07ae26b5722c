//! Values layering with Helm's semantics.
//!
//! A cluster's values are the chart's `values.yaml`, then `values/<env>.yaml`,
//! then `values/<env>/<cluster>.yaml` (each optional but the first), then the
//! revision override. Conductor computes the same tree Helm does so that
//! `plan --explain` can say which file set each key; a differential test
//! holds this module to the real `helm template`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use super::yaml11::{self, key_string};
use crate::diagnostic::Diagnostic;
use crate::yaml_lines::{LineIndex, clamp_to_content};

/// One source of values, in priority order (later wins).
#[derive(Debug, Clone)]
pub struct ValuesLayer {
    /// What to call this layer in output: a file path, or `--revision`.
    pub source: String,
    pub kind: LayerKind,
    pub values: Mapping,
    lines: LineIndex,
}

/// How a layer reaches helm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerKind {
    /// The chart's own `values.yaml`: helm reads it itself.
    Chart,
    /// Passed as `-f <file>`.
    File(PathBuf),
    /// Passed as `--set-string key=value`.
    SetString { key: String, value: String },
}

impl ValuesLayer {
    /// Line in this layer's file where `path` is set.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        self.lines.line_of(path)
    }

    /// An override for one dotted key, e.g. `image.tag` = the revision.
    pub fn set_string(source: &str, dotted_key: &str, value: &str) -> Self {
        let mut root = Value::String(value.to_owned());
        for part in dotted_key.rsplit('.') {
            let mut map = Mapping::new();
            map.insert(Value::String(part.to_owned()), root);
            root = Value::Mapping(map);
        }
        let Value::Mapping(values) = root else {
            unreachable!("the loop above always wraps the value in a mapping")
        };
        Self {
            source: source.to_owned(),
            kind: LayerKind::SetString {
                key: dotted_key.to_owned(),
                value: value.to_owned(),
            },
            values,
            lines: LineIndex::default(),
        }
    }
}

/// Paths of the values files for a cluster, in layering order, relative to
/// the chart folder: `values.yaml`, `values/<env>.yaml`, `values/<env>/<cluster>.yaml`.
pub fn layer_paths(chart: &Path, environment: &str, cluster: &str) -> [PathBuf; 3] {
    [
        chart.join("values.yaml"),
        chart.join("values").join(format!("{environment}.yaml")),
        chart
            .join("values")
            .join(environment)
            .join(format!("{cluster}.yaml")),
    ]
}

/// Reads the layers that exist for a cluster. The chart's `values.yaml` may
/// be absent too (an empty base), as Helm allows.
pub fn load_layers(
    repo: &Path,
    chart: &Path,
    environment: &str,
    cluster: &str,
) -> Result<Vec<ValuesLayer>, Vec<Diagnostic>> {
    let mut layers = Vec::new();
    let mut problems = Vec::new();
    for (i, path) in layer_paths(chart, environment, cluster)
        .into_iter()
        .enumerate()
    {
        if !path.exists() {
            continue;
        }
        match load_file(repo, &path) {
            Ok(mut layer) => {
                if i == 0 {
                    layer.kind = LayerKind::Chart;
                }
                layers.push(layer);
            }
            Err(d) => problems.push(d),
        }
    }
    if problems.is_empty() {
        Ok(layers)
    } else {
        Err(problems)
    }
}

/// Reads one values file; it must hold a map (or nothing).
pub fn load_file(repo: &Path, path: &Path) -> Result<ValuesLayer, Diagnostic> {
    let display = path.strip_prefix(repo).unwrap_or(path);
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::new(display, format!("cannot read values file: {e}")))?;
    parse(display, path, &text)
}

/// Parses values text; `display` names the file in messages.
pub fn parse(display: &Path, path: &Path, text: &str) -> Result<ValuesLayer, Diagnostic> {
    let value = yaml11::parse(text).map_err(|e| {
        Diagnostic::new(display, e.message).at_line(Some(clamp_to_content(e.line, text)))
    })?;
    let values = match value {
        Value::Null => Mapping::new(),
        Value::Mapping(map) => normalize_numbers(map),
        other => {
            return Err(Diagnostic::new(
                display,
                format!(
                    "a values file must be a map of keys to values, found {}",
                    kind_of(&other)
                ),
            )
            .at_line(Some(first_content_line(text))));
        }
    };
    Ok(ValuesLayer {
        source: display.display().to_string(),
        kind: LayerKind::File(path.to_path_buf()),
        values,
        lines: LineIndex::build(text),
    })
}

fn first_content_line(text: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with('#') && l != "---"
        })
        .map_or(1, |i| i + 1)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}

fn normalize_numbers(map: Mapping) -> Mapping {
    map.into_iter()
        .map(|(k, v)| (k, normalize_value(v)))
        .collect()
}

fn normalize_value(value: Value) -> Value {
    match value {
        Value::Mapping(map) => Value::Mapping(normalize_numbers(map)),
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(normalize_value).collect()),
        Value::Number(n) => Value::Number(normalize_number(n)),
        other => other,
    }
}

/// Helm reads numbers as JSON float64, so `1.0` renders as `1`.
fn normalize_number(n: serde_yaml::Number) -> serde_yaml::Number {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
            // Exact: integral and within f64's contiguous integer range.
            serde_yaml::Number::from(f as i64)
        }
        _ => n,
    }
}

/// The values Helm renders with: user layers merged in order (maps merge,
/// anything else replaces, `null` included), then coalesced over the
/// chart's own values, where a user `null` removes the chart's key.
pub fn merge(layers: &[ValuesLayer]) -> Mapping {
    let (chart, user): (Vec<_>, Vec<_>) = layers.iter().partition(|l| l.kind == LayerKind::Chart);
    let user = user
        .into_iter()
        .fold(Mapping::new(), |acc, l| merge_maps(acc, &l.values));
    let empty = Mapping::new();
    coalesce(user, chart.first().map_or(&empty, |l| &l.values))
}

/// Helm's `mergeMaps`, used between `-f` files and `--set` overrides.
fn merge_maps(mut into: Mapping, over: &Mapping) -> Mapping {
    for (key, value) in over {
        match (into.get_mut(key), value) {
            (Some(Value::Mapping(existing)), Value::Mapping(incoming)) => {
                let merged = merge_maps(std::mem::take(existing), incoming);
                *existing = merged;
            }
            _ => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
    into
}

/// Helm's `coalesceValues`: fills `user` with chart defaults; a user `null`
/// deletes the default; where either side is not a map, the user's value
/// wins. Keys keep the chart's order, then the user's additions, so output
/// reads like the chart's `values.yaml`.
fn coalesce(mut user: Mapping, chart: &Mapping) -> Mapping {
    let mut out = Mapping::with_capacity(chart.len() + user.len());
    for (key, default) in chart {
        match user.remove(key) {
            None => {
                out.insert(key.clone(), default.clone());
            }
            Some(Value::Null) => {}
            Some(Value::Mapping(set)) => {
                let merged = match default {
                    Value::Mapping(default) => coalesce(set, default),
                    _ => set,
                };
                out.insert(key.clone(), Value::Mapping(merged));
            }
            Some(set) => {
                out.insert(key.clone(), set);
            }
        }
    }
    out.extend(user);
    out
}

/// Where one leaf of the merged values came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    pub key: String,
    pub value: Value,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

/// For every leaf of `merged` (scalars, lists and empty maps), the last
/// layer that sets it. Helm replaces lists whole, so a list is one leaf.
pub fn explain(layers: &[ValuesLayer], merged: &Mapping) -> Vec<Provenance> {
    let mut leaves = Vec::new();
    collect_leaves(merged, &mut Vec::new(), &mut leaves);
    leaves
        .into_iter()
        .map(|(path, value)| {
            let key = path.join(".");
            let layer = layers
                .iter()
                .rev()
                .find(|l| lookup(&l.values, &path).is_some());
            Provenance {
                value: value.clone(),
                source: layer.map_or_else(|| "(chart)".to_owned(), |l| l.source.clone()),
                line: layer.and_then(|l| l.line_of(&key)),
                key,
            }
        })
        .collect()
}

fn collect_leaves<'a>(
    map: &'a Mapping,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, &'a Value)>,
) {
    for (key, value) in map {
        prefix.push(key_string(key));
        match value {
            Value::Mapping(inner) if !inner.is_empty() => collect_leaves(inner, prefix, out),
            _ => out.push((prefix.clone(), value)),
        }
        prefix.pop();
    }
}

fn lookup<'a>(map: &'a Mapping, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let value = map.get(first.as_str())?;
    if rest.is_empty() {
        return Some(value);
    }
    match value {
        Value::Mapping(inner) => lookup(inner, rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(source: &str, text: &str, base: bool) -> ValuesLayer {
        let mut l = parse(Path::new(source), Path::new(source), text).unwrap();
        if base {
            l.kind = LayerKind::Chart;
        }
        l
    }

    fn yaml(text: &str) -> Mapping {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn maps_merge_lists_replace_null_deletes() {
        let layers = [
            layer(
                "values.yaml",
                "a: {b: 1, c: 2}\nlist: [1, 2]\ngone: {x: 1}\n",
                true,
            ),
            layer(
                "values/prod.yaml",
                "a: {c: 3}\nlist: [9]\ngone: null\n",
                false,
            ),
        ];
        assert_eq!(merge(&layers), yaml("a: {b: 1, c: 3}\nlist: [9]\n"));
    }

    #[test]
    fn revision_override_wins_and_is_explained() {
        let layers = [
            layer("values.yaml", "image: {repository: r, tag: old}\n", true),
            ValuesLayer::set_string("--revision", "image.tag", "abc123"),
        ];
        let merged = merge(&layers);
        assert_eq!(merged, yaml("image: {repository: r, tag: abc123}\n"));
        let why = explain(&layers, &merged);
        let tag = why.iter().find(|p| p.key == "image.tag").unwrap();
        assert_eq!(tag.source, "--revision");
        let repo = why.iter().find(|p| p.key == "image.repository").unwrap();
        assert_eq!((repo.source.as_str(), repo.line), ("values.yaml", Some(1)));
    }

    #[test]
    fn non_map_file_is_rejected_with_its_line() {
        let err = parse(Path::new("v.yaml"), Path::new("v.yaml"), "# c\n- a\n- b\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("found a list"), "{err}");
    }
}
