//! Who may act: the token file given with `--token-file`, in the format of
//! Kubernetes' static token file (`token,user[,uid,groups]`, one a line;
//! columns after the user are ignored), so an existing one can be reused.
//! Tokens are kept only as SHA-256 digests and compared in constant time.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::DashboardError;

/// Shorter tokens can be guessed by someone on the network.
const MIN_TOKEN_LEN: usize = 16;

pub struct Tokens {
    entries: Vec<([u8; 32], String)>,
}

impl std::fmt::Debug for Tokens {
    // Never print the digests, even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("users", &self.entries.len())
            .finish()
    }
}

impl Tokens {
    pub fn load(path: &Path) -> Result<Self, DashboardError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| DashboardError::TokenFileRead {
                path: path.to_path_buf(),
                source,
            })?;
        Self::parse(path, &text)
    }

    /// `path` only names the file in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Self, DashboardError> {
        let problem = |line: usize, reason: String| DashboardError::TokenFile {
            path: PathBuf::from(path),
            line,
            reason,
        };
        let mut entries: Vec<([u8; 32], String)> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut columns = line.split(',').map(|c| c.trim().trim_matches('"'));
            let token = columns.next().unwrap_or_default();
            let user = columns.next().unwrap_or_default();
            if user.is_empty() {
                return Err(problem(
                    number,
                    "expected `token,user`: every action is recorded with who did it".into(),
                ));
            }
            if token.len() < MIN_TOKEN_LEN {
                return Err(problem(
                    number,
                    format!(
                        "the token is shorter than {MIN_TOKEN_LEN} characters; use a long random one (`openssl rand -hex 32`)"
                    ),
                ));
            }
            let digest = digest(token);
            if entries.iter().any(|(d, _)| *d == digest) {
                return Err(problem(
                    number,
                    "this token is already on an earlier line: each person needs their own".into(),
                ));
            }
            entries.push((digest, user.to_owned()));
        }
        if entries.is_empty() {
            return Err(problem(
                0,
                "no `token,user` line: with no one allowed to act, leave --token-file out".into(),
            ));
        }
        Ok(Self { entries })
    }

    /// The user `token` belongs to. Every entry is compared, byte by byte,
    /// so the time taken tells nothing about how close a guess was.
    pub fn user_for(&self, token: &str) -> Option<&str> {
        let wanted = digest(token.trim());
        let mut found = None;
        for (digest, user) in &self.entries {
            let difference = digest
                .iter()
                .zip(wanted.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if difference == 0 {
                found = Some(user.as_str());
            }
        }
        found
    }

    pub fn users(&self) -> usize {
        self.entries.len()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# people who may promote\n0123456789abcdef0123,ada,1001,\"sre\"\n\nfedcba9876543210fedc,grace\n";

    #[test]
    fn each_token_names_its_user() {
        let tokens = Tokens::parse(Path::new("tokens.csv"), FILE).expect("valid");
        assert_eq!(tokens.users(), 2);
        assert_eq!(tokens.user_for("0123456789abcdef0123"), Some("ada"));
        assert_eq!(tokens.user_for("fedcba9876543210fedc\n"), Some("grace"));
        assert_eq!(tokens.user_for("0123456789abcdef012"), None);
        assert_eq!(tokens.user_for(""), None);
        assert!(!format!("{tokens:?}").contains("0123"));
    }

    #[test]
    fn bad_lines_are_named() {
        let error = |text: &str| {
            Tokens::parse(Path::new("t.csv"), text)
                .expect_err("invalid")
                .to_string()
        };
        assert_eq!(
            error("0123456789abcdef0123\n"),
            "token file t.csv:1: expected `token,user`: every action is recorded with who did it"
        );
        assert!(error("# x\nshort,ada\n").starts_with("token file t.csv:2: the token is shorter"));
        assert!(
            error("0123456789abcdef0123,ada\n0123456789abcdef0123,bob\n")
                .contains("t.csv:2: this token is already on an earlier line")
        );
        assert!(error("# nothing\n").contains("no `token,user` line"));
    }
}
