//! The Prometheus text exposition format as the pod-scrape provider reads
//! a canary pod's `/metrics`, and the counter increase it computes from two
//! scrapes. Input: the first scrape, then optionally a NUL byte and the
//! second. Checked: no panic; a malformed line fails the scrape naming a
//! line of the page; the increase from a scrape to itself is 0; and, when
//! every value could be a counter (none negative), it is never negative.
#![no_main]

use std::collections::BTreeMap;

use conductor::analysis::providers::fuzzing::{Sample, parse_exposition, scrape_increase};
use conductor::crd::analysis::CounterSelector;
use conductor_fuzz::text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let (first, second) = text.split_once('\0').unwrap_or((text, text));
    let Some(before) = scrape(first) else { return };
    let Some(after) = scrape(second) else { return };
    // Select by the first sample's name and labels, as a metric would.
    let Some(sample) = before.first().or(after.first()) else {
        return;
    };
    let selector = CounterSelector {
        metric: sample.name.clone(),
        labels: sample
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), regex_escape(v)))
            .collect::<BTreeMap<_, _>>(),
    };
    let endpoint = |samples: Vec<Sample>| vec![("http://10.0.0.7:8080".to_owned(), samples)];
    let (before, after) = (endpoint(before), endpoint(after));
    assert_eq!(scrape_increase(&before, &before, &selector), 0.0);
    let increase = scrape_increase(&before, &after, &selector);
    let counters = [&before, &after]
        .iter()
        .flat_map(|scrape| scrape[0].1.iter())
        .all(|s| s.value >= 0.0 || !s.value.is_finite());
    if counters {
        assert!(increase >= 0.0, "counters went up by {increase}");
    }
});

fn scrape(text: &str) -> Option<Vec<Sample>> {
    match parse_exposition(text) {
        Ok(samples) => Some(samples),
        Err(reason) => {
            let line: usize = reason
                .strip_prefix("line ")
                .and_then(|r| r.split(':').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a scrape error names no line: {reason}"));
            assert!((1..=text.lines().count()).contains(&line), "{reason}");
            None
        }
    }
}

/// A label value as a regular expression matching exactly it.
fn regex_escape(value: &str) -> String {
    value
        .chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}
