//! The soak's judge. It reads the fake's audit log as the run goes: every
//! write anyone made, with the object as stored, put back in
//! resourceVersion order (the order the store committed them). From it:
//!
//! - **No step promoted twice.** For one revision (`currentPodHash`) and
//!   attempt, `currentStepIndex` never goes down in successive status
//!   writes, a revision and attempt never come back once left, and a
//!   revision becomes stable at most once per attempt. Every status write
//!   is conditional on the resourceVersion it was decided on, so status
//!   writes are the decisions in order; a step decided twice would show as
//!   the index going back and forward again. Events are published only
//!   after the status write that carries their decision, so each SetWeight
//!   or RolloutCompleted Event (created or counted as a repeat) must match a
//!   step passed or a completion in the status history: more Events than
//!   that is a decision published twice (fewer is an Event lost to a fault).
//! - **No abort lost.** An abort request committed while its revision was
//!   not stable yet must end with that revision aborted, unless a newer
//!   revision superseded it first (the request then applies to the newer
//!   one). The revision becoming stable after the request is a lost abort:
//!   the write that made it stable was conditional on a resourceVersion
//!   that already carried the request. And no rollout aborts without a
//!   request acknowledged in the same status write (nothing else aborts
//!   in the soak: no analysis, no deadline reached).
//! - **No duplicate ReplicaSet.** A ReplicaSet of a rollout and hash with
//!   another uid while the first still exists; and, in the store at the
//!   end, two of one rollout and hash, or more than the history limit
//!   kept at zero besides the stable and canary ones.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use conductor::platform::kubernetes::{HASH_LABEL, ROLLOUT_LABEL, requests::REQUEST_ANNOTATION};
use fakeapi::{AuditEntry, FakeApi};
use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde_json::Value;

use crate::objects::{HISTORY_LIMIT, NAMESPACE, REPLICA_SETS, SET_WEIGHT_STEPS, object_name, tag};

/// An entry is judged once it is this old: requests finishing at the same
/// moment push their entries in either order, within microseconds.
const SETTLE: SignedDuration = SignedDuration::from_secs(2);

#[derive(Debug, Default)]
pub struct Counts {
    pub status_writes: u64,
    pub steps_promoted: u64,
    pub completions: u64,
    pub abort_requests: u64,
    /// Requested after the revision was already stable: nothing to abort.
    pub abort_requests_moot: u64,
    pub aborts_honored: u64,
    pub aborts_superseded: u64,
    /// A second abort request before the controller acted on the first.
    pub aborts_replaced: u64,
    pub set_weight_events: u64,
    pub completed_events: u64,
    pub replica_sets_created: u64,
    pub replica_sets_deleted: u64,
    /// Refused writes of each identity, by HTTP code.
    pub refused: BTreeMap<(String, u16), u64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct StatusView {
    hash: String,
    attempt: i64,
    index: i64,
    stable_rs: String,
    abort: bool,
    canary_revision: String,
    last_request: String,
}

impl StatusView {
    fn of(object: &Value) -> Option<Self> {
        let s = object.get("status")?;
        let text = |field: &str| s[field].as_str().unwrap_or_default().to_owned();
        Some(Self {
            hash: text("currentPodHash"),
            attempt: s["attempt"].as_i64().unwrap_or(0),
            index: s["currentStepIndex"].as_i64().unwrap_or(0),
            stable_rs: text("stableRS"),
            abort: s["abort"].as_bool().unwrap_or(false),
            canary_revision: text("canaryRevision"),
            last_request: text("lastRequest"),
        })
        .filter(|v| !v.hash.is_empty())
    }
}

#[derive(Debug, Clone)]
struct AbortAsked {
    value: String,
    tag: String,
    rv: u64,
}

#[derive(Debug, Default)]
struct Track {
    tag: String,
    request: String,
    status: Option<StatusView>,
    left: HashSet<(String, i64)>,
    stable_made: HashSet<(String, i64)>,
    pending_abort: Option<AbortAsked>,
    set_weights_passed: u64,
    completions: u64,
    set_weight_events: u64,
    completed_events: u64,
}

#[derive(Debug, Default)]
pub struct Checker {
    waiting: Vec<AuditEntry>,
    rollouts: HashMap<String, Track>,
    /// `(rollout, hash)` to the uid of the ReplicaSet that exists for it.
    replica_sets: HashMap<(String, String), String>,
    pub counts: Counts,
    pub violations: Vec<String>,
}

fn rv_of(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Checker {
    /// Reads what the log gained since the last call; judges what has
    /// settled (everything when `all`).
    pub fn pump(&mut self, fake: &FakeApi, all: bool) {
        self.waiting.extend(fake.take_audit());
        let settled = Timestamp::now() - SETTLE;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|e| all || e.time < settled);
        self.waiting = waiting;
        let mut ready: Vec<(u64, AuditEntry)> = ready
            .into_iter()
            .map(|e| (e.object.as_deref().map_or(0, rv_of), e))
            .collect();
        ready.sort_by_key(|(rv, _)| *rv);
        for (_, entry) in ready {
            self.judge(&entry);
        }
    }

    fn judge(&mut self, entry: &AuditEntry) {
        let prefix = format!("/namespaces/{NAMESPACE}/");
        let Some((_, rest)) = entry.path.split_once(&prefix) else {
            return;
        };
        let mut parts = rest.split('/');
        let resource = parts.next().unwrap_or_default();
        let name = parts.next().unwrap_or_default();
        let subresource = parts.next();
        let Some(object) = entry.object.as_deref() else {
            *self
                .counts
                .refused
                .entry((entry.identity.clone(), entry.status))
                .or_default() += 1;
            return;
        };
        match resource {
            "rollouts" => self.rollout(name, subresource == Some("status"), object),
            "replicasets" => self.replica_set(&entry.method, object),
            "events" => self.event(object),
            _ => {}
        }
    }

    fn rollout(&mut self, name: &str, status_write: bool, object: &Value) {
        let rv = rv_of(object);
        let counts = &mut self.counts;
        let violations = &mut self.violations;
        let track = self.rollouts.entry(name.to_owned()).or_default();
        let spec_tag = tag(object).unwrap_or_default().to_owned();
        if spec_tag != track.tag {
            if track.pending_abort.take().is_some() {
                counts.aborts_superseded += 1;
            }
            track.tag = spec_tag.clone();
        }
        let request = object["metadata"]["annotations"][REQUEST_ANNOTATION]
            .as_str()
            .unwrap_or_default();
        if request != track.request {
            track.request = request.to_owned();
            if request.starts_with("abort/") {
                counts.abort_requests += 1;
                if track.pending_abort.take().is_some() {
                    counts.aborts_replaced += 1;
                }
                let stable = object["status"]["stableRevision"].as_str();
                if stable == Some(spec_tag.as_str()) {
                    counts.abort_requests_moot += 1;
                } else {
                    track.pending_abort = Some(AbortAsked {
                        value: request.to_owned(),
                        tag: spec_tag.clone(),
                        rv,
                    });
                }
            }
        }
        if !status_write {
            return;
        }
        counts.status_writes += 1;
        let Some(now) = StatusView::of(object) else {
            return;
        };
        let before = track.status.replace(now.clone());
        let key = (now.hash.clone(), now.attempt);
        let from = match &before {
            Some(b) if (b.hash.as_str(), b.attempt) == (key.0.as_str(), key.1) => {
                if now.index < b.index {
                    violations.push(format!(
                        "{name}: step index went back from {} to {} within revision {} attempt {} (rv {rv})",
                        b.index, now.index, now.hash, now.attempt
                    ));
                }
                b.index
            }
            Some(b) => {
                track.left.insert((b.hash.clone(), b.attempt));
                if track.left.contains(&key) {
                    violations.push(format!(
                        "{name}: revision {} attempt {} came back after it was left (rv {rv})",
                        now.hash, now.attempt
                    ));
                }
                0
            }
            None => now.index,
        };
        if now.index > from {
            counts.steps_promoted += (now.index - from) as u64;
            let passed = (from.max(0)..now.index)
                .filter(|i| {
                    usize::try_from(*i)
                        .ok()
                        .and_then(|i| SET_WEIGHT_STEPS.get(i))
                        .is_some_and(|w| *w)
                })
                .count();
            track.set_weights_passed += passed as u64;
        }
        let became_stable = before
            .as_ref()
            .is_some_and(|b| b.stable_rs != now.stable_rs && now.stable_rs == now.hash);
        if became_stable {
            counts.completions += 1;
            track.completions += 1;
            if !track.stable_made.insert(key.clone()) {
                violations.push(format!(
                    "{name}: revision {} attempt {} made stable twice (rv {rv})",
                    now.hash, now.attempt
                ));
            }
            if let Some(asked) = &track.pending_abort
                && asked.tag == now.canary_revision
            {
                violations.push(format!(
                    "{name}: abort {} requested at rv {} for revision {} was lost: the revision became stable at rv {rv}",
                    asked.value, asked.rv, asked.tag
                ));
                track.pending_abort = None;
            }
        }
        let was_aborted = before
            .as_ref()
            .is_some_and(|b| b.abort && (b.hash.as_str(), b.attempt) == (key.0.as_str(), key.1));
        let acknowledged = before
            .as_ref()
            .is_none_or(|b| b.last_request != now.last_request)
            .then_some(now.last_request.as_str())
            .filter(|r| r.starts_with("abort/"));
        if now.abort && !was_aborted && acknowledged.is_none() {
            violations.push(format!(
                "{name}: revision {} aborted with no abort request acknowledged (rv {rv})",
                now.canary_revision
            ));
        }
        if let Some(value) = acknowledged
            && track
                .pending_abort
                .as_ref()
                .is_some_and(|a| a.value == value)
        {
            if now.abort {
                counts.aborts_honored += 1;
                track.pending_abort = None;
            } else {
                let asked = track.pending_abort.take();
                violations.push(format!(
                    "{name}: abort {value} for revision {} acknowledged at rv {rv} without aborting (status {now:?})",
                    asked.map(|a| a.tag).unwrap_or_default()
                ));
            }
        }
    }

    fn replica_set(&mut self, method: &Method, object: &Value) {
        let labels = &object["metadata"]["labels"];
        let rollout = labels[ROLLOUT_LABEL].as_str().unwrap_or_default();
        let hash = labels[HASH_LABEL].as_str().unwrap_or_default();
        let uid = object["metadata"]["uid"].as_str().unwrap_or_default();
        let key = (rollout.to_owned(), hash.to_owned());
        if *method == Method::DELETE {
            if self.replica_sets.get(&key).is_some_and(|u| u == uid) {
                self.replica_sets.remove(&key);
                self.counts.replica_sets_deleted += 1;
            }
            return;
        }
        match self.replica_sets.get(&key) {
            None => {
                self.replica_sets.insert(key, uid.to_owned());
                self.counts.replica_sets_created += 1;
            }
            Some(existing) if existing != uid => self.violations.push(format!(
                "{rollout}: a second ReplicaSet for hash {hash} ({}, uid {uid}) while uid {existing} exists",
                object_name(object)
            )),
            Some(_) => {}
        }
    }

    fn event(&mut self, object: &Value) {
        if object["regarding"]["kind"] != "Rollout" {
            return;
        }
        let rollout = object["regarding"]["name"].as_str().unwrap_or_default();
        let Some(track) = self.rollouts.get_mut(rollout) else {
            return;
        };
        // A create is one, and every repeat counted into its series another.
        match object["reason"].as_str() {
            Some("SetWeight") => {
                track.set_weight_events += 1;
                self.counts.set_weight_events += 1;
            }
            Some("RolloutCompleted") => {
                track.completed_events += 1;
                self.counts.completed_events += 1;
            }
            _ => {}
        }
    }

    /// The judgements that need the whole run: Events against the status
    /// history, and abort requests still open against the final objects.
    pub fn finish(&mut self, fake: &FakeApi) {
        self.pump(fake, true);
        for (name, track) in &self.rollouts {
            if track.set_weight_events > track.set_weights_passed {
                self.violations.push(format!(
                    "{name}: {} SetWeight Events for {} setWeight steps passed",
                    track.set_weight_events, track.set_weights_passed
                ));
            }
            if track.completed_events > track.completions {
                self.violations.push(format!(
                    "{name}: {} RolloutCompleted Events for {} completions",
                    track.completed_events, track.completions
                ));
            }
            if let Some(asked) = &track.pending_abort {
                let status = fake
                    .get_object(crate::objects::ROLLOUTS, NAMESPACE, name)
                    .map(|o| o["status"].clone())
                    .unwrap_or_default();
                self.violations.push(format!(
                    "{name}: abort {} requested at rv {} for revision {} never acted on; final status {status}",
                    asked.value, asked.rv, asked.tag
                ));
            }
        }
        self.violations.extend(replica_set_problems(fake));
    }
}

/// ReplicaSets in the store sharing a rollout and a pod-template hash,
/// and rollouts keeping more than `revisionHistoryLimit` besides their
/// stable and canary ones.
pub fn replica_set_problems(fake: &FakeApi) -> Vec<String> {
    let mut seen: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut per_rollout: BTreeMap<String, usize> = BTreeMap::new();
    for rs in fake.list_objects(REPLICA_SETS, Some(NAMESPACE)) {
        let labels = &rs["metadata"]["labels"];
        let key = (
            labels[ROLLOUT_LABEL]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            labels[HASH_LABEL].as_str().unwrap_or_default().to_owned(),
        );
        *per_rollout.entry(key.0.clone()).or_default() += 1;
        seen.entry(key)
            .or_default()
            .push(object_name(&rs).to_owned());
    }
    let kept = per_rollout
        .into_iter()
        .filter(|(_, n)| *n > HISTORY_LIMIT + 2)
        .map(|(rollout, n)| {
            format!("{rollout}: {n} ReplicaSets, beyond its history limit of {HISTORY_LIMIT}")
        });
    seen.into_iter()
        .filter(|(_, names)| names.len() > 1)
        .map(|((rollout, hash), names)| {
            format!("{rollout}: ReplicaSets {names:?} share pod-template hash {hash}")
        })
        .chain(kept)
        .collect()
}

pub type Shared = Arc<std::sync::Mutex<Checker>>;
