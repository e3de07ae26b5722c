//! Slow answers: a request matching a queued [`Delay`] is served at once
//! (a write is stored and audited when it arrives) and its answer sent
//! only after the delay, as from an overloaded API server or a slow link.
//! A client that gives up waiting has still changed the object: the case
//! a retrying writer must survive.

use std::time::Duration;

use http::Method;

/// Makes the answers to the next matching requests late.
#[derive(Debug, Clone)]
pub struct Delay {
    /// Only requests with this method; any method when `None`.
    pub method: Option<Method>,
    /// Only requests whose path and query contain this; empty matches all.
    pub path_contains: String,
    /// How long each answer waits before it is sent.
    pub delay: Duration,
    /// How many requests are slowed before the delay is used up.
    pub times: usize,
}

impl Delay {
    pub(crate) fn matches(&self, method: &Method, path_and_query: &str) -> bool {
        self.times > 0
            && self.method.as_ref().is_none_or(|m| m == method)
            && path_and_query.contains(&self.path_contains)
    }
}
