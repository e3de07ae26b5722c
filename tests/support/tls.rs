//! HTTPS on loopback: a CA minted for the test (as a company's private CA
//! would be), a server certificate it signed for 127.0.0.1 and localhost,
//! and `Stub`s that speak TLS with it. Needs `mod servers` beside it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use super::servers::{Handler, Stub};

pub struct TestCa {
    /// The CA's certificate, PEM: what a CA bundle holds.
    pub pem: String,
    acceptor: TlsAcceptor,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("a CA key"))
            .expect("the CA certificate");
        let key = KeyPair::generate().expect("a server key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("server parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let certificate = params.signed_by(&key, &ca).expect("the server certificate");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("the server's TLS configuration");
        TestCa {
            pem: ca.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }

    /// Writes the CA's certificate into `dir` as the bundle file `name`.
    pub fn bundle(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.pem).expect("write the CA bundle");
        path
    }

    /// An HTTPS `Stub` presenting the certificate this CA signed; a client
    /// that does not trust it gets no answer.
    pub async fn stub(&self, handler: Handler) -> Stub {
        let acceptor = self.acceptor.clone();
        Stub::start_over("https", handler, move |socket| {
            let acceptor = acceptor.clone();
            async move { acceptor.accept(socket).await.ok() }
        })
        .await
    }
}
