//! Label and field selectors, parsed from the query string and matched
//! against stored JSON objects.

use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// Objects a list or watch is restricted to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    labels: Vec<Requirement>,
    /// Dotted field path, expected value, whether it must be equal.
    fields: Vec<(Vec<String>, String, bool)>,
}

impl Filter {
    pub fn parse(labels: Option<&str>, fields: Option<&str>) -> Result<Self, ApiError> {
        let labels = match labels {
            Some(s) => split_terms(s)
                .into_iter()
                .map(parse_label_term)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let fields = match fields {
            Some(s) => s
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(parse_field_term)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(Self { labels, fields })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        let labels_ok = self.labels.iter().all(|req| match req {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => !label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::NotExists(k) => label(k).is_none(),
        });
        labels_ok
            && self
                .fields
                .iter()
                .all(|(path, want, equal)| (field_value(object, path) == *want) == *equal)
    }
}

/// Splits on commas that are not inside a `(...)` value set.
fn split_terms(s: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    terms
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_label_term(term: &str) -> Result<Requirement, ApiError> {
    let invalid = || ApiError::bad_request(format!("unable to parse requirement: {term:?}"));
    if let Some(key) = term.strip_prefix('!') {
        return Ok(Requirement::NotExists(key.trim().to_string()));
    }
    if let Some((head, values)) = term.split_once('(') {
        let values = values.strip_suffix(')').ok_or_else(invalid)?;
        let values = values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        let mut words = head.split_whitespace();
        let (Some(key), Some(op), None) = (words.next(), words.next(), words.next()) else {
            return Err(invalid());
        };
        return match op {
            "in" => Ok(Requirement::In(key.to_string(), values)),
            "notin" => Ok(Requirement::NotIn(key.to_string(), values)),
            _ => Err(invalid()),
        };
    }
    let pair = |op: &str| {
        term.split_once(op)
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
    };
    if let Some((k, v)) = pair("!=") {
        return Ok(Requirement::NotEquals(k, v));
    }
    if let Some((k, v)) = pair("==").or_else(|| pair("=")) {
        return Ok(Requirement::Equals(k, v));
    }
    if term.contains(char::is_whitespace) {
        return Err(invalid());
    }
    Ok(Requirement::Exists(term.to_string()))
}

fn parse_field_term(term: &str) -> Result<(Vec<String>, String, bool), ApiError> {
    let split = |op: &str| term.split_once(op);
    let (path, value, equal) = if let Some((p, v)) = split("!=") {
        (p, v, false)
    } else if let Some((p, v)) = split("==").or_else(|| split("=")) {
        (p, v, true)
    } else {
        return Err(ApiError::bad_request(format!(
            "invalid field selector: {term:?}"
        )));
    };
    let path = path.trim().split('.').map(str::to_string).collect();
    Ok((path, value.trim().to_string(), equal))
}

/// A field's value as the API server compares it: a missing field is "".
fn field_value(object: &Value, path: &[String]) -> String {
    let found = path.iter().try_fold(object, |v, seg| v.get(seg.as_str()));
    match found {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj() -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": {"app": "web", "tier": "fe"}}, "status": {"phase": "Running"}})
    }

    fn hit(labels: &str) -> bool {
        Filter::parse(Some(labels), None).unwrap().matches(&obj())
    }

    #[test]
    fn label_selectors() {
        assert!(hit("app=web"));
        assert!(hit("app==web,tier"));
        assert!(!hit("app!=web"));
        assert!(hit("app in (x, web),tier notin (be)"));
        assert!(!hit("tier notin (fe)"));
        assert!(hit("!missing"));
        assert!(!hit("missing"));
        assert!(hit("missing!=x"));
        assert!(Filter::parse(Some("a in x)"), None).is_err());
    }

    #[test]
    fn field_selectors() {
        let f = |s| Filter::parse(None, Some(s)).unwrap().matches(&obj());
        assert!(f("metadata.name=a,metadata.namespace==ns"));
        assert!(!f("metadata.name!=a"));
        assert!(f("status.phase=Running"));
        assert!(f("spec.nodeName="));
    }
}
