//! `--cert-dir`: when no serving certificate is given, use `apiserver.crt`/`apiserver.key`
//! from that directory, creating them first if neither exists (Go's
//! `MaybeDefaultWithSelfSignedCerts("localhost", nil, [127.0.0.1])`).
//!
//! As in Go, a throwaway CA signs a leaf for `localhost` and `127.0.0.1`, the certificate
//! file holds the leaf followed by the CA, both are valid for a year, and existing files
//! are reused as they are. Keys are ECDSA P-256 (Go writes RSA-2048; clients do not care).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{Timestamp, ToSpan};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use super::certificate::CertKeyFiles;
use crate::error::CertificateError;

/// File names Go uses inside `--cert-dir`.
pub(crate) const CERT_FILE: &str = "apiserver.crt";
/// See [`CERT_FILE`].
pub(crate) const KEY_FILE: &str = "apiserver.key";

const HOST: &str = "localhost";

/// Returns the `--cert-dir` pair, generating it when neither file is readable.
pub(crate) fn ensure_pair(cert_dir: &Path) -> Result<CertKeyFiles, CertificateError> {
    let files = CertKeyFiles {
        cert: cert_dir.join(CERT_FILE),
        key: cert_dir.join(KEY_FILE),
    };
    match (readable(&files.cert), readable(&files.key)) {
        (true, true) => return Ok(files),
        (true, false) => {
            return Err(CertificateError::HalfPair {
                present: files.cert,
                missing: files.key,
            });
        }
        (false, true) => {
            return Err(CertificateError::HalfPair {
                present: files.key,
                missing: files.cert,
            });
        }
        (false, false) => {}
    }
    let (cert_pem, key_pem) = generate()?;
    std::fs::create_dir_all(cert_dir).map_err(|source| CertificateError::Io {
        path: cert_dir.to_path_buf(),
        source,
    })?;
    write_file(&files.cert, cert_pem.as_bytes(), 0o644)?;
    write_file(&files.key, key_pem.as_bytes(), 0o600)?;
    tracing::info!(cert = %files.cert.display(), "generated a self-signed serving certificate");
    Ok(files)
}

fn readable(path: &Path) -> bool {
    std::fs::File::open(path).is_ok()
}

fn write_file(path: &PathBuf, contents: &[u8], mode: u32) -> Result<(), CertificateError> {
    let io_error = |source| CertificateError::Io {
        path: path.clone(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(io_error)?;
    file.write_all(contents).map_err(io_error)
}

/// The certificate file (leaf + CA) and the leaf key, both PEM.
fn generate() -> Result<(String, String), CertificateError> {
    let now = Timestamp::now();
    let stamp = now.as_second();

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name = common_name(&format!("{HOST}-ca@{stamp}"));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    set_validity(&mut ca_params, now);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let ca = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate()?;
    let mut leaf_params = CertificateParams::new(vec![HOST.to_owned()])?;
    leaf_params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    leaf_params.distinguished_name = common_name(&format!("{HOST}@{stamp}"));
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    set_validity(&mut leaf_params, now);
    let leaf_cert = leaf_params.signed_by(&leaf_key, &ca)?;

    Ok((
        format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
        leaf_key.serialize_pem(),
    ))
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

/// Valid from yesterday (clock skew) to a year from now, at day granularity.
fn set_validity(params: &mut CertificateParams, now: Timestamp) {
    let today = now.to_zoned(TimeZone::UTC).date();
    let to_rcgen = |date: k8s_openapi::jiff::civil::Date| {
        // jiff dates are always valid calendar dates, which is what `date_time_ymd` needs.
        rcgen::date_time_ymd(
            i32::from(date.year()),
            date.month().unsigned_abs(),
            date.day().unsigned_abs(),
        )
    };
    params.not_before = to_rcgen(today.saturating_sub(1.day()));
    params.not_after = to_rcgen(today.saturating_add(1.year()));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use x509_parser::extensions::GeneralName;

    use super::*;
    use crate::serving::certificate::ReloadingCertificate;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("metrics-api-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn generates_a_ca_signed_localhost_pair_once() {
        let dir = temp_dir("certdir");
        let files = ensure_pair(&dir).unwrap();
        assert_eq!(files.cert, dir.join("apiserver.crt"));
        assert_eq!(files.key, dir.join("apiserver.key"));
        let cert_pem = std::fs::read(&files.cert).unwrap();
        let chain: Vec<CertificateDer> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(chain.len(), 2, "leaf followed by its CA");

        let (_, leaf) = x509_parser::parse_x509_certificate(chain[0].as_ref()).unwrap();
        let (_, ca) = x509_parser::parse_x509_certificate(chain[1].as_ref()).unwrap();
        assert_eq!(leaf.issuer(), ca.subject());
        assert!(ca.is_ca());
        let cn = leaf
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        assert!(cn.starts_with("localhost@"), "{cn}");
        let sans = leaf
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .clone();
        assert!(sans.contains(&GeneralName::DNSName("localhost")));
        assert!(sans.contains(&GeneralName::IPAddress(&[127, 0, 0, 1])));
        let lifetime =
            leaf.validity().not_after.timestamp() - leaf.validity().not_before.timestamp();
        assert!(
            (365 * 86_400..=368 * 86_400).contains(&lifetime),
            "{lifetime}"
        );

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&files.key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }

        // The pair loads, and a second call reuses it unchanged.
        ReloadingCertificate::load(
            files.clone(),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .unwrap();
        ensure_pair(&dir).unwrap();
        assert_eq!(std::fs::read(&files.cert).unwrap(), cert_pem);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn half_a_pair_is_an_error() {
        let dir = temp_dir("halfpair");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(CERT_FILE), "x").unwrap();
        assert!(matches!(
            ensure_pair(&dir),
            Err(CertificateError::HalfPair { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
