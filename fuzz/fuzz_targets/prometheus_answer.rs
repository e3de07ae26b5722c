//! Prometheus instant-query answers as the provider reads them. Input: the
//! HTTP status on the first line, the body after it. Checked: no panic,
//! and a value never carries NaN (NaN is "no data", an explicit policy).
#![no_main]

use conductor::analysis::providers::fuzzing::{StatusCode, prometheus_answer};
use conductor::analysis::value::MetricValue;
use conductor_fuzz::{header_and_body, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let (status, body) = header_and_body(text);
    let status = status
        .trim()
        .parse::<u16>()
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    match prometheus_answer(status, body) {
        Ok(Some(MetricValue::Scalar(v))) => assert!(!v.is_nan()),
        Ok(Some(MetricValue::Vector(values))) => {
            assert!(
                !values.is_empty() && values.iter().all(|v| !v.is_nan()),
                "{values:?}"
            );
        }
        Ok(None) => {}
        Err(reason) => {
            assert!(
                !status.is_success() || !reason.starts_with("HTTP"),
                "{reason}"
            );
        }
    }
});
