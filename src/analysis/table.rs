//! An analysis run as a person reads it: what was measured, against which
//! condition, and what that decided.

use std::fmt::Write as _;

use crate::crd::analysis::AnalysisRunStatus;

pub fn render(name: &str, status: &AnalysisRunStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "AnalysisRun {name}: {} — {}",
        status.phase.as_deref().unwrap_or("Pending"),
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
                    m.phase.clone(),
                    m.value.clone().unwrap_or_else(|| "-".into()),
                    m.message.clone().unwrap_or_default(),
                ]
            })
            .collect();
        let headers = ["FINISHED", "PHASE", "VALUE", "MESSAGE"];
        let widths: Vec<usize> = (0..3)
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].len())
                    .chain([headers[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let _ = writeln!(
            out,
            "  {:w0$}  {:w1$}  {:w2$}  {}",
            headers[0],
            headers[1],
            headers[2],
            headers[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
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
