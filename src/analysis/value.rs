//! What a provider measured.

use std::fmt;

/// A measured value: one number, or one per series. NaN never appears:
/// providers turn it into an empty result, which is "no data".
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    Scalar(f64),
    Vector(Vec<f64>),
}

impl MetricValue {
    /// A scalar, or `None` for NaN (0/0 is no data, not a number).
    pub fn scalar(value: f64) -> Option<Self> {
        (!value.is_nan()).then_some(Self::Scalar(value))
    }

    /// A vector without its NaN entries, or `None` when nothing is left.
    pub fn vector(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let values: Vec<f64> = values.into_iter().filter(|v| !v.is_nan()).collect();
        (!values.is_empty()).then_some(Self::Vector(values))
    }

    pub fn to_cel(&self) -> cel::Value {
        match self {
            Self::Scalar(v) => cel::Value::Float(*v),
            Self::Vector(values) => cel::Value::List(std::sync::Arc::new(
                values.iter().map(|v| cel::Value::Float(*v)).collect(),
            )),
        }
    }
}

impl fmt::Display for MetricValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scalar(v) => write!(f, "{v}"),
            Self::Vector(values) => {
                let shown: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                write!(f, "[{}]", shown.join(", "))
            }
        }
    }
}
