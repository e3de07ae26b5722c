//! A problem with a field of a resource, for the person who wrote it.

/// What is wrong and where: `spec.strategy.canary.steps[2].setWeight: 120
/// is outside 0..=100`. The engine reports it as `InvalidSpec`; callers can
/// match on the field instead of parsing a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SpecProblem {
    /// Dotted path to the field, e.g. `spec.strategy.canary.steps[2].setWeight`.
    pub path: String,
    pub message: String,
}

impl SpecProblem {
    pub fn new(path: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

/// Problems as one line (or one per line with `"\n"`), for a status message
/// or a terminal.
pub fn joined<T: std::fmt::Display>(problems: &[T], separator: &str) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}
