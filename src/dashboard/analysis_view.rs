//! A rollout's analysis runs: per metric, every measurement charted
//! against the thresholds of its conditions, and listed in a table. Pure.

use std::fmt::Write as _;

use jiff::Timestamp;
use kube::ResourceExt;

use super::chart::{chart, phase_word};
use super::html::esc;
use super::threshold::{from_recorded, thresholds};
use super::time::time_tag;
use crate::crd::analysis::{AnalysisRun, Metric, MetricResult};

/// The runs shown; older ones are in `kubectl get analysisruns`.
pub const RUNS_SHOWN: usize = 4;

pub fn section(runs: &[AnalysisRun], now: Timestamp) -> String {
    let mut html =
        String::from(r#"<section aria-labelledby="analysis-h"><h2 id="analysis-h">Analysis</h2>"#);
    if runs.is_empty() {
        html.push_str("<p class=\"muted\">No analysis has run for this rollout.</p></section>");
        return html;
    }
    for run in runs.iter().take(RUNS_SHOWN) {
        run_article(&mut html, run, now);
    }
    if runs.len() > RUNS_SHOWN {
        let _ = write!(
            html,
            r#"<p class="muted">{} older runs are not shown.</p>"#,
            runs.len() - RUNS_SHOWN
        );
    }
    html.push_str("</section>");
    html
}

fn run_article(html: &mut String, run: &AnalysisRun, now: Timestamp) {
    let status = run.status.clone().unwrap_or_default();
    let phase = status.phase.map_or("Pending", phase_word);
    let _ = write!(
        html,
        r#"<article class="run"><h3>{} <span class="state phase-{}">{phase}</span></h3>"#,
        esc(&run.name_any()),
        phase.to_ascii_lowercase()
    );
    if let Some(message) = status.message.as_deref().filter(|m| !m.is_empty()) {
        let _ = write!(html, r#"<p class="message">{}</p>"#, esc(message));
    }
    for (metric_index, spec) in run.spec.metrics.iter().enumerate() {
        let result = status.metric_results.iter().find(|r| r.name == spec.name);
        // Ids stay the same from one live update to the next, so an open
        // list of measurements stays open.
        let id = format!("m-{}-{metric_index}", run.name_any());
        metric_figure(html, &id, spec, result, now);
    }
    html.push_str("</article>");
}

fn metric_figure(
    html: &mut String,
    id: &str,
    spec: &Metric,
    result: Option<&MetricResult>,
    now: Timestamp,
) {
    let measurements = result.map(|r| r.measurements.as_slice()).unwrap_or(&[]);
    let mut lines = thresholds(
        spec.success_condition.as_deref(),
        spec.failure_condition.as_deref(),
    );
    if lines.is_empty()
        && let Some(recorded) = measurements
            .iter()
            .rev()
            .find_map(|m| m.condition.as_deref())
    {
        lines = from_recorded(recorded);
    }
    let condition = match (&spec.success_condition, &spec.failure_condition) {
        (Some(s), Some(f)) => format!(
            "success when <code>{}</code>, failure when <code>{}</code>",
            esc(s),
            esc(f)
        ),
        (Some(s), None) => format!("success when <code>{}</code>", esc(s)),
        (None, Some(f)) => format!("failure when <code>{}</code>", esc(f)),
        (None, None) => "no condition".to_owned(),
    };
    let phase = result.map_or("Pending", |r| phase_word(r.phase));
    let counts = result
        .map(|r| {
            format!(
                "{} measured: {} successful, {} failed, {} inconclusive, {} errors",
                r.count, r.successful, r.failed, r.inconclusive, r.error
            )
        })
        .unwrap_or_else(|| "not measured yet".to_owned());
    let dry_run = if result.and_then(|r| r.dry_run) == Some(true) {
        " (dry run: does not decide the rollout)"
    } else {
        ""
    };
    let _ = write!(
        html,
        r#"<figure><figcaption><strong>{}</strong>: <span class="state">{phase}</span>{dry_run}; {condition}. {counts}.</figcaption>{}"#,
        esc(&spec.name),
        chart(&esc(id).to_string(), &spec.name, measurements, &lines)
    );
    html.push_str(r#"<p class="muted legend">● successful · ✕ failed · ◆ inconclusive · ■ error · ○ running; dashed lines are the conditions' thresholds.</p>"#);
    if !measurements.is_empty() {
        let _ = write!(
            html,
            r#"<details id="{}-list"><summary>The {} measurements</summary><table class="stack"><thead><tr><th>When</th><th class="num">Value</th><th>Phase</th><th>Message</th></tr></thead><tbody>"#,
            esc(id),
            measurements.len()
        );
        for m in measurements.iter().rev() {
            let when = m
                .finished_at
                .as_deref()
                .or(m.started_at.as_deref())
                .map(|t| time_tag(t, now))
                .unwrap_or_default();
            let _ = write!(
                html,
                r#"<tr><td data-label="When">{when}</td><td class="num" data-label="Value">{}</td><td data-label="Phase">{}</td><td data-label="Message">{}</td></tr>"#,
                esc(m.value.as_deref().unwrap_or("–")),
                phase_word(m.phase),
                esc(m.message.as_deref().unwrap_or(""))
            );
        }
        html.push_str("</tbody></table></details>");
    }
    html.push_str("</figure>");
}
