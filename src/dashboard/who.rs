//! Who deployed, as the ledger records it: a CI job's URL becomes a link
//! to the job, anything else (`--by`, `user@host`) is shown as text.

use super::html::esc;

pub fn who(by: &str) -> String {
    // Only web addresses: a `javascript:` or `data:` "URL" stays text.
    let web = by.starts_with("https://") || by.starts_with("http://");
    if web && !by.contains(char::is_whitespace) {
        format!(r#"<a href="{0}" rel="noreferrer">{0}</a>"#, esc(by))
    } else {
        esc(by).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_urls_are_links_and_nothing_else_is() {
        assert_eq!(
            who("https://ci.example.com/run/7"),
            r#"<a href="https://ci.example.com/run/7" rel="noreferrer">https://ci.example.com/run/7</a>"#
        );
        assert_eq!(who("javascript:alert(1)"), "javascript:alert(1)");
        assert_eq!(who("ada@laptop"), "ada@laptop");
        assert_eq!(
            who("https://x/\"><b>"),
            r#"<a href="https://x/&quot;&gt;&lt;b&gt;" rel="noreferrer">https://x/&quot;&gt;&lt;b&gt;</a>"#
        );
    }
}
