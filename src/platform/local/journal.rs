//! What happened in a local cluster, for a report: the engine's events,
//! every analysis measurement, each change of the canary's weight, and how
//! long an abort took after the measurement that decided it.

use serde::Serialize;

use crate::crd::analysis::AnalysisPhase;

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Journal {
    pub events: Vec<Line>,
    pub measurements: Vec<MeasurementLine>,
    pub weights: Vec<WeightLine>,
    /// From the end of the deciding measurement to the proxy sending 0% to
    /// the canary, for the latest abort.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort_latency_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    /// Seconds since the cluster started.
    pub at: f64,
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeasurementLine {
    pub at: f64,
    pub run: String,
    pub metric: String,
    pub phase: AnalysisPhase,
    pub value: Option<String>,
    /// The condition the value was judged by.
    pub condition: Option<String>,
    pub message: Option<String>,
    pub query: Option<String>,
    #[serde(skip)]
    pub finished: Option<jiff::Timestamp>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightLine {
    pub at: f64,
    pub weight: i32,
}
