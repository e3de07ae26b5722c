//! Times as the status stores them: RFC 3339 strings. They are parsed here,
//! at the boundary, into a `Timestamp` or a problem naming the field, so no
//! reader can quietly take an unreadable time for "just now".

use jiff::Timestamp;

/// A time in an object that is not RFC 3339, e.g. after a hand edit of the
/// status subresource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {text:?} is not an RFC 3339 time")]
pub struct UnreadableTime {
    /// Dotted path to the field, e.g. `status.pauseConditions[0].startTime`.
    pub path: String,
    pub text: String,
}

/// Parses the time `text` found at `path`.
pub fn parse(path: impl Into<String>, text: &str) -> Result<Timestamp, UnreadableTime> {
    text.parse().map_err(|_| UnreadableTime {
        path: path.into(),
        text: text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_time_names_its_field() {
        let problem = parse("status.pauseConditions[0].startTime", "yesterday").unwrap_err();
        assert_eq!(
            problem.to_string(),
            r#"status.pauseConditions[0].startTime: "yesterday" is not an RFC 3339 time"#
        );
        assert!(parse("status.abortedAt", "2026-11-24T10:00:00Z").is_ok());
    }
}
