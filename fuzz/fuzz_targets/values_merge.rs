//! Values files through `values::parse`, layered as `plan` and `render`
//! layer them (chart, environment, cluster, then the revision override)
//! and merged with Helm's rules. Input: up to three files separated by NUL
//! bytes. Checked: no panic, problems and provenance on lines of their
//! file, merging is deterministic and idempotent (a file applied twice
//! changes nothing), and the revision always lands at `image.tag`.
#![no_main]

use std::path::Path;

use conductor::config::values::{self, LayerKind, ValuesLayer};
use conductor_fuzz::{assert_line_in, text};
use libfuzzer_sys::fuzz_target;
use serde_yaml::Value;

const FILES: [&str; 3] = [
    "values.yaml",
    "values/production.yaml",
    "values/production/eu-west-1.yaml",
];
const REVISION: &str = "3f2a9c1";

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let texts: Vec<&str> = text.split('\0').take(FILES.len()).collect();
    let mut layers = Vec::new();
    for (i, (name, text)) in FILES.iter().zip(&texts).enumerate() {
        match values::parse(Path::new(name), Path::new(name), text) {
            Ok(mut layer) => {
                if i == 0 {
                    layer.kind = LayerKind::Chart;
                }
                layers.push(layer);
            }
            Err(problem) => {
                assert_line_in(text, problem.line, &problem);
                return;
            }
        }
    }
    layers.push(ValuesLayer::set_string("--revision", "image.tag", REVISION));
    let merged = values::merge(&layers);
    assert_eq!(merged, values::merge(&layers), "merge is not deterministic");
    let tag = merged
        .get("image")
        .and_then(|image| image.get("tag"))
        .and_then(Value::as_str);
    assert_eq!(tag, Some(REVISION), "the revision override was lost");
    // A user file applied twice in a row is the same as once.
    if layers.len() > 2 {
        let mut twice = layers.clone();
        twice.insert(1, layers[1].clone());
        assert_eq!(
            values::merge(&twice),
            merged,
            "merging a file twice changed the values"
        );
    }
    for provenance in values::explain(&layers, &merged) {
        if let Some(i) = FILES.iter().position(|f| *f == provenance.source) {
            assert_line_in(texts[i], provenance.line, &provenance.key);
        }
    }
});
