//! Datadog metrics: v1 `/api/v1/query` and v2 timeseries with formulas.
//! Keys come from a Secret and are sent as headers, never logged.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::http::{body, describe, excerpt};
use super::provider::{Measured, Provider};
use crate::analysis::evaluate::{MeasureError, Observation};
use crate::analysis::plan::DatadogSecret;
use crate::analysis::plan::{MetricPlan, Query};
use crate::analysis::value::MetricValue;
use crate::crd::analysis::DatadogAggregator;

/// 429 answers are retried after the advertised reset, this often at most.
const RATE_LIMIT_RETRIES: usize = 3;
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Datadog API and application keys by the Secret a metric names.
pub trait DatadogKeys: Send + Sync {
    fn keys(&self, secret: &DatadogSecret) -> Result<(String, String), String>;
}

/// Keys known up front, for the local platform and tests.
pub struct StaticKeys {
    pub api_key: String,
    pub app_key: String,
}

impl DatadogKeys for StaticKeys {
    fn keys(&self, _secret: &DatadogSecret) -> Result<(String, String), String> {
        Ok((self.api_key.clone(), self.app_key.clone()))
    }
}

pub struct Datadog {
    client: Client,
    keys: Arc<dyn DatadogKeys>,
}

impl Datadog {
    pub fn new(client: Client, keys: Arc<dyn DatadogKeys>) -> Self {
        Self { client, keys }
    }

    async fn observe(&self, plan: &MetricPlan) -> Result<Observation, MeasureError> {
        let Query::Datadog {
            v2,
            query,
            queries,
            formula,
            window_ms,
            aggregator,
            site,
            secret,
            request_timeout_ms,
        } = &plan.query
        else {
            return Err(MeasureError::new("", "not a Datadog query"));
        };
        let shown = plan.query.shown();
        let fail = |reason: String| MeasureError::new(shown.clone(), reason);
        let (api_key, app_key) = self
            .keys
            .keys(secret)
            .map_err(|e| fail(format!("Datadog keys from {secret}: {e}")))?;
        let timeout = Duration::from_millis(request_timeout_ms.unsigned_abs());
        let base = if site.starts_with("http://") || site.starts_with("https://") {
            site.trim_end_matches('/').to_owned()
        } else {
            format!("https://api.{site}")
        };
        let to = jiff::Timestamp::now().as_second();
        let from = to - window_ms / 1000;
        let value = if *v2 {
            let mut named: Vec<Value> = queries
                .iter()
                .map(|(name, q)| json!({"data_source": "metrics", "query": q.sent, "name": name}))
                .collect();
            if let Some(q) = query {
                named.push(json!({"data_source": "metrics", "query": q.sent, "name": "query"}));
            }
            let formulas = match formula {
                Some(f) => json!([{ "formula": f }]),
                None => {
                    json!([{ "formula": named.first().and_then(|q| q.get("name")).cloned().unwrap_or(json!("query")) }])
                }
            };
            let request = json!({"data": {"type": "timeseries_request", "attributes": {
                "from": from * 1000, "to": to * 1000, "queries": named, "formulas": formulas
            }}});
            let answer = self
                .send(
                    || {
                        self.client
                            .post(format!("{base}/api/v2/query/timeseries"))
                            .json_body(&request)
                    },
                    &api_key,
                    &app_key,
                    timeout,
                )
                .await
                .map_err(fail)?;
            read_answer(true, &answer, *aggregator).map_err(fail)?
        } else {
            let q = query.as_ref().map(|q| q.sent.clone()).unwrap_or_default();
            let answer = self
                .send(
                    || {
                        self.client.get(format!("{base}/api/v1/query")).query(&[
                            ("from", from.to_string()),
                            ("to", to.to_string()),
                            ("query", q.clone()),
                        ])
                    },
                    &api_key,
                    &app_key,
                    timeout,
                )
                .await
                .map_err(fail)?;
            read_answer(false, &answer, *aggregator).map_err(fail)?
        };
        Ok(Observation {
            detail: None,
            value,
            traffic: None,
            query: shown,
        })
    }

    /// Sends, retrying 429s after the reset Datadog advertises; the body
    /// of a successful answer.
    async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        api_key: &str,
        app_key: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        for attempt in 0..=RATE_LIMIT_RETRIES {
            let response = build()
                .header("DD-API-KEY", api_key)
                .header("DD-APPLICATION-KEY", app_key)
                .timeout(timeout)
                .send()
                .await
                .map_err(describe)?;
            let status = response.status();
            let reset = response
                .headers()
                .get("x-ratelimit-reset")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let text = body(response).await?;
            match status {
                StatusCode::TOO_MANY_REQUESTS if attempt < RATE_LIMIT_RETRIES => {
                    tokio::time::sleep(rate_limit_wait(reset.as_deref())).await;
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    return Err(format!(
                        "rate limited by Datadog {} times in a row",
                        RATE_LIMIT_RETRIES + 1
                    ));
                }
                StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
                    return Err(format!(
                        "HTTP {status}: Datadog refused the API or application key: {}",
                        errors(&text)
                    ));
                }
                s if !s.is_success() => return Err(format!("HTTP {status}: {}", errors(&text))),
                _ => return Ok(text),
            }
        }
        Err("rate limited".into())
    }
}

trait JsonBody {
    fn json_body(self, value: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, value: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }
}

impl Provider for Datadog {
    fn measure<'a>(&'a self, plan: &'a MetricPlan) -> Measured<'a> {
        Box::pin(self.observe(plan))
    }
}

/// How long to wait after a 429, from its `x-ratelimit-reset` header
/// (seconds until the limit resets).
pub(super) fn rate_limit_wait(reset: Option<&str>) -> Duration {
    // `NaN` parses as a number; a wait of NaN seconds does not exist.
    let seconds = reset
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| !s.is_nan())
        .unwrap_or(1.0);
    Duration::from_secs_f64(seconds.clamp(0.0, MAX_RATE_LIMIT_WAIT.as_secs_f64()))
}

/// A successful answer's body: the metric's value, aggregated over the
/// first series (v1) or formula (v2), or why it says nothing usable.
pub(super) fn read_answer(
    v2: bool,
    text: &str,
    aggregator: DatadogAggregator,
) -> Result<Option<MetricValue>, String> {
    let answer: Value = serde_json::from_str(text)
        .map_err(|e| format!("answer is not JSON ({e}): {}", excerpt(text)))?;
    let values = if v2 {
        v2_values(&answer)?
    } else {
        v1_values(&answer)?
    };
    Ok(aggregate(&values, aggregator))
}

/// Datadog's `{"errors": [...]}`, or the body itself.
pub(super) fn errors(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("errors").cloned())
        .and_then(|e| e.as_array().cloned())
        .map(|list| {
            list.iter()
                .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_else(|| excerpt(text))
}

/// v1: the first series' points.
fn v1_values(answer: &Value) -> Result<Vec<f64>, String> {
    if answer.get("status").and_then(Value::as_str) == Some("error") {
        let message = answer
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        return Err(format!("datadog error: {message}"));
    }
    let series = answer
        .get("series")
        .and_then(Value::as_array)
        .ok_or("answer has no `series`")?;
    Ok(series
        .first()
        .and_then(|s| s.get("pointlist"))
        .and_then(Value::as_array)
        .map(|points| {
            points
                .iter()
                .filter_map(|p| p.get(1).and_then(Value::as_f64))
                .collect()
        })
        .unwrap_or_default())
}

/// v2: the first formula's values.
fn v2_values(answer: &Value) -> Result<Vec<f64>, String> {
    if let Some(errors) = answer
        .get("errors")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
    {
        return Err(format!("datadog error: {errors}"));
    }
    let values = answer
        .pointer("/data/attributes/values")
        .and_then(Value::as_array)
        .ok_or("answer has no `data.attributes.values`")?;
    Ok(values
        .first()
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default())
}

fn aggregate(values: &[f64], aggregator: DatadogAggregator) -> Option<MetricValue> {
    let values: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let value = match aggregator {
        DatadogAggregator::Avg | DatadogAggregator::Mean => values.iter().sum::<f64>() / n,
        DatadogAggregator::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        DatadogAggregator::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        DatadogAggregator::Sum => values.iter().sum(),
        DatadogAggregator::Last => *values.last()?,
    };
    MetricValue::scalar(value)
}
