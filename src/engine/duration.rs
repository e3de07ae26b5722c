//! Durations as users write them: `30s`, `5m`, `1h30m`, `250ms`, or a
//! number of seconds.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// What is wrong with a duration or a count-or-percentage, in words the
/// caller prefixes with the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("`{0}` lacks a unit (ms, s, m or h)")]
    NoUnit(String),
    #[error("`{0}` is not a duration such as 30s, 5m or 1h30m")]
    NotADuration(String),
    #[error("`{text}` has unknown unit `{unit}` (use ms, s, m or h)")]
    UnknownUnit { text: String, unit: String },
    #[error("`{0}` is too long")]
    TooLong(String),
    #[error("`{0}` is negative")]
    Negative(String),
    #[error("{0} is negative")]
    NegativeCount(i32),
    #[error("`{0}` is not a count or a percentage such as 25%")]
    NotAPercentage(String),
}

/// Milliseconds in `text`, or what is wrong with it.
pub fn parse_millis(text: &str) -> Result<i64, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return non_negative(seconds.saturating_mul(1000), text);
    }
    let mut total: i64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(|| DurationError::NoUnit(text.to_owned()))?;
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let value: f64 = number
            .parse()
            .map_err(|_| DurationError::NotADuration(text.to_owned()))?;
        let scale = match unit {
            "ms" => 1.0,
            "s" => 1_000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            other => {
                return Err(DurationError::UnknownUnit {
                    text: text.to_owned(),
                    unit: other.to_owned(),
                });
            }
        };
        let millis = value * scale;
        if !millis.is_finite() || millis > 1.0e15 {
            return Err(DurationError::TooLong(text.to_owned()));
        }
        total = total.saturating_add(millis.round() as i64);
        rest = next;
    }
    non_negative(total, text)
}

fn non_negative(millis: i64, text: &str) -> Result<i64, DurationError> {
    if millis < 0 {
        Err(DurationError::Negative(text.to_owned()))
    } else {
        Ok(millis)
    }
}

/// A pause duration: a number of seconds or a duration string.
pub fn int_or_string_millis(value: &IntOrString) -> Result<i64, DurationError> {
    match value {
        IntOrString::Int(seconds) => non_negative(i64::from(*seconds) * 1000, &seconds.to_string()),
        IntOrString::String(text) => parse_millis(text),
    }
}

/// Resolves a count-or-percentage against `total`, rounding up or down as
/// Kubernetes does for maxSurge (up) and maxUnavailable (down).
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, DurationError> {
    match value {
        IntOrString::Int(n) if *n >= 0 => Ok(*n),
        IntOrString::Int(n) => Err(DurationError::NegativeCount(*n)),
        IntOrString::String(text) => {
            let percent: i64 = text
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .filter(|p| (0..=100).contains(p))
                .ok_or_else(|| DurationError::NotAPercentage(text.clone()))?;
            let scaled = i64::from(total) * percent;
            let result = if round_up {
                (scaled + 99) / 100
            } else {
                scaled / 100
            };
            Ok(i32::try_from(result).unwrap_or(i32::MAX))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_millis("30s"), Ok(30_000));
        assert_eq!(parse_millis("1h30m"), Ok(5_400_000));
        assert_eq!(parse_millis("250ms"), Ok(250));
        assert_eq!(parse_millis("1.5s"), Ok(1_500));
        assert_eq!(parse_millis("45"), Ok(45_000));
        assert!(parse_millis("5 minutes").is_err());
        assert!(parse_millis("10").is_ok());
        assert!(parse_millis("-3").is_err());
        assert_eq!(
            parse_millis("5 minutes").unwrap_err().to_string(),
            "`5 minutes` has unknown unit ` minutes` (use ms, s, m or h)"
        );
        assert!(parse_millis("m").is_err());
    }

    #[test]
    fn percentages_round_like_kubernetes() {
        let pct = IntOrString::String("25%".into());
        assert_eq!(scaled_value(&pct, 5, true), Ok(2));
        assert_eq!(scaled_value(&pct, 5, false), Ok(1));
        assert!(scaled_value(&IntOrString::String("abc".into()), 5, true).is_err());
    }
}
