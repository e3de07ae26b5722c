//! The HTTP client every provider shares, and reading answers safely.

use std::time::Duration;

use reqwest::{Client, Response};

/// Bodies past this are cut: a provider answer is a few kilobytes.
const MAX_BODY: usize = 4 * 1024 * 1024;

pub fn client() -> Result<Client, String> {
    // rustls needs one process-wide crypto provider; installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("conductor/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Reads a body, refusing huge ones.
pub async fn body(response: Response) -> Result<String, String> {
    let mut response = response;
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(describe)? {
        if bytes.len() + chunk.len() > MAX_BODY {
            return Err(format!(
                "answer larger than {} MiB",
                MAX_BODY / (1024 * 1024)
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| "answer is not UTF-8".to_owned())
}

/// A transport error in words, without the URL (it may carry secrets).
pub fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        format!("cannot connect: {}", root_cause(&error))
    } else {
        root_cause(&error)
    }
}

fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    cause
}

/// The first 300 characters of a body, for error messages.
pub fn excerpt(body: &str) -> String {
    let trimmed = body.trim();
    match trimmed.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}
