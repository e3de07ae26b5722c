//! Error rates with no metrics server: scrape the canary pods' own
//! `/metrics` twice, one window apart, and compare counters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use reqwest::Client;

use super::http::{body, describe, excerpt};
use super::prom_text::{self, Sample};
use super::provider::{Measured, Provider};
use crate::analysis::evaluate::{MeasureError, Observation};
use crate::analysis::plan::{MetricPlan, Query};
use crate::analysis::value::MetricValue;
use crate::crd::analysis::CounterSelector;

const DEFAULT_WINDOW_MS: i64 = 10_000;

/// The base URLs (`http://10.0.0.7:8080`) of the pods to scrape, given the
/// metric's port; the platform knows which pods are the canary's.
pub trait EndpointSource: Send + Sync {
    fn endpoints(&self, port: &IntOrString) -> Result<Vec<String>, String>;
}

/// Fixed endpoints, for the local platform and tests.
pub struct StaticEndpoints(pub Vec<String>);

impl EndpointSource for StaticEndpoints {
    fn endpoints(&self, _port: &IntOrString) -> Result<Vec<String>, String> {
        Ok(self.0.clone())
    }
}

pub struct PodScrape {
    client: Client,
    endpoints: Arc<dyn EndpointSource>,
}

impl PodScrape {
    pub fn new(client: Client, endpoints: Arc<dyn EndpointSource>) -> Self {
        Self { client, endpoints }
    }

    async fn observe(&self, plan: &MetricPlan) -> Result<Observation, MeasureError> {
        let Query::PodScrape {
            port,
            path,
            numerator,
            denominator,
        } = &plan.query
        else {
            return Err(MeasureError::new("", "not a podScrape query"));
        };
        let window_ms = plan
            .interval_ms
            .filter(|ms| *ms > 0)
            .unwrap_or(DEFAULT_WINDOW_MS);
        let shown = format!("{} over {}s", plan.query.shown(), window_ms / 1000);
        let fail = |reason: String| MeasureError::new(shown.clone(), reason);
        let endpoints = self.endpoints.endpoints(port).map_err(fail)?;
        if endpoints.is_empty() {
            return Ok(Observation {
                detail: None,
                value: None,
                traffic: Some(0.0),
                query: shown,
            });
        }
        let before = self.scrape_all(&endpoints, path).await.map_err(fail)?;
        tokio::time::sleep(Duration::from_millis(u64::try_from(window_ms).unwrap_or(0))).await;
        let after = self.scrape_all(&endpoints, path).await.map_err(fail)?;
        let num = increase(&before, &after, numerator);
        let (value, traffic) = match denominator {
            Some(den) => {
                let requests = increase(&before, &after, den);
                let ratio = if requests > 0.0 {
                    num / requests
                } else {
                    f64::NAN
                };
                (MetricValue::scalar(ratio), Some(requests))
            }
            None => (
                MetricValue::scalar(num / (window_ms as f64 / 1000.0)),
                Some(num),
            ),
        };
        Ok(Observation {
            detail: None,
            value,
            traffic,
            query: shown,
        })
    }

    /// Samples per endpoint; an endpoint that does not answer fails the scrape.
    async fn scrape_all(
        &self,
        endpoints: &[String],
        path: &str,
    ) -> Result<Vec<(String, Vec<Sample>)>, String> {
        let scrapes = endpoints.iter().map(|base| async move {
            let url = format!("{}{path}", base.trim_end_matches('/'));
            let response = self
                .client
                .get(&url)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .map_err(|e| format!("{base}: {}", describe(e)))?;
            let status = response.status();
            let text = body(response).await.map_err(|e| format!("{base}: {e}"))?;
            if !status.is_success() {
                return Err(format!("{base}: HTTP {status}: {}", excerpt(&text)));
            }
            let samples = prom_text::parse(&text).map_err(|e| format!("{base}: {e}"))?;
            Ok((base.clone(), samples))
        });
        futures_util::future::join_all(scrapes)
            .await
            .into_iter()
            .collect()
    }
}

impl Provider for PodScrape {
    fn measure<'a>(&'a self, plan: &'a MetricPlan) -> Measured<'a> {
        Box::pin(self.observe(plan))
    }
}

/// Increase of the selected counters from `before` to `after`, summed over
/// endpoints and series. A series that went down restarted from zero (a
/// counter reset), so its increase is its new value, as in PromQL.
pub(super) fn increase(
    before: &[(String, Vec<Sample>)],
    after: &[(String, Vec<Sample>)],
    selector: &CounterSelector,
) -> f64 {
    let patterns: Vec<(String, regex::Regex)> = selector
        .labels
        .iter()
        .filter_map(|(k, v)| {
            regex::Regex::new(&format!("^(?:{v})$"))
                .ok()
                .map(|r| (k.clone(), r))
        })
        .collect();
    let matches = |s: &Sample| {
        s.name == selector.metric
            && patterns
                .iter()
                .all(|(k, r)| r.is_match(s.labels.get(k).map_or("", String::as_str)))
    };
    let series = |scrape: &[Sample]| -> BTreeMap<Vec<(String, String)>, f64> {
        scrape
            .iter()
            .filter(|s| matches(s) && s.value.is_finite())
            .map(|s| (s.labels.clone().into_iter().collect(), s.value))
            .collect()
    };
    let mut total = 0.0;
    for (endpoint, now) in after {
        let then = before
            .iter()
            .find(|(e, _)| e == endpoint)
            .map(|(_, s)| series(s))
            .unwrap_or_default();
        for (labels, value) in series(now) {
            total += match then.get(&labels) {
                Some(old) if value >= *old => value - old,
                // New series in the window, or a counter reset.
                _ => value,
            };
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(lines: &str) -> Vec<(String, Vec<Sample>)> {
        vec![("a".into(), prom_text::parse(lines).unwrap())]
    }

    #[test]
    fn increases_with_resets() {
        let errors = CounterSelector {
            metric: "http_requests_total".into(),
            labels: [("code".to_owned(), "5..".to_owned())].into(),
        };
        let before =
            scrape("http_requests_total{code=\"500\"} 10\nhttp_requests_total{code=\"200\"} 90\n");
        let after = scrape(
            "http_requests_total{code=\"500\"} 15\nhttp_requests_total{code=\"200\"} 150\nhttp_requests_total{code=\"503\"} 2\n",
        );
        assert_eq!(increase(&before, &after, &errors), 7.0);
        let reset = scrape("http_requests_total{code=\"500\"} 3\n");
        assert_eq!(increase(&before, &reset, &errors), 3.0);
    }
}
