//! The controller's resident memory over the run, read from
//! `/proc/<pid>/status` once a second, and its trend as a least-squares
//! slope.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::controller_child::memory;

/// `(seconds since the run started, VmRSS in MiB)`.
pub type Points = Arc<Mutex<Vec<(f64, f64)>>>;

/// Samples `pid` every second from `start` until the process is gone or
/// the task is aborted.
pub fn sample(pid: u32, start: Instant) -> (Points, tokio::task::JoinHandle<()>) {
    let points = Points::default();
    let task = tokio::spawn({
        let points = points.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Ok((rss, _)) = memory(pid) else { return };
                let at = start.elapsed().as_secs_f64();
                points.lock().unwrap().push((at, rss));
            }
        }
    });
    (points, task)
}

/// Least-squares slope of `points`, in MiB per minute; 0 with fewer than two.
pub fn slope_per_minute(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_m = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (t, m) in points {
        num += (t - mean_t) * (m - mean_m);
        den += (t - mean_t) * (t - mean_t);
    }
    if den == 0.0 { 0.0 } else { num / den * 60.0 }
}

/// The samples taken in the second half of the run.
pub fn second_half(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let end = points.last().map_or(0.0, |p| p.0);
    points
        .iter()
        .copied()
        .filter(|p| p.0 >= end / 2.0)
        .collect()
}

#[test]
fn the_slope_of_a_line_is_its_gradient_per_minute() {
    let line: Vec<(f64, f64)> = (0..30)
        .map(|s| (f64::from(s), 50.0 + 0.5 * f64::from(s)))
        .collect();
    assert!((slope_per_minute(&line) - 30.0).abs() < 1e-9);
    let flat: Vec<(f64, f64)> = (0..30).map(|s| (f64::from(s), 80.0)).collect();
    assert_eq!(slope_per_minute(&flat), 0.0);
    assert_eq!(second_half(&line).first().map(|p| p.0), Some(15.0));
}
