//! Getting one message to one target: a POST with a bounded timeout,
//! retried on 5xx, 429 and transport errors with capped backoff (a small
//! `Retry-After` is honoured), a few attempts in all. The policy is the
//! pure [`after`]; [`post`] is the thin adapter that follows it.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::Value;

use super::error::NotifyError;
use super::targets::WebhookUrl;
use crate::analysis::providers::http::{describe, is_untrusted};

/// Attempts per message, the first included.
pub const ATTEMPTS: u32 = 4;
/// One attempt, connect to last byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The first retry waits this long; each next one twice as long, up to
/// [`MAX_BACKOFF`]. Four attempts fail in 1.4 s of waiting at most, so a
/// dead target never holds its later messages for long.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A `Retry-After` up to this is waited for; a longer one gives up, since
/// a deploy's message is worth little minutes late.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// What one attempt got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: the connection failed or timed out (described without
    /// the URL).
    Transport(String),
    /// The target's TLS certificate is not trusted: asking again cannot
    /// change that.
    Untrusted(String),
}

/// What to do after an attempt.
#[derive(Debug, PartialEq)]
pub enum Step {
    Delivered,
    Retry(Duration),
    GiveUp(NotifyError),
}

/// The policy: `attempt` is how many attempts were made, this one included.
pub fn after(attempt: u32, answer: &Answer) -> Step {
    let (retryable, error) = match answer {
        Answer::Status { code, .. } if (200..300).contains(code) => return Step::Delivered,
        Answer::Status { code, retry_after } => {
            let retryable = *code == 429 || (500..600).contains(code);
            if retryable
                && attempt < ATTEMPTS
                && let Some(wait) = retry_after
            {
                return if *wait <= MAX_RETRY_AFTER {
                    Step::Retry(*wait)
                } else {
                    Step::GiveUp(NotifyError::RetryAfterTooLong {
                        status: status_text(*code),
                        seconds: wait.as_secs(),
                    })
                };
            }
            (
                retryable,
                NotifyError::Rejected {
                    status: status_text(*code),
                    attempts: attempt,
                },
            )
        }
        Answer::Transport(message) => (
            true,
            NotifyError::Transport {
                message: message.clone(),
                attempts: attempt,
            },
        ),
        Answer::Untrusted(message) => (false, NotifyError::Untrusted(message.clone())),
    };
    if retryable && attempt < ATTEMPTS {
        Step::Retry(backoff(attempt))
    } else {
        Step::GiveUp(error)
    }
}

/// The wait after the `attempt`-th failure: 0.2 s, 0.4 s, 0.8 s, … capped.
fn backoff(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

/// `Retry-After` in seconds; the HTTP-date form counts as absent (the
/// usual backoff applies).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn status_text(code: u16) -> String {
    match StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("HTTP {code} {reason}"),
        None => format!("HTTP {code}"),
    }
}

/// Posts `body` until [`after`] says stop; how many attempts it made, and
/// how it ended. Errors never carry the URL, nor the target's answer (a
/// server's error page may echo the URL's path, which holds the secret).
pub async fn post(
    client: &Client,
    url: &WebhookUrl,
    body: &Value,
) -> (u32, Result<(), NotifyError>) {
    let body = body.to_string();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let answer = match client
            .post(url.expose())
            .header("content-type", "application/json")
            .body(body.clone())
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
        {
            Ok(response) => Answer::Status {
                code: response.status().as_u16(),
                retry_after: response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after),
            },
            Err(e) if is_untrusted(&e) => Answer::Untrusted(describe(e)),
            Err(e) => Answer::Transport(describe(e)),
        };
        match after(attempt, &answer) {
            Step::Delivered => return (attempt, Ok(())),
            Step::Retry(wait) => tokio::time::sleep(wait).await,
            Step::GiveUp(error) => return (attempt, Err(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Answer {
        Answer::Status {
            code,
            retry_after: None,
        }
    }

    #[test]
    fn success_is_delivered_at_once() {
        assert_eq!(after(1, &status(200)), Step::Delivered);
        assert_eq!(after(3, &status(204)), Step::Delivered);
    }

    #[test]
    fn server_errors_429_and_transport_errors_are_retried_with_capped_backoff() {
        for answer in [
            status(500),
            status(503),
            status(429),
            Answer::Transport("reset".into()),
        ] {
            let waits: Vec<Step> = (1..=ATTEMPTS).map(|a| after(a, &answer)).collect();
            assert_eq!(
                waits[..3],
                [
                    Step::Retry(Duration::from_millis(200)),
                    Step::Retry(Duration::from_millis(400)),
                    Step::Retry(Duration::from_millis(800)),
                ],
                "{answer:?}"
            );
            assert!(matches!(waits[3], Step::GiveUp(_)), "{answer:?}");
        }
        assert_eq!(backoff(30), MAX_BACKOFF);
    }

    #[test]
    fn a_small_retry_after_is_honoured_and_a_large_one_gives_up() {
        let asked = |seconds| Answer::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(seconds)),
        };
        assert_eq!(after(1, &asked(3)), Step::Retry(Duration::from_secs(3)));
        let Step::GiveUp(error) = after(1, &asked(60)) else {
            panic!("waited a minute");
        };
        assert_eq!(
            error.to_string(),
            "the target answered HTTP 429 Too Many Requests asking to retry after 60s; not waiting that long"
        );
        // The last attempt gives up whatever it is told.
        assert!(matches!(after(ATTEMPTS, &asked(1)), Step::GiveUp(_)));
    }

    #[test]
    fn an_untrusted_certificate_is_not_retried() {
        let why = "TLS certificate verification failed for hooks.example.com: expired";
        let Step::GiveUp(error) = after(1, &Answer::Untrusted(why.into())) else {
            panic!("an untrusted certificate retried");
        };
        assert_eq!(error.to_string(), format!("not sent: {why}"));
    }

    #[test]
    fn other_answers_are_not_retried() {
        for code in [400, 403, 404, 301] {
            let Step::GiveUp(error) = after(1, &status(code)) else {
                panic!("{code} retried");
            };
            assert!(
                error.to_string().contains(&format!("HTTP {code}")),
                "{error}"
            );
        }
        let Step::GiveUp(error) = after(ATTEMPTS, &status(500)) else {
            panic!();
        };
        assert_eq!(
            error.to_string(),
            "the target answered HTTP 500 Internal Server Error (after 4 attempts)"
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds_only() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
