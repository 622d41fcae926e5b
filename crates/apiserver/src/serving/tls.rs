//! `--tls-min-version` and `--tls-cipher-suites`, translated from Go's names to rustls.
//!
//! rustls implements TLS 1.2 and 1.3 only, and for TLS 1.2 only ECDHE key exchange with
//! AEAD ciphers. Go names outside that set are reported individually, so an operator
//! learns exactly which flag value to drop. As with Go, the TLS 1.3 suites cannot be
//! switched off by omission: they stay enabled unless TLS 1.3 names are listed explicitly.

use rustls::SupportedCipherSuite;
use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::cipher_suite as suite;

use crate::error::ServingConfigError;

/// The lowest protocol version to accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MinVersion {
    Tls12,
    Tls13,
}

impl MinVersion {
    /// Parses Go's `VersionTLS1x` names; absent means TLS 1.2 (Go's server default).
    pub(crate) fn parse(name: Option<&str>) -> Result<MinVersion, ServingConfigError> {
        match name.map(str::trim) {
            None | Some("") | Some("VersionTLS12") => Ok(MinVersion::Tls12),
            Some("VersionTLS13") => Ok(MinVersion::Tls13),
            Some(old @ ("VersionTLS10" | "VersionTLS11")) => {
                Err(ServingConfigError::UnsupportedTlsVersion {
                    name: old.to_owned(),
                    version: if old == "VersionTLS10" {
                        "TLS 1.0"
                    } else {
                        "TLS 1.1"
                    },
                })
            }
            Some(other) => Err(ServingConfigError::UnknownTlsVersion {
                name: other.to_owned(),
            }),
        }
    }

    /// The rustls versions this minimum enables.
    pub(crate) fn versions(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
        match self {
            MinVersion::Tls12 => rustls::ALL_VERSIONS,
            MinVersion::Tls13 => TLS13_ONLY,
        }
    }
}

/// Go cipher-suite names rustls can serve (including Go's legacy ChaCha20 aliases).
fn rustls_suite(name: &str) -> Option<SupportedCipherSuite> {
    Some(match name {
        "TLS_AES_128_GCM_SHA256" => suite::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_256_GCM_SHA384" => suite::TLS13_AES_256_GCM_SHA384,
        "TLS_CHACHA20_POLY1305_SHA256" => suite::TLS13_CHACHA20_POLY1305_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

/// Suites Go's `--tls-cipher-suites` accepts that rustls does not implement.
const GO_ONLY_SUITES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// The rustls suites for the given Go names, one error per name that cannot be honoured.
/// An empty list keeps rustls' defaults.
pub(crate) fn cipher_suites(
    names: &[String],
) -> Result<Vec<SupportedCipherSuite>, Vec<ServingConfigError>> {
    let mut suites = Vec::new();
    let mut errors = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        match rustls_suite(name) {
            Some(found) => {
                if !suites.contains(&found) {
                    suites.push(found);
                }
            }
            None if GO_ONLY_SUITES.contains(&name) => {
                errors.push(ServingConfigError::UnsupportedCipherSuite {
                    name: name.to_owned(),
                });
            }
            None => errors.push(ServingConfigError::UnknownCipherSuite {
                name: name.to_owned(),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if suites.is_empty() {
        return Ok(rustls::crypto::ring::DEFAULT_CIPHER_SUITES.to_vec());
    }
    // Go never lets TLS 1.3 suites be configured away; keep them all unless some are named.
    if !suites
        .iter()
        .any(|s| s.version() == &rustls::version::TLS13)
    {
        suites.extend(
            rustls::crypto::ring::DEFAULT_CIPHER_SUITES
                .iter()
                .filter(|s| s.version() == &rustls::version::TLS13),
        );
    }
    Ok(suites)
}

/// The ring provider restricted to `suites`.
pub(crate) fn provider(suites: Vec<SupportedCipherSuite>) -> CryptoProvider {
    CryptoProvider {
        cipher_suites: suites,
        ..rustls::crypto::ring::default_provider()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn min_versions() {
        assert_eq!(MinVersion::parse(None), Ok(MinVersion::Tls12));
        assert_eq!(
            MinVersion::parse(Some("VersionTLS12")),
            Ok(MinVersion::Tls12)
        );
        assert_eq!(
            MinVersion::parse(Some("VersionTLS13")),
            Ok(MinVersion::Tls13)
        );
        let old = MinVersion::parse(Some("VersionTLS10")).unwrap_err();
        assert_eq!(
            old.to_string(),
            "--tls-min-version=VersionTLS10: TLS 1.0 cannot be served (rustls implements only TLS 1.2 and TLS 1.3); use VersionTLS12 or VersionTLS13"
        );
        assert!(matches!(
            MinVersion::parse(Some("VersionTLS11")),
            Err(ServingConfigError::UnsupportedTlsVersion { .. })
        ));
        assert!(matches!(
            MinVersion::parse(Some("TLS1.2")),
            Err(ServingConfigError::UnknownTlsVersion { .. })
        ));
    }

    #[test]
    fn go_names_map_to_rustls_suites() {
        let suites = cipher_suites(&names(&[
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        ]))
        .unwrap();
        assert!(suites.contains(&suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256));
        assert!(suites.contains(&suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256));
        assert!(!suites.contains(&suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384));
        // TLS 1.3 suites stay on, as Go cannot turn them off either.
        assert!(suites.contains(&suite::TLS13_AES_128_GCM_SHA256));
        assert!(suites.contains(&suite::TLS13_CHACHA20_POLY1305_SHA256));
    }

    #[test]
    fn naming_tls13_suites_restricts_them() {
        let suites = cipher_suites(&names(&["TLS_AES_256_GCM_SHA384"])).unwrap();
        assert_eq!(suites, vec![suite::TLS13_AES_256_GCM_SHA384]);
    }

    #[test]
    fn every_unusable_name_is_reported() {
        let errors = cipher_suites(&names(&[
            "TLS_RSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_MADE_UP",
            "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
        ]))
        .unwrap_err();
        assert_eq!(
            errors,
            vec![
                ServingConfigError::UnsupportedCipherSuite {
                    name: "TLS_RSA_WITH_AES_128_CBC_SHA".into()
                },
                ServingConfigError::UnknownCipherSuite {
                    name: "TLS_MADE_UP".into()
                },
                ServingConfigError::UnsupportedCipherSuite {
                    name: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA".into()
                },
            ]
        );
        assert!(
            errors[0]
                .to_string()
                .contains("TLS_RSA_WITH_AES_128_CBC_SHA cannot be honoured")
        );
    }

    #[test]
    fn empty_list_keeps_defaults() {
        assert_eq!(
            cipher_suites(&[]).unwrap(),
            rustls::crypto::ring::DEFAULT_CIPHER_SUITES.to_vec()
        );
    }
}
