//! Client-certificate authentication against the client CA (`--client-ca-file` or the
//! ConfigMap's `client-ca-file`): user = CN, groups = O, uid from the Kubernetes UID
//! attribute, and the certificate's SHA-256 as credential id.

use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use x509_parser::oid_registry::Oid;

use super::Attempt;
use super::ca_pool::CaPool;
use super::user::{CREDENTIAL_ID_KEY, UserInfo};

/// The subject fields authentication cares about.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Subject {
    /// The last CN, as Go's `pkix.Name` keeps it.
    pub(crate) common_name: String,
    /// Every O, in order.
    pub(crate) organizations: Vec<String>,
    /// Every value of the Kubernetes UID attribute (1.3.6.1.4.1.57683.2).
    pub(crate) uids: Vec<String>,
}

/// Reads the subject of a DER certificate.
pub(crate) fn subject(certificate: &CertificateDer<'_>) -> Result<Subject, String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref())
        .map_err(|e| format!("unparsable client certificate: {e}"))?;
    let name = parsed.subject();
    Ok(Subject {
        common_name: strings(name.iter_common_name()).last().unwrap_or_default(),
        organizations: strings(name.iter_organization()).collect(),
        uids: match Oid::from(&[1, 3, 6, 1, 4, 1, 57683, 2]) {
            Ok(oid) => strings(name.iter_by_oid(&oid)).collect(),
            Err(_) => Vec::new(),
        },
    })
}

fn strings<'a>(
    attributes: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
) -> impl Iterator<Item = String> {
    attributes.filter_map(|attribute| attribute.as_str().ok().map(str::to_owned))
}

/// `X509SHA256=<hex>`, Go's credential id for a client certificate.
pub(crate) fn credential_id(certificate: &CertificateDer<'_>) -> String {
    format!(
        "X509SHA256={}",
        hex::encode(Sha256::digest(certificate.as_ref()))
    )
}

/// Authenticates `chain` against the client CA.
pub(crate) fn authenticate(pool: Option<&CaPool>, chain: &[CertificateDer<'static>]) -> Attempt {
    let (Some(pool), Some(leaf)) = (pool, chain.first()) else {
        return Attempt::NotApplicable;
    };
    if let Err(error) = pool.verify(chain) {
        return Attempt::Rejected(format!(
            "client certificate does not verify against the client CA: {error}"
        ));
    }
    let subject = match subject(leaf) {
        Ok(subject) => subject,
        Err(error) => return Attempt::Rejected(error),
    };
    if subject.common_name.is_empty() {
        return Attempt::NotApplicable;
    }
    let uid = match subject.uids.as_slice() {
        [] => String::new(),
        [uid] if !uid.is_empty() => uid.clone(),
        [_] => {
            return Attempt::Rejected(
                "UID in the client certificate cannot be an empty string".to_owned(),
            );
        }
        many => {
            return Attempt::Rejected(format!(
                "expected 1 UID in the client certificate, but found multiple: {many:?}"
            ));
        }
    };
    Attempt::Authenticated(UserInfo {
        name: subject.common_name,
        uid,
        groups: subject.organizations,
        extra: [(CREDENTIAL_ID_KEY.to_owned(), vec![credential_id(leaf)])].into(),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use testkit::pki::TestCa;

    use super::*;

    fn pool(ca: &TestCa) -> CaPool {
        CaPool::from_pem(ca.cert_pem.as_bytes(), Path::new("test"))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn user_is_the_cn_and_groups_the_organizations() {
        let ca = TestCa::new("client-ca").unwrap();
        let cert = ca.client("alice", &["developers"]).unwrap();
        let Attempt::Authenticated(user) =
            authenticate(Some(&pool(&ca)), std::slice::from_ref(&cert.cert_der))
        else {
            panic!("not authenticated");
        };
        assert_eq!(user.name, "alice");
        assert_eq!(user.groups, vec!["developers"]);
        assert_eq!(user.uid, "");
        let expected_id = format!(
            "X509SHA256={}",
            hex::encode(Sha256::digest(cert.cert_der.as_ref()))
        );
        assert_eq!(user.extra.get(CREDENTIAL_ID_KEY), Some(&vec![expected_id]));
    }

    #[test]
    fn unknown_ca_is_rejected_and_missing_pieces_do_not_apply() {
        let ca = TestCa::new("client-ca").unwrap();
        let rogue = TestCa::new("rogue").unwrap().client("alice", &[]).unwrap();
        assert!(matches!(
            authenticate(Some(&pool(&ca)), std::slice::from_ref(&rogue.cert_der)),
            Attempt::Rejected(_)
        ));
        assert!(matches!(
            authenticate(None, &[rogue.cert_der]),
            Attempt::NotApplicable
        ));
        assert!(matches!(
            authenticate(Some(&pool(&ca)), &[]),
            Attempt::NotApplicable
        ));
    }

    #[test]
    fn empty_common_name_does_not_authenticate() {
        let ca = TestCa::new("client-ca").unwrap();
        let cert = ca.client("", &["group"]).unwrap();
        assert!(matches!(
            authenticate(Some(&pool(&ca)), &[cert.cert_der]),
            Attempt::NotApplicable
        ));
    }

    #[test]
    fn every_organization_is_a_group_and_the_last_cn_wins() {
        use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};
        // rcgen keeps one value per attribute type, so the second O and CN use the OID form.
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "first");
        dn.push(DnType::OrganizationName, "developers");
        dn.push(
            DnType::CustomDnType(vec![2, 5, 4, 10]),
            DnValue::Utf8String("ops".into()),
        );
        dn.push(
            DnType::CustomDnType(vec![2, 5, 4, 3]),
            DnValue::Utf8String("last".into()),
        );
        dn.push(
            DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 57683, 2]),
            DnValue::Utf8String("uid-7".into()),
        );
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = dn;
        let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        let subject = subject(cert.der()).unwrap();
        assert_eq!(subject.organizations, vec!["developers", "ops"]);
        assert_eq!(subject.common_name, "last");
        assert_eq!(subject.uids, vec!["uid-7"]);
    }

    #[test]
    fn subject_reads_the_names() {
        let ca = TestCa::new("ca").unwrap();
        let cert = ca.client("front-proxy-client", &["a"]).unwrap();
        let subject = subject(&cert.cert_der).unwrap();
        assert_eq!(subject.common_name, "front-proxy-client");
        assert_eq!(subject.organizations, vec!["a"]);
        assert!(subject.uids.is_empty());
        assert!(super::subject(&CertificateDer::from(vec![1, 2, 3])).is_err());
    }
}
