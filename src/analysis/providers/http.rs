//! The HTTP clients every provider and webhook shares, what their HTTPS
//! connections trust, and reading answers safely.
//!
//! Certificates are always verified, against the system's roots (rustls'
//! platform verifier: on Linux the system store, or `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` instead when set) plus the CAs of the bundle named by
//! `--ca-bundle` / `CONDUCTOR_CA_BUNDLE`, which add to them rather than
//! replace them. Only a metric that says
//! `insecure: true`, as in Argo Rollouts, skips verification, and its
//! measurement says so.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Certificate, Client, Response};

/// Bodies past this are cut: a provider answer is a few kilobytes.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// The environment variable every command that makes HTTPS requests reads
/// its CA bundle from (its `--ca-bundle` flag says the same).
pub const CA_BUNDLE_VARIABLE: &str = "CONDUCTOR_CA_BUNDLE";

/// What a measurement that skipped certificate verification says.
pub const UNVERIFIED: &str = "TLS certificate not verified (insecure: true)";

/// What HTTPS servers are trusted by: the system's roots, plus every
/// certificate of a PEM bundle (a private CA).
#[derive(Clone, Default)]
pub struct Trust {
    bundle: Option<(PathBuf, Vec<Certificate>)>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.bundle {
            Some((path, certificates)) => write!(
                f,
                "Trust(system roots and {} CA(s) from {})",
                certificates.len(),
                path.display()
            ),
            None => f.write_str("Trust(system roots)"),
        }
    }
}

/// Why a CA bundle cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read the CA bundle {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("the CA bundle {} is not PEM: {reason}", path.display())]
    NotPem { path: PathBuf, reason: String },
    #[error("the CA bundle {} holds no PEM certificate", path.display())]
    Empty { path: PathBuf },
}

impl Trust {
    /// The system's roots only.
    pub fn system() -> Self {
        Self::default()
    }

    /// The system's roots and the certificates of the PEM file at `path`
    /// (`None`: the system's roots only). A bundle that cannot be read, or
    /// holds no certificate, is an error: trusting less than asked would
    /// only show up as failed measurements later.
    pub fn load(path: Option<&Path>) -> Result<Self, TrustError> {
        let Some(path) = path else {
            return Ok(Self::system());
        };
        let owned = || path.to_path_buf();
        let pem = std::fs::read(path).map_err(|e| TrustError::Unreadable {
            path: owned(),
            reason: e.to_string(),
        })?;
        let certificates = Certificate::from_pem_bundle(&pem).map_err(|e| TrustError::NotPem {
            path: owned(),
            reason: root_cause(&e),
        })?;
        if certificates.is_empty() {
            return Err(TrustError::Empty { path: owned() });
        }
        Ok(Self {
            bundle: Some((owned(), certificates)),
        })
    }
}

/// The two clients a provider picks from: `verified` for every request,
/// `unverified` only for a metric that says `insecure: true`.
#[derive(Clone)]
pub struct Clients {
    pub verified: Client,
    pub unverified: Client,
}

impl Clients {
    pub fn new(trust: &Trust) -> Result<Self, String> {
        Ok(Self {
            verified: client_trusting(trust)?,
            unverified: builder()
                .tls_danger_accept_invalid_certs(true)
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {}", root_cause(&e)))?,
        })
    }

    /// The client for a request that verifies certificates unless `insecure`.
    pub fn pick(&self, insecure: bool) -> &Client {
        if insecure {
            &self.unverified
        } else {
            &self.verified
        }
    }
}

fn builder() -> reqwest::ClientBuilder {
    // rustls needs one process-wide crypto provider; installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("conductor/", env!("CARGO_PKG_VERSION")))
}

/// A client trusting the system's roots: for tools and loopback HTTP.
pub fn client() -> Result<Client, String> {
    client_trusting(&Trust::system())
}

/// A client trusting the system's roots and `trust`'s bundle.
pub fn client_trusting(trust: &Trust) -> Result<Client, String> {
    let mut builder = builder();
    if let Some((_, certificates)) = &trust.bundle {
        builder = builder.tls_certs_merge(certificates.iter().cloned());
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", root_cause(&e)))
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

/// A transport error in words, without the URL (its path and query may
/// carry secrets); a certificate that failed verification names the
/// server (host and port only) and how to trust it.
pub fn describe(error: reqwest::Error) -> String {
    let server = error.url().map(server);
    let error = error.without_url();
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    if let Some(problem) = certificate_problem(&error) {
        return format!(
            "TLS certificate verification failed for {}: {problem}; trust its CA with \
             --ca-bundle ({CA_BUNDLE_VARIABLE})",
            server.as_deref().unwrap_or("the server")
        );
    }
    if error.is_connect() {
        format!("cannot connect: {}", root_cause(&error))
    } else {
        root_cause(&error)
    }
}

/// Whether a request failed because the server's certificate is not
/// trusted: trying again cannot help.
pub fn is_untrusted(error: &reqwest::Error) -> bool {
    certificate_problem(error).is_some()
}

/// `host` or `host:port`, as the URL wrote it.
fn server(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The certificate problem behind a failed handshake, if that is what
/// failed. rustls' error travels inside `io::Error`s (nested, from the
/// TLS stream and the connector), whose `source()` skips what they wrap,
/// so each is opened with `get_ref()` instead.
fn certificate_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut link = Some(error);
    while let Some(current) = link {
        if let Some(rustls::Error::InvalidCertificate(reason)) =
            current.downcast_ref::<rustls::Error>()
        {
            return Some(match reason {
                rustls::CertificateError::UnknownIssuer => {
                    "its certificate is not signed by a trusted CA (self-signed, or a \
                     private CA)"
                        .to_owned()
                }
                other => other.to_string(),
            });
        }
        link = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_that_cannot_be_used_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let error = Trust::load(Some(&missing)).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "cannot read the CA bundle {}: ",
                missing.display()
            )),
            "{error}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        assert_eq!(
            Trust::load(Some(&empty)).unwrap_err().to_string(),
            format!("the CA bundle {} holds no PEM certificate", empty.display())
        );
        assert_eq!(
            format!("{:?}", Trust::load(None).unwrap()),
            "Trust(system roots)"
        );
    }
}
