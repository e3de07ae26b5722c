//! The fault schedule of the soak's first phase: conflicts on the writes
//! the controller makes, server errors on whatever comes next, slow
//! answers, dropped watches every few seconds, and one API server restart
//! (down for a few seconds, then back with an empty watch cache).

use std::collections::BTreeMap;
use std::time::Duration;

use fakeapi::{Delay, FakeApi, Fault, Server};
use reqwest::Method;
use tokio::time::Instant;

use crate::rng::Rng;

const TICK: Duration = Duration::from_millis(250);
/// How long the API server is down when it restarts.
const DOWN: Duration = Duration::from_secs(3);

/// One kind of fault, as counted in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    StatusConflict,
    PatchConflict,
    ServerError,
    Slow,
    WatchDrop,
    Restart,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::StatusConflict,
        Kind::PatchConflict,
        Kind::ServerError,
        Kind::Slow,
        Kind::WatchDrop,
        Kind::Restart,
    ];

    /// Its name in `CONDUCTOR_SOAK_FAULTS`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::StatusConflict => "status-409",
            Kind::PatchConflict => "patch-409",
            Kind::ServerError => "5xx",
            Kind::Slow => "slow",
            Kind::WatchDrop => "watch-drop",
            Kind::Restart => "restart",
        }
    }

    /// The kinds `CONDUCTOR_SOAK_FAULTS` names (comma-separated), every
    /// kind when it is unset: one kind alone tells which fault a failure
    /// needs.
    pub fn chosen() -> Vec<Kind> {
        let Ok(names) = std::env::var("CONDUCTOR_SOAK_FAULTS") else {
            return Self::ALL.to_vec();
        };
        names
            .split(',')
            .filter(|n| !n.trim().is_empty())
            .map(|n| {
                Self::ALL
                    .into_iter()
                    .find(|k| k.name() == n.trim())
                    .unwrap_or_else(|| panic!("CONDUCTOR_SOAK_FAULTS: no fault kind {n:?}"))
            })
            .collect()
    }

    pub fn describe(self) -> &'static str {
        match self {
            Kind::StatusConflict => "409 on a Rollout status write",
            Kind::PatchConflict => "409 on a ReplicaSet apply",
            Kind::ServerError => "500/503 on the next request",
            Kind::Slow => "answer held 0.2-2 s",
            Kind::WatchDrop => "every watch dropped",
            Kind::Restart => "API server restart (3 s down, watch cache emptied)",
        }
    }
}

/// How often each kind was queued, and how often it was served (a queued
/// fault no request matched before the phase ended was not).
#[derive(Debug, Default)]
pub struct Report {
    pub queued: BTreeMap<Kind, u64>,
    pub served: BTreeMap<Kind, u64>,
}

/// Runs the schedule until `until`, restarting `server` once at
/// `restart_at`; clears every fault left and returns the server now
/// listening with the counts.
pub async fn run(
    fake: &FakeApi,
    mut server: Server,
    until: Instant,
    restart_at: Instant,
    mut rng: Rng,
    kinds: &[Kind],
) -> std::io::Result<(Server, Report)> {
    let on = |kind| kinds.contains(&kind);
    let mut report = Report::default();
    let mut restarted = false;
    let mut next_drop = Instant::now() + Duration::from_secs(2 + rng.below(4));
    let mut tick = tokio::time::interval(TICK);
    while Instant::now() < until {
        tick.tick().await;
        // About once a second each: a refused status write, a refused
        // patch, a server error, a slow answer.
        if rng.chance(0.25) && on(Kind::StatusConflict) {
            fake.fail_next(fault(Some(Method::PATCH), "/status", 409, 2));
            add(&mut report.queued, Kind::StatusConflict, 2);
        }
        if rng.chance(0.25) && on(Kind::PatchConflict) {
            fake.fail_next(fault(Some(Method::PATCH), "/replicasets/", 409, 1));
            add(&mut report.queued, Kind::PatchConflict, 1);
        }
        if rng.chance(0.25) && on(Kind::ServerError) {
            let status = if rng.chance(0.5) { 500 } else { 503 };
            fake.fail_next(fault(None, "", status, 2));
            add(&mut report.queued, Kind::ServerError, 2);
        }
        if rng.chance(0.25) && on(Kind::Slow) {
            fake.delay_next(Delay {
                method: None,
                path_contains: String::new(),
                delay: Duration::from_millis(200 + rng.below(1_800)),
                times: 3,
            });
            add(&mut report.queued, Kind::Slow, 3);
        }
        if Instant::now() >= next_drop && on(Kind::WatchDrop) {
            fake.drop_watches();
            add(&mut report.queued, Kind::WatchDrop, 1);
            add(&mut report.served, Kind::WatchDrop, 1);
            next_drop = Instant::now() + Duration::from_secs(2 + rng.below(4));
        }
        if !restarted && Instant::now() >= restart_at && on(Kind::Restart) {
            server = fakeapi::restart(server, fake, DOWN).await?;
            restarted = true;
            add(&mut report.queued, Kind::Restart, 1);
            add(&mut report.served, Kind::Restart, 1);
        }
    }
    // Served = queued - left over when the phase ended.
    let left_faults = fake.queued_faults();
    let left_delays = fake.queued_delays();
    fake.clear_faults();
    for (kind, queued) in &report.queued {
        let left: usize = match kind {
            Kind::StatusConflict => left_faults
                .iter()
                .filter(|f| f.status == 409 && f.path_contains == "/status")
                .map(|f| f.times)
                .sum(),
            Kind::PatchConflict => left_faults
                .iter()
                .filter(|f| f.status == 409 && f.path_contains != "/status")
                .map(|f| f.times)
                .sum(),
            Kind::ServerError => left_faults
                .iter()
                .filter(|f| f.status >= 500)
                .map(|f| f.times)
                .sum(),
            Kind::Slow => left_delays.iter().map(|d| d.times).sum(),
            Kind::WatchDrop | Kind::Restart => continue,
        };
        report
            .served
            .insert(*kind, queued.saturating_sub(left as u64));
    }
    Ok((server, report))
}

fn add(counts: &mut BTreeMap<Kind, u64>, kind: Kind, n: u64) {
    *counts.entry(kind).or_default() += n;
}

fn fault(method: Option<Method>, path: &str, status: u16, times: usize) -> Fault {
    Fault {
        method,
        path_contains: path.to_owned(),
        status,
        times,
    }
}
