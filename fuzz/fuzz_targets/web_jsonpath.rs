//! Web metrics' answers as the provider reads them: the JSON body, the
//! number at a JSONPath in it. Input: the JSONPath on the first line (none
//! when empty), then the body. Checked: no panic; a value never carries
//! NaN; a path in braces (`{$.a}`, kubectl's spelling) reads the same as
//! without; `$` is the whole body.
#![no_main]

use conductor::analysis::providers::fuzzing::{jsonpath_select, web_answer};
use conductor::analysis::value::MetricValue;
use conductor_fuzz::{header_and_body, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let (path, body) = header_and_body(text);
    let path = (!path.is_empty()).then_some(path);
    let answer = web_answer(body, path);
    match &answer {
        Ok(Some(MetricValue::Scalar(v))) => assert!(!v.is_nan()),
        Ok(Some(MetricValue::Vector(values))) => {
            assert!(
                !values.is_empty() && values.iter().all(|v| !v.is_nan()),
                "{values:?}"
            );
        }
        Ok(None) | Err(_) => {}
    }
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return;
    };
    assert_eq!(jsonpath_select(&json, "$"), Ok(&json));
    if let Some(path) = path.filter(|p| !p.trim().starts_with('{')) {
        let braced = format!("{{{path}}}");
        let plain = jsonpath_select(&json, path);
        assert_eq!(
            plain.as_ref().ok(),
            jsonpath_select(&json, &braced).as_ref().ok(),
            "{path} and {braced} read differently"
        );
        if plain.is_ok() {
            assert_eq!(web_answer(body, Some(&braced)), answer);
        }
    }
});
