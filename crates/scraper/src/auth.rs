//! Credentials and trust for kubelet connections: the rustls client configuration (built with
//! the ring provider explicitly, so nothing depends on a process-wide default being installed)
//! and the bearer token, re-read from its file when the file changes.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use http::HeaderValue;
use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{BearerToken, KubeletClientConfig};
use crate::error::ClientBuildError;

/// Servers whose TLS sessions are remembered: well above the largest clusters' node count
/// (5000); an entry is a few hundred bytes and only exists once a node was scraped.
const TLS_SESSION_CACHE_SERVERS: usize = 16_384;

/// The TLS settings for kubelet connections: HTTP/1.1 only (see `KubeletClient::new`) and a
/// session cache that lets each scrape resume the node's last session.
pub(crate) fn tls_config(config: &KubeletClientConfig) -> Result<ClientConfig, ClientBuildError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = if config.scheme_insecure_http {
        // Plain http never uses TLS; an empty trust store makes any accidental https fail.
        builder.with_root_certificates(RootCertStore::empty())
    } else if config.insecure_skip_tls_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
    } else {
        let ca = config
            .ca_pem
            .as_deref()
            .ok_or(ClientBuildError::NoTrustAnchors)?;
        let mut roots = RootCertStore::empty();
        for cert in certificates(ca, "kubelet CA")? {
            roots.add(cert).map_err(|e| ClientBuildError::Pem {
                what: "kubelet CA",
                detail: e.to_string(),
            })?;
        }
        builder.with_root_certificates(roots)
    };

    let mut tls = match (&config.client_cert_pem, &config.client_key_pem) {
        _ if config.scheme_insecure_http => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = certificates(cert, "kubelet client certificate")?;
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| ClientBuildError::Pem {
                what: "kubelet client key",
                detail: e.to_string(),
            })?;
            builder.with_client_auth_cert(chain, key)?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(ClientBuildError::IncompleteClientIdentity),
    };
    // No ALPN: without it a kubelet speaks HTTP/1.1, the client's only protocol (the connector
    // sets ALPN itself and refuses a config that already has some).
    // Unless connections are kept, every scrape resumes the node's previous session;
    // rustls's default cache (256 servers) would evict most of a large cluster's.
    tls.resumption = Resumption::in_memory_sessions(TLS_SESSION_CACHE_SERVERS);
    Ok(tls)
}

fn certificates(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ClientBuildError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientBuildError::Pem {
            what,
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ClientBuildError::NoCertificates { what });
    }
    Ok(certs)
}

/// `--kubelet-insecure-tls`: any serving certificate is accepted, but the handshake signature
/// is still checked (as Go's `InsecureSkipVerify` does), so the peer must hold the key of the
/// certificate it presents.
#[derive(Debug)]
struct AcceptAnyServerCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The `Authorization` header value for kubelet requests.
#[derive(Debug)]
pub(crate) enum TokenSource {
    None,
    Static(HeaderValue),
    File {
        path: PathBuf,
        current: Mutex<FileToken>,
    },
}

#[derive(Debug)]
pub(crate) struct FileToken {
    header: Option<HeaderValue>,
    /// Modification time and size when last read; a change of either triggers a re-read.
    stamp: Option<(SystemTime, u64)>,
}

impl TokenSource {
    /// Reads the token once; an unreadable token file is a configuration error at startup.
    pub(crate) fn new(token: &BearerToken) -> Result<Self, ClientBuildError> {
        Ok(match token {
            BearerToken::None => TokenSource::None,
            BearerToken::Static(token) => match header(token)? {
                Some(value) => TokenSource::Static(value),
                None => TokenSource::None,
            },
            BearerToken::File(path) => {
                let (header, stamp) = read_token_file(path)?;
                TokenSource::File {
                    path: path.clone(),
                    current: Mutex::new(FileToken { header, stamp }),
                }
            }
        })
    }

    pub(crate) fn header(&self) -> Option<HeaderValue> {
        match self {
            TokenSource::None => None,
            TokenSource::Static(value) => Some(value.clone()),
            TokenSource::File { current, .. } => current
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .header
                .clone(),
        }
    }

    /// Re-reads the token file if its modification time or size changed. A failure keeps the
    /// previous token (a rotation in progress must not stop scraping) and is returned for logging.
    pub(crate) fn refresh(&self) -> Result<bool, ClientBuildError> {
        let TokenSource::File { path, current } = self else {
            return Ok(false);
        };
        let stamp = stamp_of(path)?;
        if current.lock().unwrap_or_else(PoisonError::into_inner).stamp == Some(stamp) {
            return Ok(false);
        }
        let (header, stamp) = read_token_file(path)?;
        let mut current = current.lock().unwrap_or_else(PoisonError::into_inner);
        current.header = header;
        current.stamp = stamp;
        Ok(true)
    }
}

fn stamp_of(path: &Path) -> Result<(SystemTime, u64), ClientBuildError> {
    let metadata = fs::metadata(path).map_err(|source| ClientBuildError::TokenFile {
        path: path.to_owned(),
        source,
    })?;
    let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    Ok((modified, metadata.len()))
}

type TokenRead = (Option<HeaderValue>, Option<(SystemTime, u64)>);

fn read_token_file(path: &Path) -> Result<TokenRead, ClientBuildError> {
    // Stamp first: if the file changes while we read, the next refresh sees a newer stamp.
    let stamp = stamp_of(path).ok();
    let text = fs::read_to_string(path).map_err(|source| ClientBuildError::TokenFile {
        path: path.to_owned(),
        source,
    })?;
    Ok((header(&text)?, stamp))
}

/// `Bearer <token>`, whitespace trimmed as client-go does; an empty token sends no header.
fn header(token: &str) -> Result<Option<HeaderValue>, ClientBuildError> {
    let token = token.trim();
    if token.is_empty() {
        return Ok(None);
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| ClientBuildError::InvalidToken)?;
    value.set_sensitive(true);
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_identity_needs_both_halves() {
        let config = KubeletClientConfig {
            insecure_skip_tls_verify: true,
            client_cert_pem: Some(b"x".to_vec()),
            ..KubeletClientConfig::default()
        };
        assert!(matches!(
            tls_config(&config),
            Err(ClientBuildError::IncompleteClientIdentity)
        ));
    }

    #[test]
    fn verification_needs_a_ca_and_a_ca_needs_certificates() {
        let config = KubeletClientConfig::default();
        assert!(matches!(
            tls_config(&config),
            Err(ClientBuildError::NoTrustAnchors)
        ));
        let config = KubeletClientConfig {
            ca_pem: Some(b"not pem".to_vec()),
            ..KubeletClientConfig::default()
        };
        assert!(matches!(
            tls_config(&config),
            Err(ClientBuildError::NoCertificates { .. })
        ));
    }

    #[test]
    fn tokens_are_trimmed_and_empty_ones_send_nothing() {
        let source = TokenSource::new(&BearerToken::Static(" abc \n".into())).unwrap();
        assert_eq!(source.header().unwrap(), "Bearer abc");
        assert!(
            TokenSource::new(&BearerToken::Static("\n".into()))
                .unwrap()
                .header()
                .is_none()
        );
        assert!(matches!(
            TokenSource::new(&BearerToken::Static("a\u{1}b".into())),
            Err(ClientBuildError::InvalidToken)
        ));
    }
}
