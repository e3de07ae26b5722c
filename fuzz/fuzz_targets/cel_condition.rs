//! Success and failure conditions (CEL) through `Condition::compile`, as a
//! template is checked, and `evaluate`, as each measurement is judged.
//! Input: the expression, then optionally a NUL byte and the measured
//! value (`0.5`, or `1,2,3` for one value per series). Checked: no panic,
//! evaluating is deterministic, and a condition that compiles evaluates to
//! a boolean or a named error on every value.
#![no_main]

use conductor::analysis::condition::Condition;
use conductor::analysis::value::MetricValue;
use conductor_fuzz::text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let (source, value) = text.split_once('\0').unwrap_or((text, ""));
    let Ok(condition) = Condition::compile(source) else {
        return;
    };
    let mut results = vec![
        MetricValue::Scalar(0.05),
        MetricValue::Scalar(f64::INFINITY),
        MetricValue::Vector(vec![0.5, 3.0]),
    ];
    // A provider never hands NaN or an empty list over: they are no data.
    let numbers = value
        .split(',')
        .filter_map(|v| v.trim().parse::<f64>().ok());
    let measured = if value.contains(',') {
        MetricValue::vector(numbers)
    } else {
        numbers.into_iter().next().and_then(MetricValue::scalar)
    };
    let measured = measured.unwrap_or(MetricValue::Scalar(0.0));
    let verdict = condition.evaluate(&measured);
    assert_eq!(
        verdict,
        condition.evaluate(&measured),
        "{source} on {measured}"
    );
    results.push(measured);
    for result in &results {
        if let Err(e) = condition.evaluate(result) {
            assert!(!e.to_string().is_empty());
        }
    }
});
