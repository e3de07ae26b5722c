//! Datadog answers as the provider reads them: a successful body (v1
//! `series` or v2 timeseries), a failed one's reason, and a 429's
//! `x-ratelimit-reset` header. Input: a first line `v1|v2 <aggregator>
//! <x-ratelimit-reset>`, then the body. Checked: no panic, an aggregate is
//! never NaN, and min, max and last are one of the points, and no
//! wait after a 429 exceeds the minute the provider allows.
#![no_main]

use std::time::Duration;

use conductor::analysis::providers::fuzzing::{
    datadog_answer, datadog_errors, datadog_rate_limit_wait,
};
use conductor::analysis::value::MetricValue;
use conductor::crd::analysis::DatadogAggregator;
use conductor_fuzz::{header_and_body, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let (header, body) = header_and_body(text);
    let mut words = header.splitn(3, ' ');
    let v2 = words.next() == Some("v2");
    let aggregator = words
        .next()
        .and_then(|w| DatadogAggregator::ALL.iter().find(|a| a.as_str() == w))
        .copied()
        .unwrap_or(DatadogAggregator::Last);
    let reset = words.next();
    assert!(datadog_rate_limit_wait(reset) <= Duration::from_secs(60));
    let _ = datadog_errors(body);
    match datadog_answer(v2, body, aggregator) {
        Ok(Some(MetricValue::Scalar(v))) => {
            assert!(!v.is_nan(), "{aggregator:?} gave NaN");
            let picks_a_point = matches!(
                aggregator,
                DatadogAggregator::Min | DatadogAggregator::Max | DatadogAggregator::Last
            );
            if let (true, Some(points)) = (picks_a_point, points(v2, body)) {
                let low = points.iter().copied().fold(f64::INFINITY, f64::min);
                let high = points.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                assert!(
                    (low..=high).contains(&v),
                    "{aggregator:?} = {v} outside {low}..={high}"
                );
            }
        }
        Ok(Some(MetricValue::Vector(_))) => panic!("an aggregate is one number"),
        Ok(None) | Err(_) => {}
    }
});

/// The points the aggregate is over, read independently of the provider.
fn points(v2: bool, body: &str) -> Option<Vec<f64>> {
    let answer: serde_json::Value = serde_json::from_str(body).ok()?;
    let list = if v2 {
        answer.pointer("/data/attributes/values/0")?
    } else {
        answer.pointer("/series/0/pointlist")?
    };
    let points: Vec<f64> = list
        .as_array()?
        .iter()
        .filter_map(|p| if v2 { p.as_f64() } else { p.get(1)?.as_f64() })
        .filter(|p| !p.is_nan())
        .collect();
    (!points.is_empty()).then_some(points)
}
