//! What `conductor demo` saw, for people (a summary) and machines (JSON):
//! per release, the deploy's result and each cluster's story.

use serde::Serialize;

use crate::platform::local::journal::Journal;

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub scenarios: Vec<Scenario>,
    /// 5xx answers users got from stable revisions, every cluster and
    /// release together.
    pub stable_errors: u64,
    /// Deciding measurement's end to the proxy sending 0% to the bad
    /// canary, in the cluster that rolled it back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort_latency_ms: Option<f64>,
    /// The ledger's commits, oldest first.
    pub ledger: Vec<String>,
    /// Where the source repository and the ledger are, with `--keep`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
    /// Every helpdesk process the demo started, to check none outlives it.
    pub pids: Vec<u32>,
    pub passed: bool,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scenario {
    pub revision: String,
    /// What should happen: `deployed`, or `failed in <cluster>`.
    pub expected: String,
    /// What the deploy said: `deployed`, or `failed in <cluster>`.
    pub outcome: String,
    pub exit_code: u8,
    pub seconds: f64,
    pub clusters: Vec<ClusterScenario>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterScenario {
    pub name: String,
    pub wave: u32,
    /// As the deploy left it: Healthy, Failed, NotStarted...
    pub state: String,
    /// What its rollout did: `promoted`, `aborted`, `deployed` (no canary:
    /// the first release), or `untouched`.
    pub outcome: String,
    /// The revision its users are served.
    pub serving: String,
    pub stable: Traffic,
    pub canary: Traffic,
    /// Whether any request reached the canary after its weight went to 0.
    pub canary_after_rollback: bool,
    #[serde(flatten)]
    pub journal: Journal,
}

#[derive(Debug, Default, Serialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub struct Traffic {
    pub requests: u64,
    pub errors: u64,
}

impl Report {
    pub fn summary(&self) -> String {
        let mut out = String::from("\nsummary\n");
        for s in &self.scenarios {
            out.push_str(&format!(
                "  {}: {} (expected {}) in {:.1}s\n",
                s.revision, s.outcome, s.expected, s.seconds
            ));
            for c in &s.clusters {
                out.push_str(&format!(
                    "    wave {} {}: {} ({}), serving {}; canary {} requests ({} errors), stable {} ({} errors)\n",
                    c.wave,
                    c.name,
                    c.outcome,
                    c.state,
                    c.serving,
                    c.canary.requests,
                    c.canary.errors,
                    c.stable.requests,
                    c.stable.errors
                ));
                if let Some(ms) = c.journal.abort_latency_ms {
                    out.push_str(&format!(
                        "      rolled back {ms:.0} ms after the deciding measurement; after rollback the canary got {} requests\n",
                        if c.canary_after_rollback { "some" } else { "no" }
                    ));
                }
            }
        }
        out.push_str("  ledger:\n");
        for line in &self.ledger {
            out.push_str(&format!("    {line}\n"));
        }
        match &self.kept {
            Some(kept) => out.push_str(&format!(
                "  kept in {kept}: `conductor --repo {kept}/source status helpdesk --env demo` and `history` read its ledger\n"
            )),
            None => out.push_str(
                "  the local clusters lived in this process, so `conductor deploy helpdesk --env demo` has nothing to reach once it ends;\n  `conductor demo --keep` keeps the source repository and ledger for `conductor status` and `history`\n",
            ),
        }
        out.push_str(&format!(
            "  stable revision errors: {}; result: {}\n",
            self.stable_errors,
            if self.passed {
                "as intended"
            } else {
                "NOT as intended"
            }
        ));
        out
    }
}
