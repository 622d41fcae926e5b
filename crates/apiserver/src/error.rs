//! Error types of the crate's public API.
//!
//! Configuration problems are collected rather than returned one by one so the binary can
//! report every bad flag in a single run (upstream stops at the first, then panics).

use std::fmt;
use std::path::PathBuf;

/// One problem with a [`ServingConfig`](crate::ServingConfig).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServingConfigError {
    /// `--tls-min-version` names a version Go knows but rustls refuses to speak.
    #[error(
        "--tls-min-version={name}: {version} cannot be served (rustls implements only TLS 1.2 and TLS 1.3); use VersionTLS12 or VersionTLS13"
    )]
    UnsupportedTlsVersion {
        /// The flag value, e.g. `VersionTLS10`.
        name: String,
        /// Human form, e.g. `TLS 1.0`.
        version: &'static str,
    },
    /// `--tls-min-version` is not one of Go's version names.
    #[error(
        "--tls-min-version={name}: unknown TLS version; valid values are VersionTLS12 and VersionTLS13"
    )]
    UnknownTlsVersion {
        /// The flag value.
        name: String,
    },
    /// A `--tls-cipher-suites` entry is a Go suite that rustls does not implement.
    #[error(
        "--tls-cipher-suites: {name} cannot be honoured: rustls implements only ECDHE suites with AES-GCM or ChaCha20-Poly1305 (no CBC, RC4, 3DES or static-RSA key exchange) and the TLS 1.3 suites"
    )]
    UnsupportedCipherSuite {
        /// The suite name as given.
        name: String,
    },
    /// A `--tls-cipher-suites` entry is not a Go cipher suite name at all.
    #[error("--tls-cipher-suites: unknown cipher suite {name}")]
    UnknownCipherSuite {
        /// The suite name as given.
        name: String,
    },
    /// `--tls-cert-file` was given without `--tls-private-key-file`.
    #[error("--tls-cert-file requires --tls-private-key-file")]
    CertWithoutKey,
    /// `--tls-private-key-file` was given without `--tls-cert-file`.
    #[error("--tls-private-key-file requires --tls-cert-file")]
    KeyWithoutCert,
    /// A duration that must be positive is zero.
    #[error("{flag} must be greater than zero")]
    ZeroDuration {
        /// Which setting.
        flag: &'static str,
    },
}

/// Every problem found by [`ServingConfig::validate`](crate::ServingConfig::validate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingConfigErrors(pub Vec<ServingConfigError>);

impl fmt::Display for ServingConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ServingConfigErrors {}

/// Loading, generating or parsing a certificate or key failed.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file held no usable certificate or key.
    #[error("{path}: {message}")]
    Pem {
        /// The file (or ConfigMap key) concerned.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// Only one half of the `--cert-dir` pair exists.
    #[error(
        "{present} exists but {missing} does not; the certificate and key must be supplied as a pair"
    )]
    HalfPair {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// rustls rejected the key or the chain (e.g. the key does not match the certificate).
    #[error("{context}: {source}")]
    Tls {
        /// Which files.
        context: String,
        /// rustls' reason.
        #[source]
        source: rustls::Error,
    },
    /// Generating the self-signed pair failed.
    #[error("generating a self-signed serving certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Starting the HTTPS server failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is invalid.
    #[error("invalid serving configuration: {0}")]
    Config(#[from] ServingConfigErrors),
    /// The serving certificate could not be loaded or generated.
    #[error("serving certificate: {0}")]
    Certificate(#[from] CertificateError),
    /// rustls refused the TLS settings.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// Binding the listening socket failed.
    #[error("binding {address}: {source}")]
    Bind {
        /// The address that could not be bound.
        address: std::net::SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Setting up delegated authentication or authorization failed.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A CA bundle given by flag could not be loaded.
    #[error("{flag}: {source}")]
    CaFile {
        /// Which flag.
        flag: &'static str,
        /// Why.
        #[source]
        source: CertificateError,
    },
    /// A header name given by flag is not a valid HTTP header name.
    #[error("{flag}: {name:?} is not a valid HTTP header name")]
    HeaderName {
        /// Which flag.
        flag: &'static str,
        /// The offending value.
        name: String,
    },
    /// An `--authorization-always-allow-paths` entry has a `*` that is not at its end.
    #[error("--authorization-always-allow-paths: only a trailing * is allowed in {0:?}")]
    AlwaysAllowPath(String),
    /// Reading `kube-system/extension-apiserver-authentication` at start-up failed and
    /// `--authentication-tolerate-lookup-failure` is not set.
    #[error(
        "unable to load configmap based request-header-client-ca-file: {0} (set --authentication-tolerate-lookup-failure to start anyway, or --authentication-skip-lookup to not read it)"
    )]
    ConfigMapLookup(String),
    /// The self-metrics could not be registered.
    #[error("registering authentication/authorization metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}
