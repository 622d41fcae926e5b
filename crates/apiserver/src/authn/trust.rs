//! The CA pools and front-proxy settings currently in force, swappable while serving.
//!
//! Each part comes either from flags or from the `kube-system/extension-apiserver-authentication`
//! ConfigMap, with Go's precedence: `--client-ca-file` replaces the ConfigMap's client CA,
//! and `--requestheader-client-ca-file` replaces the ConfigMap's *whole* request-header
//! block (CA, allowed names and header names). ConfigMap updates rebuild only the parts it
//! supplies and publish a new snapshot atomically; requests in flight keep the one they
//! loaded. A ConfigMap value that fails to parse keeps that part's previous value, as the
//! Go controllers do, and so does deleting the ConfigMap.

use std::fmt::Display;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use futures_util::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use tokio_util::sync::CancellationToken;

use super::ca_pool::CaPool;
use super::request_header::{HeaderNames, RequestHeaderTrust};

/// Namespace of the authentication ConfigMap.
pub const CONFIGMAP_NAMESPACE: &str = "kube-system";
/// Name of the authentication ConfigMap.
pub const CONFIGMAP_NAME: &str = "extension-apiserver-authentication";

const CLIENT_CA_KEY: &str = "client-ca-file";
const REQUESTHEADER_CA_KEY: &str = "requestheader-client-ca-file";
const ALLOWED_NAMES_KEY: &str = "requestheader-allowed-names";
const USERNAME_HEADERS_KEY: &str = "requestheader-username-headers";
const UID_HEADERS_KEY: &str = "requestheader-uid-headers";
const GROUP_HEADERS_KEY: &str = "requestheader-group-headers";
const EXTRA_PREFIXES_KEY: &str = "requestheader-extra-headers-prefix";

/// What the authenticators check against, for one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct TrustSnapshot {
    pub(crate) client_ca: Option<CaPool>,
    pub(crate) request_header: Option<RequestHeaderTrust>,
}

#[derive(Debug, Default)]
struct Sources {
    flags: TrustSnapshot,
    configmap: TrustSnapshot,
}

/// The live trust configuration.
#[derive(Debug)]
pub(crate) struct TrustStore {
    current: ArcSwap<TrustSnapshot>,
    sources: Mutex<Sources>,
    configmap_supplies_client_ca: bool,
    configmap_supplies_request_header: bool,
}

impl TrustStore {
    /// Starts from the flag-given parts; `lookup` says whether the ConfigMap may supply the rest.
    pub(crate) fn new(flags: TrustSnapshot, lookup: bool) -> TrustStore {
        let store = TrustStore {
            current: ArcSwap::from_pointee(flags.clone()),
            configmap_supplies_client_ca: lookup && flags.client_ca.is_none(),
            configmap_supplies_request_header: lookup && flags.request_header.is_none(),
            sources: Mutex::new(Sources {
                flags,
                configmap: TrustSnapshot::default(),
            }),
        };
        store.publish();
        store
    }

    /// Whether anything is to be read from the ConfigMap at all.
    pub(crate) fn wants_configmap(&self) -> bool {
        self.configmap_supplies_client_ca || self.configmap_supplies_request_header
    }

    /// The snapshot to use for one request.
    pub(crate) fn snapshot(&self) -> Arc<TrustSnapshot> {
        self.current.load_full()
    }

    /// Applies a (new version of the) ConfigMap.
    pub(crate) fn apply_configmap(&self, configmap: &ConfigMap) {
        let empty = std::collections::BTreeMap::new();
        let data = configmap.data.as_ref().unwrap_or(&empty);
        let value = |key: &str| data.get(key).map(String::as_str).unwrap_or("");
        {
            let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
            if self.configmap_supplies_client_ca {
                match CaPool::from_pem(value(CLIENT_CA_KEY).as_bytes(), Path::new(CLIENT_CA_KEY)) {
                    Ok(pool) => sources.configmap.client_ca = pool,
                    Err(error) => {
                        tracing::warn!(%error, "ignoring the ConfigMap's client CA, keeping the previous one")
                    }
                }
            }
            if self.configmap_supplies_request_header {
                match request_header_from(&value) {
                    Ok(trust) => sources.configmap.request_header = trust,
                    Err(error) => {
                        tracing::warn!(%error, "ignoring the ConfigMap's request-header settings, keeping the previous ones")
                    }
                }
            }
        }
        self.publish();
    }

    fn publish(&self) {
        let sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        let next = TrustSnapshot {
            client_ca: sources
                .flags
                .client_ca
                .clone()
                .or_else(|| sources.configmap.client_ca.clone()),
            request_header: sources
                .flags
                .request_header
                .clone()
                .or_else(|| sources.configmap.request_header.clone()),
        };
        if *self.current.load_full() != next {
            tracing::info!(
                client_ca = next.client_ca.is_some(),
                request_header = next.request_header.is_some(),
                "loaded new client certificate trust"
            );
        }
        self.current.store(Arc::new(next));
    }

    /// Applies ConfigMap updates until `shutdown`; `None` means it was deleted (the last
    /// values stay, as in Go). Stream errors are logged; the stream is expected to retry.
    pub(crate) async fn follow_configmap<S, E>(&self, updates: S, shutdown: CancellationToken)
    where
        S: Stream<Item = Result<Option<ConfigMap>, E>>,
        E: Display,
    {
        let mut updates = std::pin::pin!(updates);
        loop {
            let update = tokio::select! {
                () = shutdown.cancelled() => return,
                update = updates.next() => update,
            };
            match update {
                None => return,
                Some(Ok(Some(configmap))) => self.apply_configmap(&configmap),
                Some(Ok(None)) => tracing::warn!(
                    "configmap {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} is gone; keeping the last client certificate trust"
                ),
                Some(Err(error)) => {
                    tracing::warn!(%error, "watching configmap {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME}")
                }
            }
        }
    }
}

/// The request-header block of the ConfigMap; `None` without a request-header CA.
fn request_header_from<'a>(
    value: &impl Fn(&str) -> &'a str,
) -> Result<Option<RequestHeaderTrust>, String> {
    let Some(ca) = CaPool::from_pem(
        value(REQUESTHEADER_CA_KEY).as_bytes(),
        Path::new(REQUESTHEADER_CA_KEY),
    )
    .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let names = HeaderNames {
        allowed_names: string_list(value, ALLOWED_NAMES_KEY)?,
        username: string_list(value, USERNAME_HEADERS_KEY)?,
        uid: string_list(value, UID_HEADERS_KEY)?,
        group: string_list(value, GROUP_HEADERS_KEY)?,
        extra_prefix: string_list(value, EXTRA_PREFIXES_KEY)?,
    };
    RequestHeaderTrust::new(ca, names)
        .map(Some)
        .map_err(|name| format!("{name:?} is not a valid HTTP header name"))
}

/// A JSON string array; an empty value means none (Go's `deserializeStrings`).
fn string_list<'a>(value: &impl Fn(&str) -> &'a str, key: &str) -> Result<Vec<String>, String> {
    let raw = value(key);
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(raw).map_err(|e| format!("{key}: {e}"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use testkit::pki::TestCa;

    use super::*;

    fn configmap(entries: &[(&str, &str)]) -> ConfigMap {
        ConfigMap {
            data: Some(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..ConfigMap::default()
        }
    }

    fn full(client: &TestCa, proxy: &TestCa, allowed: &str) -> ConfigMap {
        configmap(&[
            (CLIENT_CA_KEY, &client.cert_pem),
            (REQUESTHEADER_CA_KEY, &proxy.cert_pem),
            (ALLOWED_NAMES_KEY, allowed),
            (USERNAME_HEADERS_KEY, r#"["X-Remote-User"]"#),
            (GROUP_HEADERS_KEY, r#"["X-Remote-Group"]"#),
            (EXTRA_PREFIXES_KEY, r#"["X-Remote-Extra-"]"#),
            (UID_HEADERS_KEY, "[]"),
        ])
    }

    #[test]
    fn reads_the_fixture_configmap() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testkit/fixtures/configmap-extension-apiserver-authentication.json"
        );
        let configmap: ConfigMap = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let store = TrustStore::new(TrustSnapshot::default(), true);
        store.apply_configmap(&configmap);
        let snapshot = store.snapshot();
        assert!(snapshot.client_ca.is_some());
        let request_header = snapshot.request_header.clone().unwrap();
        assert_eq!(request_header.allowed_names, vec!["front-proxy-client"]);
        assert_eq!(request_header.username_headers, vec!["x-remote-user"]);
        assert_eq!(request_header.group_headers, vec!["x-remote-group"]);
        assert_eq!(request_header.extra_prefixes, vec!["x-remote-extra-"]);
        assert!(request_header.uid_headers.is_empty());
    }

    #[test]
    fn flags_win_over_the_configmap_part_by_part() {
        let flag_ca = TestCa::new("flag-client-ca").unwrap();
        let flag_pool = CaPool::from_pem(flag_ca.cert_pem.as_bytes(), Path::new("flag")).unwrap();
        let store = TrustStore::new(
            TrustSnapshot {
                client_ca: flag_pool.clone(),
                request_header: None,
            },
            true,
        );
        let (cm_client, cm_proxy) = (
            TestCa::new("cm-client").unwrap(),
            TestCa::new("cm-proxy").unwrap(),
        );
        store.apply_configmap(&full(&cm_client, &cm_proxy, "[]"));
        let snapshot = store.snapshot();
        assert_eq!(snapshot.client_ca, flag_pool);
        assert!(snapshot.request_header.is_some());
    }

    #[test]
    fn skip_lookup_ignores_the_configmap() {
        let store = TrustStore::new(TrustSnapshot::default(), false);
        assert!(!store.wants_configmap());
        let (client, proxy) = (TestCa::new("c").unwrap(), TestCa::new("p").unwrap());
        store.apply_configmap(&full(&client, &proxy, "[]"));
        assert_eq!(*store.snapshot(), TrustSnapshot::default());
    }

    #[test]
    fn broken_values_keep_the_previous_part() {
        let store = TrustStore::new(TrustSnapshot::default(), true);
        let (client, proxy) = (TestCa::new("c").unwrap(), TestCa::new("p").unwrap());
        store.apply_configmap(&full(&client, &proxy, r#"["front-proxy-client"]"#));
        let before = store.snapshot();
        store.apply_configmap(&configmap(&[
            (CLIENT_CA_KEY, "garbage"),
            (REQUESTHEADER_CA_KEY, &proxy.cert_pem),
            (ALLOWED_NAMES_KEY, "not json"),
        ]));
        assert_eq!(*store.snapshot(), *before);
    }

    #[test]
    fn no_requestheader_ca_means_no_front_proxy() {
        let store = TrustStore::new(TrustSnapshot::default(), true);
        let client = TestCa::new("c").unwrap();
        store.apply_configmap(&configmap(&[
            (CLIENT_CA_KEY, &client.cert_pem),
            (USERNAME_HEADERS_KEY, r#"["X-Remote-User"]"#),
        ]));
        assert!(store.snapshot().client_ca.is_some());
        assert!(store.snapshot().request_header.is_none());
    }

    #[tokio::test]
    async fn follows_updates_and_survives_deletion_and_errors() {
        let store = Arc::new(TrustStore::new(TrustSnapshot::default(), true));
        let (first_client, proxy) = (TestCa::new("first").unwrap(), TestCa::new("proxy").unwrap());
        let second_client = TestCa::new("second").unwrap();
        let first_user = first_client.client("alice", &[]).unwrap();
        let second_user = second_client.client("bob", &[]).unwrap();
        let updates = futures_util::stream::iter(vec![
            Ok(Some(full(&first_client, &proxy, "[]"))),
            Err("watch failed"),
            Ok(Some(full(&second_client, &proxy, "[]"))),
            Ok(None),
        ]);
        store
            .follow_configmap(updates, CancellationToken::new())
            .await;
        let pool = store.snapshot().client_ca.clone().unwrap();
        assert!(pool.verify(&[second_user.cert_der]).is_ok());
        assert!(pool.verify(&[first_user.cert_der]).is_err());
    }
}
