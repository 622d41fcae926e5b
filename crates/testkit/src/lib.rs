//! Test support for the workspace's unit and integration tests (never linked into the product):
//! a throwaway certificate authority and a TLS server that hands the peer's certificates to
//! an axum router, for fake kubelets and a fake kube-apiserver.

pub mod pki;
pub mod tls_server;

/// Installs the process-wide rustls crypto provider (ring). Idempotent.
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
