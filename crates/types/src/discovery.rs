//! Discovery documents and `/version`, rendered once as compact JSON bytes.
//!
//! The aggregator's availability probe and its legacy discovery fallback read
//! `/apis/metrics.k8s.io/v1beta1`; kube-aggregator 1.27+ first asks `/apis`
//! for aggregated discovery (`apidiscovery.k8s.io/v2`). The documents match
//! `fixtures/discovery-*.json` field for field: `singularName` is `""` (as
//! metrics-server's storages report it) and the verbs are only `get`/`list`.

use std::sync::LazyLock;

use serde::Serialize;
use sha2::{Digest, Sha512};

use crate::metrics::{ApiVersion, GROUP};
use apimachinery::gojson::{self, EmptyObject};

/// `Content-Type` of an aggregated discovery answer; clients check the parameters.
pub const AGGREGATED_DISCOVERY_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// The Kubernetes minor version whose API behaviour this server reproduces (apiserver libraries v0.36).
pub const KUBERNETES_MINOR: &str = "36";

/// `GET /apis`: the legacy `APIGroupList`.
pub fn api_group_list() -> &'static [u8] {
    static DOC: LazyLock<Vec<u8>> = LazyLock::new(|| {
        render(&GroupListDoc {
            kind: "APIGroupList",
            api_version: "v1",
            groups: [group_doc(None)],
        })
    });
    &DOC
}

/// `GET /apis/metrics.k8s.io`: the `APIGroup`.
pub fn api_group() -> &'static [u8] {
    static DOC: LazyLock<Vec<u8>> = LazyLock::new(|| render(&group_doc(Some(("APIGroup", "v1")))));
    &DOC
}

/// `GET /apis/metrics.k8s.io/<version>`: the `APIResourceList` (also what the availability
/// probe of that version's APIService reads).
pub fn api_resource_list(version: ApiVersion) -> &'static [u8] {
    static V1BETA1: LazyLock<Vec<u8>> = LazyLock::new(|| resource_list_doc(ApiVersion::V1beta1));
    static V1: LazyLock<Vec<u8>> = LazyLock::new(|| resource_list_doc(ApiVersion::V1));
    match version {
        ApiVersion::V1beta1 => &V1BETA1,
        ApiVersion::V1 => &V1,
    }
}

fn resource_list_doc(version: ApiVersion) -> Vec<u8> {
    {
        let resource = |name, namespaced, kind| ApiResource {
            name,
            singular_name: "",
            namespaced,
            kind,
            verbs: VERBS,
        };
        render(&ResourceListDoc {
            kind: "APIResourceList",
            api_version: "v1",
            group_version: version.group_version(),
            resources: [
                resource("nodes", false, "NodeMetrics"),
                resource("pods", true, "PodMetrics"),
            ],
        })
    }
}

/// `GET /apis` with the aggregated-discovery `Accept`: the `APIGroupDiscoveryList` (v2).
///
/// Both versions are listed, the preferred first; the aggregator takes from it only the
/// versions an `APIService` registers, so a cluster that registers `v1beta1` alone sees just
/// that.
pub fn aggregated_discovery() -> &'static [u8] {
    static DOC: LazyLock<Vec<u8>> = LazyLock::new(|| {
        let version_discovery = |version: ApiVersion| {
            let resource = |name, scope, kind| DiscoveryResource {
                resource: name,
                response_kind: GroupVersionKind {
                    group: GROUP,
                    version: version.version(),
                    kind,
                },
                scope,
                singular_resource: "",
                verbs: VERBS,
            };
            VersionDiscovery {
                version: version.version(),
                resources: [
                    resource("nodes", "Cluster", "NodeMetrics"),
                    resource("pods", "Namespaced", "PodMetrics"),
                ],
                freshness: "Current",
            }
        };
        render(&DiscoveryListDoc {
            kind: "APIGroupDiscoveryList",
            api_version: "apidiscovery.k8s.io/v2",
            metadata: EmptyObject,
            items: [GroupDiscovery {
                metadata: NameOnly { name: GROUP },
                versions: ApiVersion::ALL.map(version_discovery),
            }],
        })
    });
    &DOC
}

/// The `ETag` header value for a JSON document: the upper-case hex SHA-512 of
/// the JSON, quoted. Go hashes `json.Marshal`'s output, which has no trailing
/// newline, so a final `\n` of `body` is left out of the hash.
pub fn etag(body: &[u8]) -> String {
    format!("\"{}\"", content_hash(body))
}

/// Upper-case hex SHA-512 of a JSON document without its trailing newline
/// (the `?hash=` of OpenAPI v3 URLs uses the same form).
pub fn content_hash(body: &[u8]) -> String {
    let json = body.strip_suffix(b"\n").unwrap_or(body);
    hex::encode_upper(Sha512::digest(json))
}

/// `GET /version`: a `version.Info` naming this implementation.
pub fn version_info() -> &'static [u8] {
    static DOC: LazyLock<Vec<u8>> = LazyLock::new(|| {
        render(&VersionInfo {
            major: "1",
            minor: KUBERNETES_MINOR,
            emulation_major: "1",
            emulation_minor: KUBERNETES_MINOR,
            min_compatibility_major: "1",
            min_compatibility_minor: PREVIOUS_MINOR,
            git_version: concat!("v", env!("CARGO_PKG_VERSION")),
            // Set at build time when the build knows them; Go's defaults otherwise.
            git_commit: option_env!("METRICS_SERVER_GIT_COMMIT").unwrap_or(""),
            git_tree_state: option_env!("METRICS_SERVER_GIT_TREE_STATE").unwrap_or(""),
            build_date: option_env!("METRICS_SERVER_BUILD_DATE").unwrap_or("1970-01-01T00:00:00Z"),
            // Not built with Go; say so rather than invent a Go release.
            go_version: "n/a",
            compiler: "rustc",
            platform: PLATFORM.as_str(),
        })
    });
    &DOC
}

const PREVIOUS_MINOR: &str = "35";

const VERBS: [&str; 2] = ["get", "list"];

/// `GOOS/GOARCH` spelling of the platform we run on.
static PLATFORM: LazyLock<String> = LazyLock::new(|| {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
});

fn render<T: Serialize>(doc: &T) -> Vec<u8> {
    // The documents are fixed structs of strings and booleans; serialising
    // them cannot fail, and an empty body would be caught by the tests.
    gojson::to_vec_with_newline(doc).unwrap_or_default()
}

fn group_doc(type_meta: Option<(&'static str, &'static str)>) -> GroupDoc {
    let version = |version: ApiVersion| GroupVersion {
        group_version: version.group_version(),
        version: version.version(),
    };
    GroupDoc {
        kind: type_meta.map(|(kind, _)| kind),
        api_version: type_meta.map(|(_, api_version)| api_version),
        name: GROUP,
        versions: ApiVersion::ALL.map(version),
        preferred_version: version(ApiVersion::ALL[0]),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupListDoc {
    kind: &'static str,
    api_version: &'static str,
    groups: [GroupDoc; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupDoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<&'static str>,
    name: &'static str,
    versions: [GroupVersion; 2],
    preferred_version: GroupVersion,
}

#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct GroupVersion {
    group_version: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceListDoc {
    kind: &'static str,
    api_version: &'static str,
    group_version: &'static str,
    resources: [ApiResource; 2],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiResource {
    name: &'static str,
    singular_name: &'static str,
    namespaced: bool,
    kind: &'static str,
    verbs: [&'static str; 2],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DiscoveryListDoc {
    kind: &'static str,
    api_version: &'static str,
    metadata: EmptyObject,
    items: [GroupDiscovery; 1],
}

#[derive(Serialize)]
struct GroupDiscovery {
    metadata: NameOnly,
    versions: [VersionDiscovery; 2],
}

#[derive(Serialize)]
struct NameOnly {
    name: &'static str,
}

#[derive(Serialize)]
struct VersionDiscovery {
    version: &'static str,
    resources: [DiscoveryResource; 2],
    freshness: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DiscoveryResource {
    resource: &'static str,
    response_kind: GroupVersionKind,
    scope: &'static str,
    singular_resource: &'static str,
    verbs: [&'static str; 2],
}

#[derive(Serialize)]
struct GroupVersionKind {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionInfo {
    major: &'static str,
    minor: &'static str,
    emulation_major: &'static str,
    emulation_minor: &'static str,
    min_compatibility_major: &'static str,
    min_compatibility_minor: &'static str,
    git_version: &'static str,
    git_commit: &'static str,
    git_tree_state: &'static str,
    build_date: &'static str,
    go_version: &'static str,
    compiler: &'static str,
    platform: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../testkit/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn parsed(body: &[u8]) -> Value {
        assert_eq!(body.last(), Some(&b'\n'));
        serde_json::from_slice(body).unwrap()
    }

    /// Upstream's documents name `v1beta1` only; ours add `v1` as the preferred version with
    /// the same resources. `with_v1` turns an upstream version entry into the pair we serve.
    fn with_v1(v1beta1: &Value) -> [Value; 2] {
        let v1 = serde_json::to_string(v1beta1)
            .unwrap()
            .replace("v1beta1", "v1");
        [serde_json::from_str(&v1).unwrap(), v1beta1.clone()]
    }

    #[test]
    fn documents_match_upstream_fixtures_plus_v1() {
        let mut group = fixture("discovery-apis-metrics.k8s.io.json");
        let versions = with_v1(&group["versions"][0]);
        group["preferredVersion"] = versions[0].clone();
        group["versions"] = Value::from(versions.to_vec());
        assert_eq!(parsed(api_group()), group);

        let mut list = fixture("discovery-apis.json");
        list["groups"][0] = group.clone();
        let object = list["groups"][0].as_object_mut().unwrap();
        object.remove("kind");
        object.remove("apiVersion");
        assert_eq!(parsed(api_group_list()), list);

        let v1beta1 = fixture("discovery-apis-metrics.k8s.io-v1beta1.json");
        let [v1, v1beta1] = with_v1(&v1beta1);
        assert_eq!(parsed(api_resource_list(ApiVersion::V1beta1)), v1beta1);
        assert_eq!(parsed(api_resource_list(ApiVersion::V1)), v1);

        let mut aggregated = fixture("discovery-apis-aggregated-v2.json");
        let versions = with_v1(&aggregated["items"][0]["versions"][0]);
        aggregated["items"][0]["versions"] = Value::from(versions.to_vec());
        assert_eq!(parsed(aggregated_discovery()), aggregated);
    }

    #[test]
    fn documents_keep_go_key_order() {
        let text = std::str::from_utf8(api_resource_list(ApiVersion::V1beta1)).unwrap();
        assert!(text.starts_with(
            r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"metrics.k8s.io/v1beta1","resources":[{"name":"nodes","singularName":"","namespaced":false,"kind":"NodeMetrics","verbs":["get","list"]}"#
        ));
        let text = std::str::from_utf8(api_group()).unwrap();
        assert!(text.starts_with(
            r#"{"kind":"APIGroup","apiVersion":"v1","name":"metrics.k8s.io","versions":"#
        ));
    }

    #[test]
    fn etag_is_the_quoted_upper_hex_sha512_of_the_json() {
        let tag = etag(b"{}\n");
        // SHA-512("{}")
        assert_eq!(
            tag,
            "\"27C74670ADB75075FAD058D5CEAF7B20C4E7786C83BAE8A32F626F9782AF34C9A33C2046EF60FD2A7878D378E29FEC851806BBD9A67878F3A9F1CDA4830763FD\""
        );
        assert_eq!(etag(b"{}"), tag);
        assert_ne!(etag(aggregated_discovery()), etag(api_group_list()));
    }

    #[test]
    fn version_info_is_a_valid_version_info() {
        let info = parsed(version_info());
        assert_eq!(info["major"], "1");
        assert_eq!(info["minor"], KUBERNETES_MINOR);
        assert_eq!(
            info["gitVersion"],
            format!("v{}", env!("CARGO_PKG_VERSION"))
        );
        for key in [
            "gitCommit",
            "gitTreeState",
            "buildDate",
            "goVersion",
            "compiler",
            "platform",
        ] {
            assert!(info[key].is_string(), "{key}");
        }
        assert!(info["platform"].as_str().unwrap().contains('/'));
    }
}
