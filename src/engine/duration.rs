//! Durations as users write them: `30s`, `5m`, `1h30m`, `250ms`, or a
//! number of seconds.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Milliseconds in `text`, or a message saying what is wrong with it.
pub fn parse_millis(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return non_negative(seconds.saturating_mul(1000), text);
    }
    let mut total: i64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(|| format!("`{text}` lacks a unit (ms, s, m or h)"))?;
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a duration such as 30s, 5m or 1h30m"))?;
        let scale = match unit {
            "ms" => 1.0,
            "s" => 1_000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            other => {
                return Err(format!(
                    "`{text}` has unknown unit `{other}` (use ms, s, m or h)"
                ));
            }
        };
        let millis = value * scale;
        if !millis.is_finite() || millis > 1.0e15 {
            return Err(format!("`{text}` is too long"));
        }
        total = total.saturating_add(millis.round() as i64);
        rest = next;
    }
    non_negative(total, text)
}

fn non_negative(millis: i64, text: &str) -> Result<i64, String> {
    if millis < 0 {
        Err(format!("`{text}` is negative"))
    } else {
        Ok(millis)
    }
}

/// A pause duration: a number of seconds or a duration string.
pub fn int_or_string_millis(value: &IntOrString) -> Result<i64, String> {
    match value {
        IntOrString::Int(seconds) => non_negative(i64::from(*seconds) * 1000, &seconds.to_string()),
        IntOrString::String(text) => parse_millis(text),
    }
}

/// Resolves a count-or-percentage against `total`, rounding up or down as
/// Kubernetes does for maxSurge (up) and maxUnavailable (down).
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match value {
        IntOrString::Int(n) if *n >= 0 => Ok(*n),
        IntOrString::Int(n) => Err(format!("{n} is negative")),
        IntOrString::String(text) => {
            let percent: i64 = text
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .filter(|p| (0..=100).contains(p))
                .ok_or_else(|| format!("`{text}` is not a count or a percentage such as 25%"))?;
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
