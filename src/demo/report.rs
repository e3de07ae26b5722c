//! What `conductor demo` saw, for people (a summary) and machines (JSON).

use serde::Serialize;

use crate::crd::analysis::AnalysisPhase;

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub scenarios: Vec<Scenario>,
    /// 5xx answers users got from the stable revision, all scenarios together.
    pub stable_errors: u64,
    /// Every helpdesk process the demo started, to check none outlives it.
    pub pids: Vec<u32>,
    pub passed: bool,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scenario {
    pub revision: String,
    pub expected: String,
    pub outcome: String,
    pub seconds: f64,
    pub events: Vec<Line>,
    pub measurements: Vec<MeasurementLine>,
    pub weights: Vec<WeightLine>,
    pub stable: Traffic,
    pub canary: Traffic,
    /// Deciding measurement's end to the proxy sending 0% to the canary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort_latency_ms: Option<f64>,
    /// Whether any request reached the canary after its weight went to 0.
    pub canary_after_rollback: bool,
}

#[derive(Debug, Default, Serialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub struct Traffic {
    pub requests: u64,
    pub errors: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub at: f64,
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeasurementLine {
    pub at: f64,
    pub run: String,
    pub phase: AnalysisPhase,
    pub value: Option<String>,
    pub message: Option<String>,
    pub query: Option<String>,
    #[serde(skip)]
    pub finished: Option<jiff::Timestamp>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightLine {
    pub at: f64,
    pub weight: i32,
}

impl Report {
    pub fn summary(&self) -> String {
        let mut out = String::from("\nsummary\n");
        for s in &self.scenarios {
            out.push_str(&format!(
                "  {}: {} (expected {}) in {:.1}s; canary served {} requests ({} errors), stable {} ({} errors)\n",
                s.revision, s.outcome, s.expected, s.seconds, s.canary.requests, s.canary.errors, s.stable.requests, s.stable.errors
            ));
            if let Some(ms) = s.abort_latency_ms {
                out.push_str(&format!(
                    "    rolled back {ms:.0} ms after the deciding measurement; {} user requests reached the bad canary; after rollback: {}\n",
                    s.canary.requests,
                    if s.canary_after_rollback { "some" } else { "none" }
                ));
            }
        }
        out.push_str(&format!(
            "  stable revision errors: {}; result: {}\n",
            self.stable_errors,
            if self.passed {
                "as intended"
            } else {
                "NOT as intended"
            }
        ));
        out
    }
}
