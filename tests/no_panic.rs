//! No input, however mangled, makes config or values parsing panic.

#[path = "support/common.rs"]
mod common;

use std::path::Path;

use conductor::config::{self, values};
use conductor::yaml_lines::LineIndex;
use proptest::prelude::*;

/// Edits that keep text YAML-ish, so parsing gets past the first line.
fn mangle(text: &str, edits: &[(usize, u8)]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for &(position, byte) in edits {
        let at = position % (bytes.len() + 1);
        match byte % 4 {
            0 => bytes.insert(at, b"-:[]{}#&*!|>'\"\n ?,"[usize::from(byte) % 18]),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            2 => bytes.insert(at, byte),
            _ => {
                let line: Vec<u8> = bytes[at..]
                    .iter()
                    .take_while(|b| **b != b'\n')
                    .copied()
                    .collect();
                bytes.splice(at..at, line);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn parse_everything(text: &str) {
    let repo = Path::new("/nonexistent");
    let path = repo.join("conductor-config/shop.yaml");
    let _ = config::parse_service(repo, &path, "shop", text);
    let _ = values::parse(Path::new("v.yaml"), Path::new("v.yaml"), text);
    let index = LineIndex::build(text);
    let _ = index.line_of("environments.production.clusters[0].name");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn mangled_service_files_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..12)) {
        parse_everything(&mangle(common::SERVICE, &edits));
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        parse_everything(&text);
    }
}
