//! Front-proxy ("request header") authentication: the aggregator proves itself with a
//! client certificate from the request-header CA and names the real user in
//! `X-Remote-*` headers (k8s.io/apiserver `pkg/authentication/request/headerrequest`, the first authenticator of the chain).
//!
//! The headers are believed only when that certificate verifies and, if an allowed-names
//! list is configured, its CN is on it. Whatever the outcome, the identity headers are
//! removed before the request goes further, so no handler can mistake a forged
//! `X-Remote-User` for an identity.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName};
use rustls::pki_types::CertificateDer;

use super::Attempt;
use super::ca_pool::CaPool;
use super::user::UserInfo;
use super::x509;
use crate::percent;

/// Header names stripped from every request even when the configuration names others:
/// they are what aggregators send by default, so they are what a forger would try.
const DEFAULT_IDENTITY_HEADERS: [&str; 3] = ["x-remote-user", "x-remote-group", "x-remote-uid"];
/// Default extra-header prefix, also always stripped.
const DEFAULT_EXTRA_PREFIX: &str = "x-remote-extra-";

/// Everything needed to trust a front proxy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequestHeaderTrust {
    pub(crate) ca: CaPool,
    /// CNs the proxy certificate may have; empty = any CN signed by `ca`.
    pub(crate) allowed_names: Vec<String>,
    pub(crate) username_headers: Vec<HeaderName>,
    pub(crate) uid_headers: Vec<HeaderName>,
    pub(crate) group_headers: Vec<HeaderName>,
    /// Lower-cased prefixes.
    pub(crate) extra_prefixes: Vec<String>,
}

/// The header-name lists of a [`RequestHeaderTrust`], as strings from flags or the ConfigMap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HeaderNames {
    pub(crate) allowed_names: Vec<String>,
    pub(crate) username: Vec<String>,
    pub(crate) uid: Vec<String>,
    pub(crate) group: Vec<String>,
    pub(crate) extra_prefix: Vec<String>,
}

impl RequestHeaderTrust {
    /// Builds the trust, or names the first string that is not a valid header name.
    pub(crate) fn new(ca: CaPool, names: HeaderNames) -> Result<RequestHeaderTrust, String> {
        Ok(RequestHeaderTrust {
            ca,
            allowed_names: names.allowed_names,
            username_headers: header_names(&names.username)?,
            uid_headers: header_names(&names.uid)?,
            group_headers: header_names(&names.group)?,
            extra_prefixes: names
                .extra_prefix
                .iter()
                .map(|p| p.trim().to_ascii_lowercase())
                .filter(|p| !p.is_empty())
                .collect(),
        })
    }
}

pub(crate) fn header_names(names: &[String]) -> Result<Vec<HeaderName>, String> {
    names
        .iter()
        .map(|name| name.trim())
        .filter(|name| !name.is_empty())
        .map(|name| HeaderName::from_bytes(name.as_bytes()).map_err(|_| name.to_owned()))
        .collect()
}

/// Authenticates a request whose TLS peer presented `chain`.
pub(crate) fn authenticate(
    trust: Option<&RequestHeaderTrust>,
    chain: &[CertificateDer<'static>],
    headers: &HeaderMap,
) -> Attempt {
    let (Some(trust), Some(leaf)) = (trust, chain.first()) else {
        return Attempt::NotApplicable;
    };
    if let Err(error) = trust.ca.verify(chain) {
        return Attempt::Rejected(format!(
            "client certificate does not verify against the request-header CA: {error}"
        ));
    }
    if !trust.allowed_names.is_empty() {
        let common_name = match x509::subject(leaf) {
            Ok(subject) => subject.common_name,
            Err(error) => return Attempt::Rejected(error),
        };
        if !trust.allowed_names.contains(&common_name) {
            return Attempt::Rejected(format!(
                "x509: subject with cn={common_name} is not in the allowed list"
            ));
        }
    }
    let Some(name) = first_non_empty(headers, &trust.username_headers) else {
        return Attempt::NotApplicable;
    };
    Attempt::Authenticated(UserInfo {
        name,
        uid: first_non_empty(headers, &trust.uid_headers).unwrap_or_default(),
        groups: all_values(headers, &trust.group_headers),
        extra: extras(headers, &trust.extra_prefixes),
    })
}

/// Removes every identity header (configured names and the usual defaults).
pub(crate) fn strip_identity_headers(trust: Option<&RequestHeaderTrust>, headers: &mut HeaderMap) {
    for name in DEFAULT_IDENTITY_HEADERS {
        headers.remove(name);
    }
    let mut prefixes: Vec<&str> = vec![DEFAULT_EXTRA_PREFIX];
    if let Some(trust) = trust {
        for name in trust
            .username_headers
            .iter()
            .chain(&trust.uid_headers)
            .chain(&trust.group_headers)
        {
            headers.remove(name);
        }
        prefixes.extend(trust.extra_prefixes.iter().map(String::as_str));
    }
    let prefixed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            prefixes
                .iter()
                .any(|prefix| name.as_str().starts_with(prefix))
        })
        .cloned()
        .collect();
    for name in prefixed {
        headers.remove(&name);
    }
}

fn value_text(value: &http::HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

/// Go's `headerValue`: the first header (in configured order) whose first value is non-empty.
fn first_non_empty(headers: &HeaderMap, names: &[HeaderName]) -> Option<String> {
    names
        .iter()
        .filter_map(|name| headers.get(name))
        .map(value_text)
        .find(|value| !value.is_empty())
}

/// Go's `allHeaderValues`: every non-empty value of every header, one per line, never split.
fn all_values(headers: &HeaderMap, names: &[HeaderName]) -> Vec<String> {
    names
        .iter()
        .flat_map(|name| headers.get_all(name))
        .map(value_text)
        .filter(|value| !value.is_empty())
        .collect()
}

/// Go's `newExtra`: key = lower-cased rest of the header name, percent-decoded when possible.
fn extras(headers: &HeaderMap, prefixes: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in headers.keys() {
        // http's header names are already lower case.
        let Some(rest) = prefixes
            .iter()
            .find_map(|prefix| name.as_str().strip_prefix(prefix.as_str()))
        else {
            continue;
        };
        let key = percent::decode(rest, false).unwrap_or_else(|| rest.to_owned());
        extra
            .entry(key)
            .or_default()
            .extend(headers.get_all(name).iter().map(value_text));
    }
    extra
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use http::HeaderValue;
    use testkit::pki::TestCa;

    use super::*;

    fn trust(ca: &TestCa, allowed: &[&str]) -> RequestHeaderTrust {
        let pool = CaPool::from_pem(ca.cert_pem.as_bytes(), Path::new("test"))
            .unwrap()
            .unwrap();
        RequestHeaderTrust::new(
            pool,
            HeaderNames {
                allowed_names: allowed.iter().map(|s| s.to_string()).collect(),
                username: vec!["X-Remote-User".into()],
                uid: vec!["X-Remote-Uid".into()],
                group: vec!["X-Remote-Group".into()],
                extra_prefix: vec!["X-Remote-Extra-".into()],
            },
        )
        .unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn builds_the_user_from_the_headers() {
        let ca = TestCa::new("front-proxy-ca").unwrap();
        let proxy = ca.client("front-proxy-client", &[]).unwrap();
        let request = headers(&[
            ("x-remote-user", "alice"),
            ("x-remote-uid", "uid-1"),
            ("x-remote-group", "dev"),
            ("x-remote-group", "a,b"),
            ("x-remote-group", ""),
            (
                "X-Remote-Extra-Authentication.kubernetes.io%2fcredential-Id",
                "X509SHA256=ab",
            ),
            ("x-remote-extra-scopes", "view"),
            ("x-remote-extra-scopes", "edit"),
            ("x-remote-extra-bad%zz", "kept-raw"),
        ]);
        let Attempt::Authenticated(user) = authenticate(
            Some(&trust(&ca, &["front-proxy-client"])),
            &[proxy.cert_der],
            &request,
        ) else {
            panic!("not authenticated");
        };
        assert_eq!(user.name, "alice");
        assert_eq!(user.uid, "uid-1");
        assert_eq!(user.groups, vec!["dev", "a,b"]);
        assert_eq!(
            user.extra,
            BTreeMap::from([
                (
                    "authentication.kubernetes.io/credential-id".to_owned(),
                    vec!["X509SHA256=ab".to_owned()]
                ),
                ("bad%zz".to_owned(), vec!["kept-raw".to_owned()]),
                (
                    "scopes".to_owned(),
                    vec!["view".to_owned(), "edit".to_owned()]
                ),
            ])
        );
    }

    #[test]
    fn cn_must_be_allowed_unless_the_list_is_empty() {
        let ca = TestCa::new("front-proxy-ca").unwrap();
        let other = ca.client("someone-else", &[]).unwrap();
        let request = headers(&[("x-remote-user", "alice")]);
        assert!(matches!(
            authenticate(Some(&trust(&ca, &["front-proxy-client"])), std::slice::from_ref(&other.cert_der), &request),
            Attempt::Rejected(reason) if reason.contains("cn=someone-else is not in the allowed list")
        ));
        assert!(matches!(
            authenticate(Some(&trust(&ca, &[])), &[other.cert_der], &request),
            Attempt::Authenticated(user) if user.name == "alice"
        ));
    }

    #[test]
    fn other_cas_and_missing_pieces() {
        let ca = TestCa::new("front-proxy-ca").unwrap();
        let rogue = TestCa::new("rogue")
            .unwrap()
            .client("front-proxy-client", &[])
            .unwrap();
        let proxy = ca.client("front-proxy-client", &[]).unwrap();
        let with_user = headers(&[("x-remote-user", "alice")]);
        assert!(matches!(
            authenticate(Some(&trust(&ca, &[])), &[rogue.cert_der], &with_user),
            Attempt::Rejected(_)
        ));
        assert!(matches!(
            authenticate(Some(&trust(&ca, &[])), &[], &with_user),
            Attempt::NotApplicable
        ));
        assert!(matches!(
            authenticate(None, std::slice::from_ref(&proxy.cert_der), &with_user),
            Attempt::NotApplicable
        ));
        // A valid proxy certificate without a user header falls through to the next authenticator.
        let empty_user = headers(&[("x-remote-user", ""), ("x-remote-group", "g")]);
        assert!(matches!(
            authenticate(Some(&trust(&ca, &[])), &[proxy.cert_der], &empty_user),
            Attempt::NotApplicable
        ));
    }

    #[test]
    fn stripping_removes_configured_and_default_identity_headers() {
        let ca = TestCa::new("front-proxy-ca").unwrap();
        let mut custom = trust(&ca, &[]);
        custom.username_headers = header_names(&["X-Proxy-User".to_owned()]).unwrap();
        custom.extra_prefixes = vec!["x-proxy-extra-".to_owned()];
        let mut request = headers(&[
            ("x-remote-user", "admin"),
            ("x-remote-group", "system:masters"),
            ("x-remote-uid", "1"),
            ("x-remote-extra-foo", "bar"),
            ("x-proxy-user", "admin"),
            ("x-proxy-extra-foo", "bar"),
            ("accept", "application/json"),
        ]);
        strip_identity_headers(Some(&custom), &mut request);
        assert_eq!(request.len(), 1, "{request:?}");
        assert!(request.contains_key("accept"));

        let mut unconfigured = headers(&[("x-remote-user", "admin"), ("x-remote-extra-a", "b")]);
        strip_identity_headers(None, &mut unconfigured);
        assert!(unconfigured.is_empty());
    }

    #[test]
    fn invalid_header_names_are_reported() {
        assert_eq!(
            header_names(&["ok".into(), "bad header".into()]),
            Err("bad header".to_owned())
        );
        assert_eq!(
            header_names(&[" ".into()]).unwrap(),
            Vec::<HeaderName>::new()
        );
    }
}
