//! The controller's own Prometheus metrics. Labels are bounded (controller,
//! error kind, phase): never an object name, so a cluster with thousands
//! of rollouts does not make thousands of series.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    pub controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub controller: &'static str,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabel {
    pub phase: String,
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ControllerLabel, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub durations: Family<ControllerLabel, Histogram>,
    pub writes: Family<ControllerLabel, Counter>,
    pub rollouts: Family<PhaseLabel, Gauge<i64, AtomicI64>>,
    pub leader: Gauge<i64, AtomicI64>,
}

fn duration_histogram() -> Histogram {
    // 0.5 ms to ~8 s: a reconcile that makes no writes is sub-millisecond.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0005, 2.0, 15,
    ))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("conductor");
        let reconciles = Family::<ControllerLabel, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let durations = Family::<ControllerLabel, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let writes = Family::<ControllerLabel, Counter>::default();
        let rollouts = Family::<PhaseLabel, Gauge<i64, AtomicI64>>::default();
        let leader = Gauge::<i64, AtomicI64>::default();
        registry.register("reconciles", "Reconciles run", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by kind of error",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took",
            durations.clone(),
        );
        registry.register(
            "writes",
            "Objects created, patched or deleted by reconciles",
            writes.clone(),
        );
        registry.register("rollouts", "Rollouts by phase", rollouts.clone());
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        Self {
            registry,
            reconciles,
            errors,
            durations,
            writes,
            rollouts,
            leader,
        }
    }
}

impl Metrics {
    /// Counts and times one reconcile of `controller`, and its error if any.
    pub async fn reconcile<T>(
        &self,
        controller: &'static str,
        work: impl std::future::Future<Output = Result<T, super::KubeError>>,
    ) -> Result<T, super::KubeError> {
        let started = std::time::Instant::now();
        let label = ControllerLabel { controller };
        self.reconciles.get_or_create(&label).inc();
        let result = work.await;
        self.durations
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
        if let Err(error) = &result {
            self.errors
                .get_or_create(&ErrorLabels {
                    controller,
                    kind: error.kind(),
                })
                .inc();
        }
        result
    }

    pub fn wrote(&self, controller: &'static str, writes: u64) {
        self.writes
            .get_or_create(&ControllerLabel { controller })
            .inc_by(writes);
    }
    /// Replaces the per-phase rollout counts with a fresh census.
    pub fn set_rollout_phases<'a>(&self, phases: impl Iterator<Item = &'a str>) {
        let mut counts: std::collections::BTreeMap<&str, i64> = Default::default();
        for phase in phases {
            *counts.entry(phase).or_default() += 1;
        }
        self.rollouts.clear();
        for (phase, count) in counts {
            self.rollouts
                .get_or_create(&PhaseLabel {
                    phase: phase.to_owned(),
                })
                .set(count);
        }
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
