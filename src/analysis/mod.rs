//! Analysis: measuring a revision and deciding whether it is healthy.
//!
//! ```text
//!   AnalysisTemplate + args ──resolve──▶ MetricPlan ──schedule──▶ provider ──▶ Measurement
//!                                              │                                  │
//!                                              └────────── evaluate ◀─────────────┘ ──▶ run phase
//! ```
//! Scheduling and evaluation are pure (`evaluate`); providers do the I/O.

pub mod args;
pub mod compose;
pub mod condition;
pub mod evaluate;
pub mod plan;
pub mod providers;
pub mod run;
pub mod table;
pub mod value;
