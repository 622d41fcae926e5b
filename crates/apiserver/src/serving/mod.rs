//! Secure serving (`SecureServingOptions`): one HTTPS listener speaking HTTP/2 (via ALPN)
//! and HTTP/1.1, asking every client for a certificate without requiring one, with a
//! serving certificate that is reloaded from disk while running and a graceful shutdown.
//!
//! - `tls`: Go version and cipher-suite names → rustls;
//! - `client_cert`: the "request but do not verify" client-certificate policy;
//! - `certificate`: the hot-reloadable serving certificate;
//! - `self_signed`: the `--cert-dir` fallback pair;
//! - `server`: the accept loop.

mod certificate;
mod client_cert;
mod self_signed;
mod server;
mod tls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;

pub use self::server::SecureServer;
use crate::error::{ServingConfigError, ServingConfigErrors};

/// Installs ring as the process-wide rustls provider (idempotent). The server does not
/// need it (it names its provider explicitly), but other TLS users in the process may.
pub fn install_default_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Who is on the other end of a connection; inserted into every request's extensions.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The client's address.
    pub remote_addr: SocketAddr,
    /// The certificate chain the client presented (leaf first), **not validated**: only the
    /// authenticators decide which CA it must chain to. Empty when none was presented.
    pub certificates: Arc<[CertificateDer<'static>]>,
}

/// HTTPS serving settings (upstream's "Apiserver secure serving" flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingConfig {
    /// `--bind-address` (0.0.0.0).
    pub bind_address: IpAddr,
    /// `--secure-port` (443; the manifests use 10250). 0 picks a free port, which tests use;
    /// Go treats 0 as "do not serve", a decision left to the binary.
    pub secure_port: u16,
    /// `--cert-dir`: where the self-signed pair lives when no certificate is given.
    pub cert_dir: PathBuf,
    /// `--tls-cert-file`.
    pub tls_cert_file: Option<PathBuf>,
    /// `--tls-private-key-file`.
    pub tls_private_key_file: Option<PathBuf>,
    /// `--tls-min-version` (`VersionTLS12` or `VersionTLS13`; empty means TLS 1.2).
    pub tls_min_version: Option<String>,
    /// `--tls-cipher-suites` (Go names; empty keeps the defaults).
    pub tls_cipher_suites: Vec<String>,
    /// `--disable-http2-serving`.
    pub disable_http2: bool,
    /// `--http2-max-streams-per-connection` (0 keeps hyper's default).
    pub http2_max_streams_per_connection: u32,
    /// `--permit-port-sharing`: SO_REUSEPORT, so several processes can share the port.
    /// (`--permit-address-sharing`, SO_REUSEADDR, is always on, as with Go and tokio on Unix.)
    pub permit_port_sharing: bool,
    /// Longest a client may take to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// A connection with no request in flight for this long is closed (HTTP/2 with a
    /// GOAWAY), as Go's `http.Server.IdleTimeout` of 90 s in the apiserver does.
    pub idle_timeout: Duration,
    /// Most connections open at once; more are closed as soon as they are accepted, so a
    /// flood of connections costs a file descriptor for a moment, not memory per connection.
    pub max_connections: usize,
    /// How long shutdown waits for open connections to finish before closing them.
    pub shutdown_timeout: Duration,
    /// How often the certificate files are checked for changes.
    pub cert_reload_interval: Duration,
}

impl Default for ServingConfig {
    fn default() -> Self {
        ServingConfig {
            bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            secure_port: 443,
            cert_dir: PathBuf::from("apiserver.local.config/certificates"),
            tls_cert_file: None,
            tls_private_key_file: None,
            tls_min_version: None,
            tls_cipher_suites: Vec::new(),
            disable_http2: false,
            http2_max_streams_per_connection: 0,
            permit_port_sharing: false,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            max_connections: 1024,
            shutdown_timeout: Duration::from_secs(60),
            cert_reload_interval: Duration::from_secs(10),
        }
    }
}

impl ServingConfig {
    /// The address to listen on.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind_address, self.secure_port)
    }

    /// Checks every setting and reports **all** problems at once.
    pub fn validate(&self) -> Result<(), ServingConfigErrors> {
        self.tls_settings().map(|_| ())
    }

    /// The validated TLS policy: allowed versions and the provider with the chosen suites.
    fn tls_settings(&self) -> Result<TlsSettings, ServingConfigErrors> {
        let mut errors = Vec::new();
        let min_version = tls::MinVersion::parse(self.tls_min_version.as_deref())
            .map_err(|e| errors.push(e))
            .ok();
        let suites = tls::cipher_suites(&self.tls_cipher_suites)
            .map_err(|e| errors.extend(e))
            .ok();
        match (&self.tls_cert_file, &self.tls_private_key_file) {
            (Some(_), None) => errors.push(ServingConfigError::CertWithoutKey),
            (None, Some(_)) => errors.push(ServingConfigError::KeyWithoutCert),
            _ => {}
        }
        for (flag, value) in [
            ("handshake timeout", self.handshake_timeout),
            ("idle timeout", self.idle_timeout),
            ("certificate reload interval", self.cert_reload_interval),
        ] {
            if value.is_zero() {
                errors.push(ServingConfigError::ZeroDuration { flag });
            }
        }
        match (min_version, suites) {
            (Some(min_version), Some(suites)) if errors.is_empty() => Ok(TlsSettings {
                versions: min_version.versions(),
                provider: Arc::new(tls::provider(suites)),
            }),
            _ => Err(ServingConfigErrors(errors)),
        }
    }
}

/// What [`ServingConfig::tls_settings`] produces.
#[derive(Debug)]
struct TlsSettings {
    versions: &'static [&'static rustls::SupportedProtocolVersion],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_upstream() {
        let config = ServingConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.socket_addr(), "0.0.0.0:443".parse().unwrap());
        assert_eq!(
            config.cert_dir,
            PathBuf::from("apiserver.local.config/certificates")
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let config = ServingConfig {
            tls_min_version: Some("VersionTLS10".into()),
            tls_cipher_suites: vec![
                "TLS_RSA_WITH_AES_128_CBC_SHA".into(),
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
            ],
            tls_cert_file: Some("/tls.crt".into()),
            handshake_timeout: Duration::ZERO,
            ..ServingConfig::default()
        };
        let errors = config.validate().unwrap_err();
        assert_eq!(
            errors.0,
            vec![
                ServingConfigError::UnsupportedTlsVersion {
                    name: "VersionTLS10".into(),
                    version: "TLS 1.0"
                },
                ServingConfigError::UnsupportedCipherSuite {
                    name: "TLS_RSA_WITH_AES_128_CBC_SHA".into()
                },
                ServingConfigError::CertWithoutKey,
                ServingConfigError::ZeroDuration {
                    flag: "handshake timeout"
                },
            ]
        );
        let text = errors.to_string();
        assert!(
            text.contains("VersionTLS10") && text.contains("TLS_RSA_WITH_AES_128_CBC_SHA"),
            "{text}"
        );
    }

    #[test]
    fn key_without_cert_is_reported() {
        let config = ServingConfig {
            tls_private_key_file: Some("/tls.key".into()),
            ..ServingConfig::default()
        };
        assert_eq!(
            config.validate().unwrap_err().0,
            vec![ServingConfigError::KeyWithoutCert]
        );
    }
}
