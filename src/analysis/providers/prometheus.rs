//! Prometheus instant queries (`/api/v1/query`).

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::Value;

use super::http::{Clients, UNVERIFIED, body, describe, excerpt};
use super::provider::{Measured, Provider};
use crate::analysis::evaluate::{MeasureError, Observation};
use crate::analysis::plan::{MetricPlan, Query};
use crate::analysis::value::MetricValue;

pub struct Prometheus {
    clients: Clients,
}

impl Prometheus {
    pub fn new(clients: Clients) -> Self {
        Self { clients }
    }

    async fn observe(&self, plan: &MetricPlan) -> Result<Observation, MeasureError> {
        let Query::Prometheus {
            address,
            query,
            timeout_ms,
            headers,
            insecure,
        } = &plan.query
        else {
            return Err(MeasureError::new("", "not a Prometheus query"));
        };
        let shown = plan.query.shown();
        let fail = |reason: String| MeasureError::new(shown.clone(), reason);
        let client = self.clients.pick(*insecure);
        let value = self
            .instant(client, &address.sent, &query.sent, *timeout_ms, headers)
            .await
            .map_err(fail)?;
        let traffic = match plan.minimum_traffic.as_ref().and_then(|g| g.query.as_ref()) {
            Some(count) => {
                let counted = self
                    .instant(client, &address.sent, &count.sent, *timeout_ms, headers)
                    .await
                    .map_err(|e| fail(format!("minimumTraffic query: {e}")))?;
                Some(match counted {
                    Some(MetricValue::Scalar(v)) => v,
                    Some(MetricValue::Vector(values)) => values.iter().sum(),
                    None => 0.0,
                })
            }
            None => None,
        };
        Ok(Observation {
            detail: insecure.then(|| UNVERIFIED.to_owned()),
            value,
            traffic,
            query: shown,
        })
    }

    async fn instant(
        &self,
        client: &Client,
        address: &str,
        query: &str,
        timeout_ms: i64,
        headers: &[(String, crate::analysis::args::Resolved)],
    ) -> Result<Option<MetricValue>, String> {
        let url = format!("{}/api/v1/query", address.trim_end_matches('/'));
        let mut request =
            client
                .get(url)
                .query(&[("query", query)])
                .timeout(Duration::from_millis(
                    u64::try_from(timeout_ms).unwrap_or(30_000),
                ));
        for (key, value) in headers {
            request = request.header(key, &value.sent);
        }
        let response = request.send().await.map_err(describe)?;
        let status = response.status();
        let text = body(response).await?;
        read_answer(status, &text)
    }
}

/// An instant query's answer, given its HTTP status and body: the value,
/// `None` for no data, or why the answer says nothing usable.
pub(super) fn read_answer(status: StatusCode, text: &str) -> Result<Option<MetricValue>, String> {
    let success = status.is_success();
    let json: Value = match serde_json::from_str(text) {
        Ok(json) => json,
        Err(_) if !success => {
            return Err(format!("HTTP {status}: {}", excerpt(text)));
        }
        Err(e) => return Err(format!("answer is not JSON ({e}): {}", excerpt(text))),
    };
    if json.get("status").and_then(Value::as_str) == Some("error") {
        let kind = json
            .get("errorType")
            .and_then(Value::as_str)
            .unwrap_or("error");
        let message = json
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        return Err(format!("prometheus {kind}: {message}"));
    }
    if !success {
        return Err(format!("HTTP {status}: {}", excerpt(text)));
    }
    parse_result(&json)
}

impl Provider for Prometheus {
    fn measure<'a>(&'a self, plan: &'a MetricPlan) -> Measured<'a> {
        Box::pin(self.observe(plan))
    }
}

/// `data.result` of an instant query; empty and NaN are no data.
fn parse_result(json: &Value) -> Result<Option<MetricValue>, String> {
    let data = json.get("data").ok_or("answer has no `data`")?;
    let kind = data.get("resultType").and_then(Value::as_str).unwrap_or("");
    let result = data.get("result").ok_or("answer has no `data.result`")?;
    match kind {
        "scalar" | "string" => Ok(MetricValue::scalar(sample(result)?)),
        "vector" => {
            let series = result.as_array().ok_or("`data.result` is not a list")?;
            let values = series
                .iter()
                .map(|s| sample(s.get("value").unwrap_or(&Value::Null)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(MetricValue::vector(values))
        }
        "matrix" => Err("range vector result: use an instant query (no [range] at the top)".into()),
        other => Err(format!("unknown resultType `{other}`")),
    }
}

/// `[timestamp, "value"]` to a number.
fn sample(pair: &Value) -> Result<f64, String> {
    let text = pair
        .get(1)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("sample {pair} is not [time, \"value\"]"))?;
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text
            .parse()
            .map_err(|_| format!("value `{text}` is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_shapes() {
        let v = |s: &str| parse_result(&serde_json::from_str(s).unwrap());
        assert_eq!(
            v(r#"{"data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.25"]}]}}"#),
            Ok(Some(MetricValue::Vector(vec![0.25])))
        );
        assert_eq!(
            v(r#"{"data":{"resultType":"vector","result":[]}}"#),
            Ok(None)
        );
        assert_eq!(
            v(r#"{"data":{"resultType":"vector","result":[{"value":[1,"NaN"]}]}}"#),
            Ok(None)
        );
        assert_eq!(
            v(r#"{"data":{"resultType":"scalar","result":[1,"3"]}}"#),
            Ok(Some(MetricValue::Scalar(3.0)))
        );
        assert_eq!(
            v(r#"{"data":{"resultType":"string","result":[1,"0.5"]}}"#),
            Ok(Some(MetricValue::Scalar(0.5)))
        );
        assert!(v(r#"{"data":{"resultType":"string","result":[1,"high"]}}"#).is_err());
        assert!(v(r#"{"data":{"resultType":"matrix","result":[]}}"#).is_err());
    }
}
