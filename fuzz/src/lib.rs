//! What the fuzz targets share: reading their input and the checks more
//! than one of them makes.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

/// The repository root: service configs name charts relative to it.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The input as text; libFuzzer's byte strings that are not UTF-8 never
/// reach the parsers, which read files and bodies as `String`s.
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// `(first line, the rest)`: targets whose input is a header line and a body.
pub fn header_and_body(text: &str) -> (&str, &str) {
    text.split_once('\n').unwrap_or((text, ""))
}

/// The number of the last line of `text`, counting line breaks as YAML
/// parsers do (`\r\n`, `\r`, `\n`, and YAML 1.1's NEL, LS and PS), so a
/// position at the very end of the text still counts as in it.
pub fn last_line(text: &str) -> usize {
    let mut lines = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines += 1;
            }
            '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => lines += 1,
            _ => {}
        }
    }
    lines
}

/// Asserts that a diagnostic's line is one of the file's.
pub fn assert_line_in(text: &str, line: Option<usize>, what: &dyn std::fmt::Display) {
    if let Some(line) = line {
        let last = last_line(text);
        assert!(
            (1..=last).contains(&line),
            "line {line} is outside the file's 1..={last}: {what}"
        );
    }
}
