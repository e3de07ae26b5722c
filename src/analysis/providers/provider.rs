//! The one trait every provider answers through.

use std::future::Future;
use std::pin::Pin;

use crate::analysis::evaluate::{MeasureError, Observation};
use crate::analysis::plan::MetricPlan;

/// One measurement in flight.
pub type Measured<'a> =
    Pin<Box<dyn Future<Output = Result<Observation, MeasureError>> + Send + 'a>>;

/// A source of measurements.
pub trait Provider: Send + Sync {
    /// Takes one measurement of `plan`. Errors carry the shown query and a
    /// reason; they never contain secrets.
    fn measure<'a>(&'a self, plan: &'a MetricPlan) -> Measured<'a>;
}
