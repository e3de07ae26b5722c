//! What a deploy tells its caller at the end: one line per cluster for a
//! person, one JSON document for a script.

use std::fmt::Write as _;

use serde::Serialize;

use super::exit::Exit;
use super::notify::{Delivery, DeliveryOutcome};
use super::request::Request;
use super::target::FailedMeasurement;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub service: String,
    pub environment: String,
    /// As the user gave it.
    pub label: String,
    /// The commit it resolved to.
    pub revision: String,
    pub generation: u64,
    pub exit: Exit,
    pub exit_code: u8,
    pub message: String,
    pub clusters: Vec<ClusterReport>,
    /// What became of every notification; never part of the exit code.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Delivery>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterReport {
    pub name: String,
    pub wave: u32,
    /// Healthy, Failed, Deploying, Interrupted, RolledBack, or NotStarted.
    pub state: String,
    pub detail: String,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pruned: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub yielded: Vec<String>,
    /// The analysis measurement that failed this cluster's rollout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurement: Option<FailedMeasurement>,
}

impl Report {
    pub fn new(request: &Request) -> Self {
        Self {
            service: request.service.clone(),
            environment: request.environment.clone(),
            label: request.revision.clone(),
            revision: String::new(),
            generation: 0,
            exit: Exit::Failed,
            exit_code: Exit::Failed.code(),
            message: String::new(),
            clusters: Vec::new(),
            notifications: Vec::new(),
        }
    }

    /// The cluster's line, created NotStarted on first use.
    pub fn cluster(&mut self, name: &str, wave: u32) -> &mut ClusterReport {
        let index = match self.clusters.iter().position(|c| c.name == name) {
            Some(index) => index,
            None => {
                self.clusters.push(ClusterReport {
                    name: name.to_owned(),
                    wave,
                    state: "NotStarted".into(),
                    ..ClusterReport::default()
                });
                self.clusters.len() - 1
            }
        };
        &mut self.clusters[index]
    }

    pub fn set_exit(&mut self, exit: Exit) {
        self.exit = exit;
        self.exit_code = exit.code();
    }

    /// The table a person reads at the end of a CI log.
    pub fn table(&self) -> String {
        let mut text = String::new();
        let width = self
            .clusters
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(7)
            .max(7);
        let _ = writeln!(
            text,
            "\n{:<width$}  {:>4}  {:<11}  {:>7}  DETAIL",
            "CLUSTER", "WAVE", "STATE", "SECONDS"
        );
        let mut clusters: Vec<&ClusterReport> = self.clusters.iter().collect();
        clusters.sort_by(|a, b| (a.wave, &a.name).cmp(&(b.wave, &b.name)));
        for c in clusters {
            let _ = writeln!(
                text,
                "{:<width$}  {:>4}  {:<11}  {:>7.1}  {}",
                c.name, c.wave, c.state, c.seconds, c.detail
            );
        }
        let verdict = match self.exit {
            Exit::Deployed => format!(
                "deployed {} to every cluster of {}",
                self.label, self.environment
            ),
            Exit::Failed => format!("deploy of {} failed", self.label),
            Exit::BadInput => "bad input".to_owned(),
            Exit::Refused => format!("deploy of {} refused", self.label),
            Exit::TimedOut => format!("deploy of {} timed out", self.label),
            Exit::Interrupted => format!("deploy of {} interrupted", self.label),
        };
        let _ = writeln!(text, "\n{verdict} (exit {})", self.exit.code());
        if !self.message.is_empty() {
            let _ = writeln!(text, "{}", self.message);
        }
        text.push_str(&self.notifications_summary());
        text
    }

    /// One line of counts, then every message that was not delivered and
    /// why; targets by their config name (their URLs are secrets).
    pub fn notifications_summary(&self) -> String {
        let mut text = String::new();
        if self.notifications.is_empty() {
            return text;
        }
        let count = |outcome| {
            self.notifications
                .iter()
                .filter(|d| d.outcome == outcome)
                .count()
        };
        let mut counts = vec![format!("{} delivered", count(DeliveryOutcome::Delivered))];
        for (outcome, word) in [
            (DeliveryOutcome::Failed, "failed"),
            (DeliveryOutcome::Unsent, "unsent"),
            (DeliveryOutcome::Skipped, "target(s) skipped"),
        ] {
            let n = count(outcome);
            if n > 0 {
                counts.push(format!("{n} {word}"));
            }
        }
        let _ = writeln!(text, "notifications: {}", counts.join(", "));
        for d in &self.notifications {
            let what = match (d.outcome, d.event) {
                (DeliveryOutcome::Delivered | DeliveryOutcome::Pending, _) => continue,
                (DeliveryOutcome::Skipped, _) => "skipped".to_owned(),
                (_, Some(event)) => format!("{event} not delivered"),
                (_, None) => "not delivered".to_owned(),
            };
            let _ = writeln!(text, "  {}: {what}: {}", d.target, d.detail);
        }
        text
    }
}
