//! Writing HTML safely: every name, message and value shown comes from
//! users (rollout names, commit subjects, Event notes), so each goes
//! through [`esc`] on its way into a page, and through [`segment`] on its
//! way into a link.

use std::fmt;

/// Displays `text` with `& < > " '` escaped: safe in element content and
/// in quoted attribute values alike.
pub fn esc(text: &str) -> Escaped<'_> {
    Escaped(text)
}

pub struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// Percent-encodes one path segment or query value: everything but
/// RFC 3986's unreserved characters, so a name can never end a segment
/// early or start a query.
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `/services/<service>/<env>/<cluster>`, each part encoded.
pub fn cluster_href(service: &str, environment: &str, cluster: &str) -> String {
    format!(
        "/services/{}/{}/{}",
        segment(service),
        segment(environment),
        segment(cluster)
    )
}

/// The live page of one Rollout in a cluster.
pub fn rollout_href(service: &str, environment: &str, cluster: &str, rollout: &str) -> String {
    format!(
        "{}/rollouts/{}",
        cluster_href(service, environment, cluster),
        segment(rollout)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            esc(r#"<script>alert("x" & 'y')</script>"#).to_string(),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(esc("plain é").to_string(), "plain é");
    }

    #[test]
    fn segments_cannot_break_out_of_a_path() {
        assert_eq!(segment("eu-west-1"), "eu-west-1");
        assert_eq!(segment("a/b?c#d e"), "a%2Fb%3Fc%23d%20e");
        assert_eq!(segment("\"><"), "%22%3E%3C");
    }
}
