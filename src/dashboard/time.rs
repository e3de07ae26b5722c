//! "Since when", as people read it: `5 min ago`, with the exact time in
//! the markup for whoever needs it. Pure: `now` is an argument.

use jiff::Timestamp;

use super::html::esc;

/// How long ago `then` was, in the largest unit that fits.
pub fn ago(then: Timestamp, now: Timestamp) -> String {
    let seconds = now.as_second() - then.as_second();
    if seconds < 0 {
        return "in the future".into();
    }
    match seconds {
        0..45 => "just now".into(),
        45..5_400 => format!("{} min ago", ((seconds + 30) / 60).max(1)),
        5_400..172_800 => format!("{} h ago", (seconds + 1_800) / 3_600),
        _ => format!("{} days ago", (seconds + 43_200) / 86_400),
    }
}

/// `<time datetime=...>5 min ago</time>`, or the text as given when it is
/// not an RFC 3339 time.
pub fn time_tag(rfc3339: &str, now: Timestamp) -> String {
    match rfc3339.parse::<Timestamp>() {
        Ok(then) => time_tag_at(then, now),
        Err(_) => esc(rfc3339).to_string(),
    }
}

pub fn time_tag_at(then: Timestamp, now: Timestamp) -> String {
    let exact = then.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    format!(
        r#"<time datetime="{then}" title="{exact}">{}</time>"#,
        ago(then, now)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn the_largest_unit_that_fits() {
        let now = at("2026-01-10T12:00:00Z");
        assert_eq!(ago(at("2026-01-10T11:59:50Z"), now), "just now");
        assert_eq!(ago(at("2026-01-10T11:55:00Z"), now), "5 min ago");
        assert_eq!(ago(at("2026-01-10T09:00:00Z"), now), "3 h ago");
        assert_eq!(ago(at("2026-01-07T12:00:00Z"), now), "3 days ago");
        assert_eq!(ago(at("2026-01-10T12:01:00Z"), now), "in the future");
    }

    #[test]
    fn the_exact_time_is_in_the_markup() {
        let tag = time_tag("2026-01-10T11:55:00Z", at("2026-01-10T12:00:00Z"));
        assert!(tag.contains(r#"datetime="2026-01-10T11:55:00Z""#), "{tag}");
        assert!(tag.contains(">5 min ago</time>"), "{tag}");
        assert_eq!(time_tag("<bad>", at("2026-01-10T12:00:00Z")), "&lt;bad&gt;");
    }
}
