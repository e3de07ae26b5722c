//! Any HTTP endpoint answering JSON, with a JSONPath to the number.

use std::time::Duration;

use serde_json::Value;

use super::http::{Clients, UNVERIFIED, body, describe, excerpt};
use super::jsonpath;
use super::provider::{Measured, Provider};
use crate::analysis::evaluate::{MeasureError, Observation};
use crate::analysis::plan::{MetricPlan, Query};
use crate::analysis::value::MetricValue;

pub struct Web {
    clients: Clients,
}

impl Web {
    pub fn new(clients: Clients) -> Self {
        Self { clients }
    }

    async fn observe(&self, plan: &MetricPlan) -> Result<Observation, MeasureError> {
        let Query::Web {
            url,
            post,
            headers,
            body: request_body,
            json_path,
            timeout_ms,
            insecure,
        } = &plan.query
        else {
            return Err(MeasureError::new("", "not a web query"));
        };
        let shown = plan.query.shown();
        let fail = |reason: String| MeasureError::new(shown.clone(), reason);
        let client = self.clients.pick(*insecure);
        let mut request = if *post {
            client.post(&url.sent)
        } else {
            client.get(&url.sent)
        }
        .timeout(Duration::from_millis(
            u64::try_from(*timeout_ms).unwrap_or(30_000),
        ));
        for (key, value) in headers {
            request = request.header(key, &value.sent);
        }
        if let Some(b) = request_body {
            request = request
                .header("content-type", "application/json")
                .body(b.sent.clone());
        }
        let response = request.send().await.map_err(|e| fail(describe(e)))?;
        let status = response.status();
        let text = body(response).await.map_err(fail)?;
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}: {}", excerpt(&text))));
        }
        Ok(Observation {
            detail: insecure.then(|| UNVERIFIED.to_owned()),
            value: read_answer(&text, json_path.as_deref()).map_err(fail)?,
            traffic: None,
            query: shown,
        })
    }
}

impl Provider for Web {
    fn measure<'a>(&'a self, plan: &'a MetricPlan) -> Measured<'a> {
        Box::pin(self.observe(plan))
    }
}

/// A successful answer's body: the number (or list of numbers) at
/// `json_path`, or the whole body without one.
pub(super) fn read_answer(
    text: &str,
    json_path: Option<&str>,
) -> Result<Option<MetricValue>, String> {
    let json: Value = serde_json::from_str(text)
        .map_err(|e| format!("answer is not JSON ({e}): {}", excerpt(text)))?;
    let node = match json_path {
        Some(path) => jsonpath::select(&json, path)?,
        None => &json,
    };
    to_value(node)
}

fn number(node: &Value) -> Result<f64, String> {
    match node {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a number")),
        other => Err(format!("{other} is not a number")),
    }
}

fn to_value(node: &Value) -> Result<Option<MetricValue>, String> {
    match node {
        Value::Null => Ok(None),
        Value::Array(items) => Ok(MetricValue::vector(
            items.iter().map(number).collect::<Result<Vec<_>, _>>()?,
        )),
        other => Ok(MetricValue::scalar(number(other)?)),
    }
}
