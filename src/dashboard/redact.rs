//! Credentials written into URLs (`https://ci:token@git.example.com/...`)
//! never reach a page: the ledger's location is one such URL, and git's
//! own error messages may repeat it.

/// `text` with the `user:password@` of every URL in it taken out.
pub fn without_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // The authority ends at the path, or where the URL itself ends.
        let end = after
            .find(|c: char| c == '/' || c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '>'))
            .unwrap_or(after.len());
        match after[..end].rfind('@') {
            Some(user_end) => rest = &after[user_end + 1..],
            None => rest = after,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_password_are_taken_out_of_every_url() {
        assert_eq!(
            without_credentials("https://ci:s3cret@git.example.com/acme/ledger.git"),
            "https://git.example.com/acme/ledger.git"
        );
        assert_eq!(
            without_credentials(
                "fatal: unable to access 'https://x:y@h/r.git/': 403; also http://t@other"
            ),
            "fatal: unable to access 'https://h/r.git/': 403; also http://other"
        );
        assert_eq!(
            without_credentials("git@github.com:acme/ledger.git and /srv/ledger.git"),
            "git@github.com:acme/ledger.git and /srv/ledger.git"
        );
    }
}
