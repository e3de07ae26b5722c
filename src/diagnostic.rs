//! A problem in a user's file, located as precisely as the input allows.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::yaml_lines::clamp_to_content;

/// `file:line: field: message`, the shape editors and CI logs link on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl Diagnostic {
    pub fn new(file: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Self {
            file: file.as_ref().to_path_buf(),
            line: None,
            field: None,
            message: message.into(),
        }
    }

    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = (!field.is_empty()).then_some(field);
        self
    }

    /// Turns a serde_yaml error in `text` into a diagnostic, splitting out
    /// the field path it prefixes and the position it appends, and
    /// suggesting the nearest valid name for an unknown field.
    pub fn from_yaml_error(file: impl AsRef<Path>, text: &str, error: &serde_yaml::Error) -> Self {
        let mut said = error.to_string();
        if let Some(at) = error.location() {
            // The position goes in front as `file:line`; drop its repetition.
            said = said.replace(
                &format!(" at line {} column {}", at.line(), at.column()),
                "",
            );
        }
        let (field, message) = split_field_path(&said);
        let message = match suggest_for_unknown_field(message) {
            Some(suggestion) => format!("{message}; did you mean `{suggestion}`?"),
            None => message.to_owned(),
        };
        Self::new(file, message)
            .at_line(error.location().map(|l| clamp_to_content(l.line(), text)))
            .field(field)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// serde_yaml writes `path.to[0].field: message`; the message itself never
/// starts with a path-like token followed by `: `.
fn split_field_path(text: &str) -> (&str, &str) {
    if let Some((path, rest)) = text.split_once(": ") {
        let looks_like_path = !path.is_empty()
            && !path.contains(' ')
            && path
                .chars()
                .all(|c| c.is_alphanumeric() || "._-[]".contains(c));
        if looks_like_path {
            return (path, rest);
        }
    }
    ("", text)
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown
/// variant …"), the expected name closest to `x`, when it is close enough
/// to be a likely typo.
fn suggest_for_unknown_field(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (unknown, expected) = rest.split_once('`')?;
    let candidates = expected.split('`').skip(1).step_by(2);
    nearest(unknown, candidates)
}

/// Drops repeats, keeping first occurrences in order: one bad environment
/// file fails every cluster that reads it, but is one problem to fix.
pub fn dedup(problems: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    problems.retain(|p| seen.insert(p.clone()));
}

/// The candidate closest to `input`, if any is within a typo's distance.
pub fn nearest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(input, c), c))
        .filter(|(distance, c)| *distance <= (c.len().max(input.len()) / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_path_and_suggests_field() {
        let text = "name: a\nwav: 1\n";
        let error = serde_yaml::from_str::<Probe>(text).unwrap_err();
        let d = Diagnostic::from_yaml_error("f.yaml", text, &error);
        assert_eq!(d.line, Some(2));
        assert!(d.message.contains("did you mean `wave`"), "{d}");
    }

    #[test]
    fn nearest_ignores_far_names() {
        assert_eq!(nearest("regoin", ["region", "name"]), Some("region".into()));
        assert_eq!(nearest("zzzzzz", ["region", "name"]), None);
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        name: String,
        wave: Option<u32>,
    }
}
