//! The numbers a metric's conditions compare `result` with, so a chart can
//! draw them: `result <= 0.05`, `result[0] > 0.9`, `0.5 < result` and the
//! like, anywhere in a CEL expression. A condition with no such comparison
//! simply draws no line; the condition's text is shown beside the chart
//! either way.

use std::sync::LazyLock;

use regex::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Success,
    Failure,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub kind: Kind,
    /// As people read it: `≤`, `<`, `≥`, `>`, `=`, with `result` on the left.
    pub op: &'static str,
    pub value: f64,
}

impl Threshold {
    /// `success when ≤ 0.05`
    pub fn label(&self) -> String {
        let kind = match self.kind {
            Kind::Success => "success",
            Kind::Failure => "failure",
        };
        format!("{kind} when {} {}", self.op, number(self.value))
    }
}

const NUMBER: &str = r"(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)";
const OP: &str = r"(<=|>=|==|<|>)";

// A constant pattern; were it ever invalid, charts would only lose their
// threshold lines, so no panic on this path.
static RESULT_FIRST: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(&format!(r"\bresult\s*(?:\[\s*\d+\s*\])?\s*{OP}\s*{NUMBER}")).ok());
static NUMBER_FIRST: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(&format!(r"{NUMBER}\s*{OP}\s*result\b")).ok());

/// Every threshold in a metric's success and failure conditions.
pub fn thresholds(success: Option<&str>, failure: Option<&str>) -> Vec<Threshold> {
    let mut found = Vec::new();
    for (kind, condition) in [(Kind::Success, success), (Kind::Failure, failure)] {
        if let Some(condition) = condition {
            found.extend(in_expression(kind, condition));
        }
    }
    found
}

/// From a measurement's recorded condition (`success: A; failure: B`, or
/// one plain expression, a success condition), for runs whose spec no
/// longer names the metric.
pub fn from_recorded(condition: &str) -> Vec<Threshold> {
    let mut success = None;
    let mut failure = None;
    for part in condition.split("; ") {
        if let Some(rest) = part.strip_prefix("success: ") {
            success = Some(rest);
        } else if let Some(rest) = part.strip_prefix("failure: ") {
            failure = Some(rest);
        } else {
            success = Some(part);
        }
    }
    thresholds(success, failure)
}

fn in_expression(kind: Kind, expression: &str) -> Vec<Threshold> {
    let mut found = Vec::new();
    if let Some(pattern) = RESULT_FIRST.as_ref() {
        for captures in pattern.captures_iter(expression) {
            if let Some(threshold) = make(kind, &captures[1], &captures[2], false) {
                found.push(threshold);
            }
        }
    }
    if let Some(pattern) = NUMBER_FIRST.as_ref() {
        for captures in pattern.captures_iter(expression) {
            if let Some(threshold) = make(kind, &captures[2], &captures[1], true) {
                found.push(threshold);
            }
        }
    }
    found
}

fn make(kind: Kind, op: &str, value: &str, flipped: bool) -> Option<Threshold> {
    let value: f64 = value.parse().ok().filter(|v: &f64| v.is_finite())?;
    let op = match (op, flipped) {
        ("<=", false) | (">=", true) => "≤",
        ("<", false) | (">", true) => "<",
        (">=", false) | ("<=", true) => "≥",
        (">", false) | ("<", true) => ">",
        _ => "=",
    };
    Some(Threshold { kind, op, value })
}

/// A number as short as it can be written without losing what matters on
/// a chart: `0.05`, `12`, `1234.5`, `1.5e-7`.
pub fn number(value: f64) -> String {
    if value != 0.0 && (value.abs() >= 1e6 || value.abs() < 1e-4) {
        return format!("{value:.2e}");
    }
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_with_result_on_either_side() {
        let found = thresholds(
            Some("result[0] <= 0.05 && 0.5 < result[0]"),
            Some("result > 0.1"),
        );
        let labels: Vec<String> = found.iter().map(Threshold::label).collect();
        assert_eq!(
            labels,
            [
                "success when ≤ 0.05",
                "success when > 0.5",
                "failure when > 0.1"
            ]
        );
    }

    #[test]
    fn conditions_without_a_number_draw_nothing() {
        assert!(thresholds(Some("result.all(x, x < y)"), None).is_empty());
        assert!(thresholds(Some("size(result) == 0"), None).is_empty());
    }

    #[test]
    fn recorded_conditions_are_read_back() {
        let found = from_recorded("success: result <= 0.05; failure: result > 0.2");
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].kind, Kind::Failure);
        assert_eq!(from_recorded("result >= 1e-3")[0].value, 0.001);
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(0.05), "0.05");
        assert_eq!(number(12.0), "12");
        assert_eq!(number(1234.5), "1234.5");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(0.000_001_5), "1.50e-6");
    }
}
