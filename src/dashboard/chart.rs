//! One metric's measurements over time as an inline SVG, against the
//! thresholds its conditions compare with. Each measurement's phase is a
//! shape as well as a colour (circle passed, cross failed, diamond
//! inconclusive, square error), every point carries its time, value and
//! phase as a tooltip, and the picture has a text description; the
//! measurements are also listed in a table beside it.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::html::esc;
use super::threshold::{Kind, Threshold, number};
use crate::crd::analysis::{AnalysisPhase, Measurement};

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 28.0;

/// The numbers a measurement recorded: one, or one per series (`[a, b]`).
pub fn values(measurement: &Measurement) -> Vec<f64> {
    let Some(text) = measurement.value.as_deref() else {
        return Vec::new();
    };
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    inner
        .split(',')
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .collect()
}

fn time_of(measurement: &Measurement) -> Option<Timestamp> {
    measurement
        .finished_at
        .as_deref()
        .or(measurement.started_at.as_deref())
        .and_then(|t| t.parse().ok())
}

pub fn phase_word(phase: AnalysisPhase) -> &'static str {
    match phase {
        AnalysisPhase::Pending => "Pending",
        AnalysisPhase::Running => "Running",
        AnalysisPhase::Successful => "Successful",
        AnalysisPhase::Failed => "Failed",
        AnalysisPhase::Error => "Error",
        AnalysisPhase::Inconclusive => "Inconclusive",
    }
}

/// The chart; `id` makes its title and description ids unique on the page.
pub fn chart(
    id: &str,
    metric: &str,
    measurements: &[Measurement],
    thresholds: &[Threshold],
) -> String {
    let times: Vec<Option<Timestamp>> = measurements.iter().map(time_of).collect();
    let numbers: Vec<Vec<f64>> = measurements.iter().map(values).collect();
    let (low, high) = range(&numbers, thresholds);
    let y = |v: f64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - (v - low) / (high - low));
    let x_of = x_positions(&times);

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-t {id}-d"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
        esc(metric),
        esc(&describe(measurements, &numbers, thresholds)),
    );
    // Axes and three value ticks.
    let bottom = HEIGHT - BOTTOM;
    let _ = write!(
        svg,
        r#"<g class="axis"><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/><line x1="{LEFT}" y1="{bottom}" x2="{}" y2="{bottom}"/>"#,
        WIDTH - RIGHT
    );
    for tick in [low, (low + high) / 2.0, high] {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y(tick) + 4.0,
            number(tick)
        );
    }
    let first = times.iter().flatten().min();
    let last = times.iter().flatten().max();
    if let (Some(first), Some(last)) = (first, last) {
        let _ = write!(
            svg,
            r#"<text x="{LEFT}" y="{}" text-anchor="start">{}</text>"#,
            HEIGHT - 8.0,
            clock(*first)
        );
        if last > first {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                WIDTH - RIGHT,
                HEIGHT - 8.0,
                clock(*last)
            );
        }
    }
    svg.push_str("</g>");
    for threshold in thresholds {
        let ty = y(threshold.value);
        let class = match threshold.kind {
            Kind::Success => "threshold success",
            Kind::Failure => "threshold failure",
        };
        let _ = write!(
            svg,
            r#"<g class="{class}"><line x1="{LEFT}" y1="{ty:.1}" x2="{}" y2="{ty:.1}"/><text x="{}" y="{:.1}" text-anchor="end">{}</text></g>"#,
            WIDTH - RIGHT,
            WIDTH - RIGHT - 2.0,
            ty - 4.0,
            esc(&threshold.label())
        );
    }
    // The first series joined by a line, so a trend reads at a glance.
    let path: Vec<String> = numbers
        .iter()
        .zip(&x_of)
        .filter_map(|(values, x)| values.first().map(|v| format!("{x:.1},{:.1}", y(*v))))
        .collect();
    if path.len() > 1 {
        let _ = write!(
            svg,
            r#"<polyline class="trend" points="{}"/>"#,
            path.join(" ")
        );
    }
    for ((measurement, values), (x, at)) in measurements
        .iter()
        .zip(&numbers)
        .zip(x_of.iter().zip(&times))
    {
        let when = at.map(clock).unwrap_or_else(|| "no time".into());
        let shown = measurement.value.as_deref().unwrap_or("no value");
        let phase = phase_word(measurement.phase);
        let _ = write!(
            svg,
            r#"<g class="point {}"><title>{} · {} · {phase}</title>"#,
            phase.to_ascii_lowercase(),
            esc(&when),
            esc(shown)
        );
        if values.is_empty() {
            // No number to place: a mark on the time axis.
            svg.push_str(&shape(measurement.phase, *x, bottom));
        }
        for value in values {
            svg.push_str(&shape(measurement.phase, *x, y(*value)));
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

/// Where each measurement sits across: by time when every one has a time
/// and they differ, else evenly in order.
fn x_positions(times: &[Option<Timestamp>]) -> Vec<f64> {
    let span = WIDTH - LEFT - RIGHT - 24.0;
    let start = LEFT + 12.0;
    let known: Option<Vec<Timestamp>> = times.iter().copied().collect();
    if let Some(known) = known
        && let (Some(first), Some(last)) = (known.iter().min(), known.iter().max())
        && last > first
    {
        let total = (last.as_millisecond() - first.as_millisecond()) as f64;
        return known
            .iter()
            .map(|t| start + span * (t.as_millisecond() - first.as_millisecond()) as f64 / total)
            .collect();
    }
    match times.len() {
        0 => Vec::new(),
        1 => vec![start + span / 2.0],
        n => (0..n)
            .map(|i| start + span * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

/// The values' and thresholds' range with some room above, always
/// including zero for values that are all positive.
fn range(numbers: &[Vec<f64>], thresholds: &[Threshold]) -> (f64, f64) {
    let all = numbers
        .iter()
        .flatten()
        .copied()
        .chain(thresholds.iter().map(|t| t.value));
    let (mut low, mut high) = all.fold((0.0_f64, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if high == f64::MIN || high <= low {
        high = low + 1.0;
    }
    high += (high - low) * 0.1;
    if low < 0.0 {
        low -= (high - low) * 0.05;
    }
    (low, high)
}

fn shape(phase: AnalysisPhase, x: f64, y: f64) -> String {
    match phase {
        AnalysisPhase::Successful => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="4.5"/>"#),
        AnalysisPhase::Failed => format!(
            r#"<path d="M{:.1} {:.1}L{:.1} {:.1}M{:.1} {:.1}L{:.1} {:.1}"/>"#,
            x - 5.0,
            y - 5.0,
            x + 5.0,
            y + 5.0,
            x - 5.0,
            y + 5.0,
            x + 5.0,
            y - 5.0
        ),
        AnalysisPhase::Inconclusive => format!(
            r#"<path d="M{x:.1} {:.1}L{:.1} {y:.1}L{x:.1} {:.1}L{:.1} {y:.1}Z"/>"#,
            y - 6.0,
            x + 6.0,
            y + 6.0,
            x - 6.0
        ),
        AnalysisPhase::Error => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="9" height="9"/>"#,
            x - 4.5,
            y - 4.5
        ),
        AnalysisPhase::Pending | AnalysisPhase::Running => {
            format!(r#"<circle class="open" cx="{x:.1}" cy="{y:.1}" r="4.5"/>"#)
        }
    }
}

fn clock(at: Timestamp) -> String {
    at.strftime("%H:%M:%S").to_string()
}

/// The chart in words, for screen readers and tooltips.
fn describe(
    measurements: &[Measurement],
    numbers: &[Vec<f64>],
    thresholds: &[Threshold],
) -> String {
    let mut text = match measurements.len() {
        0 => "no measurements yet".to_owned(),
        1 => "1 measurement".to_owned(),
        n => format!("{n} measurements"),
    };
    if let (Some(last), Some(values)) = (measurements.last(), numbers.last()) {
        let value = if values.is_empty() {
            "no value".to_owned()
        } else {
            values
                .iter()
                .map(|v| number(*v))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(text, "; latest {value} ({})", phase_word(last.phase));
    }
    for threshold in thresholds {
        let _ = write!(text, "; {}", threshold.label());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::threshold::thresholds;

    fn measured(value: Option<&str>, phase: AnalysisPhase, at: &str) -> Measurement {
        Measurement {
            phase,
            value: value.map(str::to_owned),
            finished_at: Some(at.to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn every_measurement_is_a_point_with_its_phase_and_the_threshold_a_line() {
        let measurements = [
            measured(
                Some("0.01"),
                AnalysisPhase::Successful,
                "2026-01-10T10:00:01Z",
            ),
            measured(Some("0.3"), AnalysisPhase::Failed, "2026-01-10T10:00:31Z"),
            measured(None, AnalysisPhase::Error, "2026-01-10T10:01:01Z"),
        ];
        let svg = chart(
            "m1",
            "error-rate",
            &measurements,
            &thresholds(Some("result <= 0.05"), None),
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.ends_with("</svg>"), "{svg}");
        assert_eq!(svg.matches(r#"<g class="point "#).count(), 3, "{svg}");
        assert!(
            svg.contains("<title>10:00:31 · 0.3 · Failed</title>"),
            "{svg}"
        );
        assert!(svg.contains("success when ≤ 0.05"), "{svg}");
        assert!(
            svg.contains("3 measurements; latest no value (Error); success when ≤ 0.05"),
            "{svg}"
        );
        assert!(svg.contains("<polyline"), "{svg}");
    }

    #[test]
    fn vectors_draw_a_point_per_series_and_names_are_escaped() {
        let measurements = [measured(
            Some("[0.1, 0.2]"),
            AnalysisPhase::Successful,
            "2026-01-10T10:00:01Z",
        )];
        let svg = chart("m2", "<b>", &measurements, &[]);
        assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
        assert!(
            svg.contains("<title id=\"m2-t\">&lt;b&gt;</title>"),
            "{svg}"
        );
        assert_eq!(
            values(&measured(Some("NaN"), AnalysisPhase::Error, "x")),
            Vec::<f64>::new()
        );
    }
}
