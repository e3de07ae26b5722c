//! The functions the providers read outside input with (answer bodies,
//! headers, scraped pages), reachable from outside the crate for the fuzz
//! targets under `fuzz/`. Each is the providers' own code, unchanged: the
//! HTTP round trip is all a target leaves out. Not an API.

use std::time::Duration;

pub use reqwest::StatusCode;

pub use super::jsonpath::select as jsonpath_select;
pub use super::prom_text::{Sample, parse as parse_exposition};
use crate::analysis::value::MetricValue;
use crate::crd::analysis::{CounterSelector, DatadogAggregator};

/// A Prometheus instant query's answer.
pub fn prometheus_answer(status: StatusCode, text: &str) -> Result<Option<MetricValue>, String> {
    super::prometheus::read_answer(status, text)
}

/// A successful Datadog answer, v1 or v2.
pub fn datadog_answer(
    v2: bool,
    text: &str,
    aggregator: DatadogAggregator,
) -> Result<Option<MetricValue>, String> {
    super::datadog::read_answer(v2, text, aggregator)
}

/// A failed Datadog answer's reason.
pub fn datadog_errors(text: &str) -> String {
    super::datadog::errors(text)
}

/// The wait after a Datadog 429, from its `x-ratelimit-reset` header.
pub fn datadog_rate_limit_wait(reset: Option<&str>) -> Duration {
    super::datadog::rate_limit_wait(reset)
}

/// A web metric's successful answer, read at `json_path`.
pub fn web_answer(text: &str, json_path: Option<&str>) -> Result<Option<MetricValue>, String> {
    super::web::read_answer(text, json_path)
}

/// A pod scrape's counter increase between two scrapes of each endpoint.
pub fn scrape_increase(
    before: &[(String, Vec<Sample>)],
    after: &[(String, Vec<Sample>)],
    selector: &CounterSelector,
) -> f64 {
    super::pod_scrape::increase(before, after, selector)
}
