//! An analysis run as a person reads it: what was measured, against which
//! condition, and what that decided.

use std::fmt::Write as _;

use crate::crd::analysis::AnalysisRunStatus;

pub fn render(name: &str, status: &AnalysisRunStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "AnalysisRun {name}: {} — {}",
        status.phase.unwrap_or_default(),
        status.message.as_deref().unwrap_or("")
    );
    if let Some(s) = &status.run_summary {
        let _ = writeln!(
            out,
            "measurements: {} ({} successful, {} failed, {} inconclusive, {} error)",
            s.count, s.successful, s.failed, s.inconclusive, s.error
        );
    }
    for metric in &status.metric_results {
        let dry = if metric.dry_run == Some(true) {
            " (dry run)"
        } else {
            ""
        };
        let _ = writeln!(out, "\nmetric {}{dry}: {}", metric.name, metric.phase);
        if let Some(message) = &metric.message {
            let _ = writeln!(out, "  {message}");
        }
        if let Some(query) = metric.measurements.last().and_then(|m| m.query.as_deref()) {
            let _ = writeln!(
                out,
                "  query: {}",
                query.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
        if let Some(condition) = metric
            .measurements
            .last()
            .and_then(|m| m.condition.as_deref())
        {
            let _ = writeln!(out, "  condition: {condition}");
        }
        let rows: Vec<[String; 4]> = metric
            .measurements
            .iter()
            .map(|m| {
                [
                    m.finished_at.clone().unwrap_or_default(),
                    m.phase.to_string(),
                    m.value.clone().unwrap_or_else(|| "-".into()),
                    m.message.clone().unwrap_or_default(),
                ]
            })
            .collect();
        let header = ["FINISHED", "PHASE", "VALUE", "MESSAGE"].map(str::to_owned);
        let rows: Vec<[String; 4]> = std::iter::once(header).chain(rows).collect();
        let widths: Vec<usize> = (0..3)
            .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
            .collect();
        for r in rows {
            let _ = writeln!(
                out,
                "  {:w0$}  {:w1$}  {:w2$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::analysis::{AnalysisPhase, Measurement, MetricResult, RunSummary};

    #[test]
    fn shows_query_condition_and_each_measurement() {
        let status = AnalysisRunStatus {
            phase: Some(AnalysisPhase::Failed),
            message: Some("metric error-rate failed".into()),
            started_at: None,
            run_summary: Some(RunSummary {
                count: 2,
                successful: 1,
                failed: 1,
                inconclusive: 0,
                error: 0,
            }),
            metric_results: vec![MetricResult {
                name: "error-rate".into(),
                phase: AnalysisPhase::Failed,
                measurements: vec![
                    Measurement {
                        phase: AnalysisPhase::Successful,
                        value: Some("0.01".into()),
                        query: Some("sum(rate(errors[1m]))".into()),
                        condition: Some("result <= 0.05".into()),
                        finished_at: Some("2026-11-24T10:00:01Z".into()),
                        ..Default::default()
                    },
                    Measurement {
                        phase: AnalysisPhase::Failed,
                        value: Some("0.3".into()),
                        query: Some("sum(rate(errors[1m]))".into()),
                        condition: Some("result <= 0.05".into()),
                        message: Some(
                            "0.3: successCondition `result <= 0.05` does not hold".into(),
                        ),
                        finished_at: Some("2026-11-24T10:00:31Z".into()),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
        };
        let text = render("helpdesk-abc-1-step2", &status);
        assert!(
            text.starts_with("AnalysisRun helpdesk-abc-1-step2: Failed — metric error-rate failed"),
            "{text}"
        );
        assert!(
            text.contains("measurements: 2 (1 successful, 1 failed"),
            "{text}"
        );
        assert!(text.contains("query: sum(rate(errors[1m]))"), "{text}");
        assert!(text.contains("condition: result <= 0.05"), "{text}");
        assert!(
            text.contains("2026-11-24T10:00:31Z  Failed      0.3    0.3: successCondition"),
            "{text}"
        );
    }
}
