//! A set of trusted CAs that client certificates are checked against after the handshake.
//!
//! The TLS layer only *requests* client certificates (Go's `RequestClientCert`), so
//! each authenticator validates the presented chain against its own pool: that is the
//! only way to know whether a certificate came from the front-proxy CA or the client CA.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use sha2::{Digest, Sha256};

use crate::error::CertificateError;

/// Trusted CA certificates plus a webpki verifier built from them.
#[derive(Clone)]
pub(crate) struct CaPool {
    verifier: Arc<dyn ClientCertVerifier>,
    /// SHA-256 of the PEM bundle, to tell whether a reload changed anything.
    digest: [u8; 32],
    certificates: usize,
}

impl std::fmt::Debug for CaPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaPool")
            .field("certificates", &self.certificates)
            .field("digest", &hex::encode(&self.digest[..8]))
            .finish()
    }
}

impl PartialEq for CaPool {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
    }
}

impl CaPool {
    /// Parses a PEM bundle. A bundle with no text at all is "no CA" (`Ok(None)`, as an
    /// empty ConfigMap value means); text without a single certificate is an error.
    pub(crate) fn from_pem(pem: &[u8], origin: &Path) -> Result<Option<CaPool>, CertificateError> {
        if pem.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let pem_error = |message: String| CertificateError::Pem {
            path: origin.to_path_buf(),
            message,
        };
        let mut roots = RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate.map_err(|e| pem_error(format!("invalid PEM: {e}")))?;
            roots
                .add(certificate)
                .map_err(|e| pem_error(format!("invalid CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(pem_error("no CA certificate found".to_owned()));
        }
        let certificates = roots.len();
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .map_err(|e| pem_error(format!("cannot build a verifier: {e}")))?;
        Ok(Some(CaPool {
            verifier,
            digest: Sha256::digest(pem).into(),
            certificates,
        }))
    }

    /// Reads and parses a PEM bundle file.
    pub(crate) fn from_file(path: &Path) -> Result<CaPool, CertificateError> {
        let pem = std::fs::read(path).map_err(|source| CertificateError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        CaPool::from_pem(&pem, path)?.ok_or_else(|| CertificateError::Pem {
            path: path.to_path_buf(),
            message: "the file is empty".to_owned(),
        })
    }

    /// Checks that `chain[0]` is valid now, for client authentication, and chains to this
    /// pool (intermediates taken from the rest of `chain`).
    pub(crate) fn verify(&self, chain: &[CertificateDer<'static>]) -> Result<(), rustls::Error> {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err(rustls::Error::NoCertificatesPresented);
        };
        self.verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use testkit::pki::TestCa;

    use super::*;

    fn pool(ca: &TestCa) -> CaPool {
        CaPool::from_pem(ca.cert_pem.as_bytes(), Path::new("test"))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn accepts_client_certificates_of_its_own_ca_only() {
        let ca = TestCa::new("client-ca").unwrap();
        let other = TestCa::new("other-ca").unwrap();
        let ours = ca.client("alice", &[]).unwrap();
        let theirs = other.client("mallory", &[]).unwrap();
        assert!(pool(&ca).verify(&[ours.cert_der]).is_ok());
        assert!(pool(&ca).verify(&[theirs.cert_der]).is_err());
        assert!(pool(&ca).verify(&[]).is_err());
    }

    #[test]
    fn server_only_certificates_are_not_client_credentials() {
        let ca = TestCa::new("ca").unwrap();
        let server = ca.server("localhost", &["localhost"], &[]).unwrap();
        assert!(pool(&ca).verify(&[server.cert_der]).is_err());
    }

    #[test]
    fn empty_bundles_mean_no_ca_and_garbage_is_an_error() {
        assert!(CaPool::from_pem(b"  \n", Path::new("x")).unwrap().is_none());
        assert!(CaPool::from_pem(b"not a certificate", Path::new("x")).is_err());
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(CaPool::from_pem(broken.as_bytes(), Path::new("x")).is_err());
    }

    #[test]
    fn bundles_may_hold_several_cas() {
        let first = TestCa::new("a").unwrap();
        let second = TestCa::new("b").unwrap();
        let bundle = format!("{}{}", first.cert_pem, second.cert_pem);
        let both = CaPool::from_pem(bundle.as_bytes(), Path::new("x"))
            .unwrap()
            .unwrap();
        assert!(
            both.verify(&[first.client("a", &[]).unwrap().cert_der])
                .is_ok()
        );
        assert!(
            both.verify(&[second.client("b", &[]).unwrap().cert_der])
                .is_ok()
        );
        assert_ne!(both, pool(&first));
    }
}
