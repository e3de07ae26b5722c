//! How a state looks: a word first (readable without colour, by screen
//! readers and in a black-and-white printout), then a symbol and a CSS
//! class that make the unusual ones stand out.

use crate::engine::Outcome;
use crate::gitops::ClusterState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    pub word: &'static str,
    /// Decoration only: marked `aria-hidden`, the word says it.
    pub symbol: &'static str,
    /// `state-<class>` in the stylesheet.
    pub class: &'static str,
    /// Mid-deploy or failed: listed under "Needs attention" and drawn with
    /// a heavier border.
    pub attention: bool,
}

/// What the ledger says of a cluster; `None` is a cluster never deployed.
pub fn of_ledger(state: Option<ClusterState>) -> Look {
    match state {
        Some(ClusterState::Healthy) => look("Healthy", "✓", "healthy", false),
        Some(ClusterState::Deploying) => look("Deploying", "↻", "deploying", true),
        Some(ClusterState::Failed) => look("Failed", "✗", "failed", true),
        Some(ClusterState::RolledBack) => look("RolledBack", "↶", "rolledback", true),
        Some(ClusterState::Interrupted) => look("Interrupted", "‖", "interrupted", true),
        None => look("Never deployed", "–", "none", false),
    }
}

/// What a Rollout says now, by the engine's own answer.
pub fn of_outcome(outcome: &Outcome) -> Look {
    match outcome {
        Outcome::Healthy { .. } => look("Healthy", "✓", "healthy", false),
        Outcome::Progressing { .. } => look("Progressing", "↻", "deploying", true),
        Outcome::Paused { .. } => look("Paused", "‖", "paused", true),
        Outcome::Degraded { .. } => look("Degraded", "✗", "failed", true),
    }
}

fn look(word: &'static str, symbol: &'static str, class: &'static str, attention: bool) -> Look {
    Look {
        word,
        symbol,
        class,
        attention,
    }
}

impl Look {
    /// `<span class="state state-failed"><span aria-hidden="true">✗</span> Failed</span>`
    pub fn badge(&self) -> String {
        format!(
            r#"<span class="state state-{}"><span aria-hidden="true">{}</span> {}</span>"#,
            self.class, self.symbol, self.word
        )
    }
}
