//! The serving certificate: loaded from `--tls-cert-file`/`--tls-private-key-file` (or the
//! `--cert-dir` pair) and re-read periodically, so a renewed certificate is used for new
//! handshakes without a restart. Established connections are untouched.
//!
//! A pair that fails to load (half-written files, key not matching the certificate) is
//! logged and ignored; the previous certificate stays in use until a good pair appears.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::error::CertificateError;

/// Where the serving certificate and key live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertKeyFiles {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

/// A [`ResolvesServerCert`] whose certificate can be swapped while serving.
#[derive(Debug)]
pub(crate) struct ReloadingCertificate {
    files: CertKeyFiles,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    /// Digest of the file contents last looked at, loaded or not.
    last_seen: Mutex<[u8; 32]>,
}

impl ReloadingCertificate {
    /// Loads the pair; fails if it is unusable.
    pub(crate) fn load(
        files: CertKeyFiles,
        provider: Arc<CryptoProvider>,
    ) -> Result<ReloadingCertificate, CertificateError> {
        let (cert_pem, key_pem) = read_pair(&files)?;
        let certified = parse_pair(&files, &cert_pem, &key_pem, &provider)?;
        Ok(ReloadingCertificate {
            current: ArcSwap::from_pointee(certified),
            last_seen: Mutex::new(digest(&cert_pem, &key_pem)),
            files,
            provider,
        })
    }

    /// Re-reads the files; `Ok(true)` when a different, valid pair was installed.
    pub(crate) fn reload(&self) -> Result<bool, CertificateError> {
        let (cert_pem, key_pem) = read_pair(&self.files)?;
        let seen = digest(&cert_pem, &key_pem);
        {
            let mut last_seen = self
                .last_seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if *last_seen == seen {
                return Ok(false);
            }
            // Remember even a broken pair so it is reported once, not on every poll.
            *last_seen = seen;
        }
        let certified = parse_pair(&self.files, &cert_pem, &key_pem, &self.provider)?;
        self.current.store(Arc::new(certified));
        Ok(true)
    }

    /// Polls the files every `interval` until `shutdown`.
    pub(crate) async fn poll(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            match self.reload() {
                Ok(true) => {
                    tracing::info!(cert = %self.files.cert.display(), "loaded a new serving certificate")
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "keeping the current serving certificate"),
            }
        }
    }

    /// The certificate currently served (leaf first).
    #[cfg(test)]
    pub(crate) fn current_leaf(&self) -> Option<CertificateDer<'static>> {
        self.current.load().cert.first().cloned()
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn digest(cert_pem: &[u8], key_pem: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update((cert_pem.len() as u64).to_le_bytes());
    hasher.update(cert_pem);
    hasher.update(key_pem);
    hasher.finalize().into()
}

fn read(path: &Path) -> Result<Vec<u8>, CertificateError> {
    std::fs::read(path).map_err(|source| CertificateError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn read_pair(files: &CertKeyFiles) -> Result<(Vec<u8>, Vec<u8>), CertificateError> {
    Ok((read(&files.cert)?, read(&files.key)?))
}

fn parse_pair(
    files: &CertKeyFiles,
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, CertificateError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertificateError::Pem {
            path: files.cert.clone(),
            message: format!("invalid PEM: {e}"),
        })?;
    if chain.is_empty() {
        return Err(CertificateError::Pem {
            path: files.cert.clone(),
            message: "no certificate found".to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| CertificateError::Pem {
        path: files.key.clone(),
        message: format!("no usable private key: {e}"),
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|source| CertificateError::Tls {
        context: format!("{} with {}", files.cert.display(), files.key.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use testkit::pki::TestCa;

    use super::*;

    fn write_pair(dir: &Path, issued: &testkit::pki::Issued) -> CertKeyFiles {
        let files = CertKeyFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        };
        std::fs::write(&files.cert, &issued.cert_pem).unwrap();
        std::fs::write(&files.key, &issued.key_pem).unwrap();
        files
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("metrics-api-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reload_swaps_only_valid_new_pairs() {
        let dir = temp_dir("reload");
        let ca = TestCa::new("ca").unwrap();
        let first = ca.server("localhost", &["localhost"], &[]).unwrap();
        let files = write_pair(&dir, &first);
        let reloading = ReloadingCertificate::load(files.clone(), provider()).unwrap();
        assert!(!reloading.reload().unwrap());

        // A key that does not match is refused and the old certificate stays.
        let second = ca.server("localhost", &["localhost"], &[]).unwrap();
        std::fs::write(&files.cert, &second.cert_pem).unwrap();
        assert!(reloading.reload().is_err());
        assert_eq!(reloading.current_leaf(), Some(first.cert_der.clone()));

        std::fs::write(&files.key, &second.key_pem).unwrap();
        assert!(reloading.reload().unwrap());
        assert_eq!(reloading.current_leaf(), Some(second.cert_der.clone()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unusable_files_fail_to_load() {
        let dir = temp_dir("unusable");
        let files = CertKeyFiles {
            cert: dir.join("missing.crt"),
            key: dir.join("missing.key"),
        };
        assert!(matches!(
            ReloadingCertificate::load(files.clone(), provider()),
            Err(CertificateError::Io { .. })
        ));
        std::fs::write(&files.cert, "junk").unwrap();
        std::fs::write(&files.key, "junk").unwrap();
        assert!(matches!(
            ReloadingCertificate::load(files, provider()),
            Err(CertificateError::Pem { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
