//! What a request asks for, in authorization terms: the apiserver's `RequestInfo`
//! (k8s.io/apiserver `pkg/endpoints/request/requestinfo.go`).
//!
//! `/apis/<group>/<version>/...` with at least one segment after the version is a
//! *resource request* (verb from the method, `list`/`watch` when there is no name,
//! namespace/resource/name/subresource from the path); everything else is a
//! *non-resource request* whose verb is the lower-cased method.
//!
//! One deliberate difference: Go splits the *decoded* path, so `a%2Fb` counts as two
//! segments. We split the raw path and decode each segment, exactly as the axum router
//! does when it matches routes, so authorization always judges the same namespace and
//! name that the handler will serve.
//!
//! This parse is the only one: the filter chain authorizes it and then hands it to the routes
//! in the request extensions, and the routes serve exactly what it says (namespace, name,
//! selectors, watch). A repeated query parameter counts with its *first* value everywhere, as
//! Go's `url.Values.Get` and `metav1.ListOptions` decoding do — so the kube-apiserver in
//! front of us, our own SubjectAccessReview and the answer all judge the same value.

use apimachinery::selector::{Field, FieldSelector};
use apimachinery::status::{RequestAttributes, ResourceAttributes};
use http::{Method, Uri};

use crate::percent;

/// The parsed request, inserted into every authorized request's extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// Whether this is a resource request (`/apis/<g>/<v>/<resource>...`).
    pub is_resource_request: bool,
    /// The decoded URL path (used for non-resource authorization).
    pub path: String,
    /// Kubernetes verb (`get`, `list`, `watch`, ...) or the lower-cased method for
    /// non-resource requests.
    pub verb: String,
    /// `api` or `apis` for resource requests, else empty.
    pub api_prefix: String,
    /// API group (empty for the legacy `/api` prefix).
    pub api_group: String,
    /// API version.
    pub api_version: String,
    /// Namespace, empty when cluster-scoped or across all namespaces.
    pub namespace: String,
    /// Resource, e.g. `pods`.
    pub resource: String,
    /// Subresource, empty when none.
    pub subresource: String,
    /// Object name, empty for lists (unless a `metadata.name` field selector names one).
    pub name: String,
    /// The path segments from the resource on.
    pub parts: Vec<String>,
    /// The query's list options (first value of each), which the routes serve from.
    pub options: ListOptions,
}

/// A URL the apiserver's request-info parser refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to determine kind and namespace from url {0}")]
pub struct RequestInfoError(pub String);

/// Path prefixes that introduce API groups.
const API_PREFIXES: [&str; 2] = ["api", "apis"];
/// The prefix whose URLs carry no group segment.
const GROUPLESS_PREFIX: &str = "api";
/// Path segments that act as verbs (`/apis/g/v/watch/...`).
const SPECIAL_VERBS: [&str; 2] = ["proxy", "watch"];
/// Segments after `namespaces/<ns>` that are subresources of the namespace itself.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

impl RequestInfo {
    /// Parses `method` and `uri` the way the Go apiserver does.
    pub fn from_parts(method: &Method, uri: &Uri) -> Result<RequestInfo, RequestInfoError> {
        let raw_path = uri.path();
        let mut info = RequestInfo {
            path: percent::decode_or_keep(raw_path),
            verb: method.as_str().to_ascii_lowercase(),
            ..RequestInfo::default()
        };

        let segments = split_path(raw_path);
        let mut rest: &[String] = &segments;
        if rest.len() < 3 {
            return Ok(info);
        }
        let Some(prefix) = rest.first().filter(|p| API_PREFIXES.contains(&p.as_str())) else {
            return Ok(info);
        };
        let prefix = prefix.clone();
        rest = &rest[1..];
        if prefix != GROUPLESS_PREFIX {
            if rest.len() < 3 {
                return Ok(info);
            }
            info.api_group = rest[0].clone();
            rest = &rest[1..];
        }
        info.api_prefix = prefix;
        info.is_resource_request = true;
        info.api_version = rest[0].clone();
        rest = &rest[1..];

        if SPECIAL_VERBS.contains(&rest[0].as_str()) {
            if rest.len() < 2 {
                return Err(RequestInfoError(uri.to_string()));
            }
            info.verb = rest[0].clone();
            rest = &rest[1..];
        } else {
            info.verb = verb_for_method(method).to_owned();
        }

        if rest[0] == "namespaces"
            && let Some(namespace) = rest.get(1)
        {
            info.namespace = namespace.clone();
            if rest
                .get(2)
                .is_some_and(|next| !NAMESPACE_SUBRESOURCES.contains(&next.as_str()))
            {
                rest = &rest[2..];
            }
        }
        info.parts = rest.to_vec();

        // proxy requests never have a subresource: everything after the name is the proxied path.
        if info.parts.len() >= 3 && info.verb != "proxy" {
            info.subresource = info.parts[2].clone();
        }
        if let Some(name) = info.parts.get(1) {
            info.name = name.clone();
        }
        if let Some(resource) = info.parts.first() {
            info.resource = resource.clone();
        }

        info.options = ListOptions::from_query(uri.query().unwrap_or(""));
        if info.name.is_empty() && info.verb == "get" {
            info.verb = if info.options.watch { "watch" } else { "list" }.to_owned();
            if let Some(name) = info.options.name_from_field_selector() {
                info.name = name;
            }
        }
        if info.name.is_empty() && info.verb == "delete" {
            info.verb = "deletecollection".to_owned();
        }
        Ok(info)
    }

    /// The raw `labelSelector` authorization judges: that of a list, watch or deletecollection,
    /// else empty (selectors only matter to `AuthorizeWithSelectors` for collection verbs).
    pub fn label_selector(&self) -> &str {
        self.collection_selector(self.options.label_selector.as_deref())
    }

    /// The raw `fieldSelector` authorization judges, as [`RequestInfo::label_selector`].
    pub fn field_selector(&self) -> &str {
        self.collection_selector(self.options.field_selector.as_deref())
    }

    fn collection_selector<'a>(&self, raw: Option<&'a str>) -> &'a str {
        match self.verb.as_str() {
            "list" | "watch" | "deletecollection" => raw.unwrap_or(""),
            _ => "",
        }
    }

    /// The inputs of the 403 message for `user`.
    pub fn attributes<'a>(&'a self, user: &'a str) -> RequestAttributes<'a> {
        RequestAttributes {
            user,
            verb: &self.verb,
            path: &self.path,
            resource: self.is_resource_request.then_some(ResourceAttributes {
                group: &self.api_group,
                version: &self.api_version,
                resource: &self.resource,
                subresource: &self.subresource,
                namespace: &self.namespace,
                name: &self.name,
            }),
        }
    }
}

fn verb_for_method(method: &Method) -> &'static str {
    match *method {
        Method::POST => "create",
        Method::GET | Method::HEAD => "get",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "",
    }
}

/// Splits like Go's `splitPath` (trim `/` at both ends, split on `/`), decoding each segment.
fn split_path(raw_path: &str) -> Vec<String> {
    let trimmed = raw_path.trim_matches('/');
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed.split('/').map(percent::decode_or_keep).collect()
}

/// The query parameters of `metav1.ListOptions` (and `pretty`, `includeObject`) as the Go
/// apiserver decodes them: the first value of each key, undecodable pairs skipped. Values stay
/// raw here; the routes validate them (a bad selector is a 400 after authorization, as in Go).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// `watch`, converted as apimachinery converts a bool: only `0` and `false` (any case) are
    /// false, so a bare `?watch` and `?watch=yes` mean true.
    pub watch: bool,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub limit: Option<String>,
    pub timeout_seconds: Option<String>,
    pub allow_watch_bookmarks: Option<String>,
    pub pretty: Option<String>,
    pub include_object: Option<String>,
}

impl ListOptions {
    /// Decodes a raw query string, keeping the first value of every key.
    pub fn from_query(query: &str) -> ListOptions {
        let mut watch = None;
        let mut options = ListOptions::default();
        for (key, value) in percent::query_pairs(query) {
            let slot = match key.as_str() {
                "watch" => {
                    if watch.is_none() {
                        watch = Some(!(value == "0" || value.eq_ignore_ascii_case("false")));
                    }
                    continue;
                }
                "labelSelector" => &mut options.label_selector,
                "fieldSelector" => &mut options.field_selector,
                "resourceVersion" => &mut options.resource_version,
                "resourceVersionMatch" => &mut options.resource_version_match,
                "limit" => &mut options.limit,
                "timeoutSeconds" => &mut options.timeout_seconds,
                "allowWatchBookmarks" => &mut options.allow_watch_bookmarks,
                "pretty" => &mut options.pretty,
                "includeObject" => &mut options.include_object,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        options.watch = watch.unwrap_or(false);
        options
    }

    /// The object a `metadata.name=<x>` field selector pins a list to, if valid as a name.
    fn name_from_field_selector(&self) -> Option<String> {
        let selector = FieldSelector::parse_any_field(self.field_selector.as_deref()?).ok()?;
        selector
            .exact_match(Field::Name)
            .filter(|name| is_valid_path_segment_name(name))
            .map(str::to_owned)
    }
}

/// `path.IsValidPathSegmentName`.
fn is_valid_path_segment_name(name: &str) -> bool {
    name != "." && name != ".." && !name.contains('/') && !name.contains('%')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(method: Method, uri: &str) -> RequestInfo {
        let uri: Uri = uri.parse().unwrap();
        RequestInfo::from_parts(&method, &uri).unwrap()
    }

    fn get(uri: &str) -> RequestInfo {
        parse(Method::GET, uri)
    }

    #[test]
    fn node_list_is_a_cluster_scoped_list() {
        let info = get("/apis/metrics.k8s.io/v1beta1/nodes");
        assert!(info.is_resource_request);
        assert_eq!(
            (
                info.verb.as_str(),
                info.api_group.as_str(),
                info.api_version.as_str()
            ),
            ("list", "metrics.k8s.io", "v1beta1")
        );
        assert_eq!(
            (
                info.resource.as_str(),
                info.name.as_str(),
                info.namespace.as_str()
            ),
            ("nodes", "", "")
        );
    }

    #[test]
    fn named_node_is_a_get() {
        let info = get("/apis/metrics.k8s.io/v1beta1/nodes/worker-1");
        assert_eq!(
            (info.verb.as_str(), info.name.as_str()),
            ("get", "worker-1")
        );
    }

    #[test]
    fn namespaced_pod_get_sets_namespace_resource_and_name() {
        let info = get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/redis-0");
        assert_eq!(
            (
                info.verb.as_str(),
                info.namespace.as_str(),
                info.resource.as_str(),
                info.name.as_str()
            ),
            ("get", "default", "pods", "redis-0")
        );
        assert_eq!(info.parts, vec!["pods", "redis-0"]);
    }

    #[test]
    fn namespaced_pod_list_with_label_selector() {
        let info =
            get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb");
        assert_eq!(
            (
                info.verb.as_str(),
                info.namespace.as_str(),
                info.resource.as_str()
            ),
            ("list", "default", "pods")
        );
    }

    #[test]
    fn namespace_itself_is_the_resource_when_nothing_follows() {
        let info = get("/api/v1/namespaces/default");
        assert_eq!(
            (
                info.resource.as_str(),
                info.name.as_str(),
                info.namespace.as_str()
            ),
            ("namespaces", "default", "default")
        );
        let status = parse(Method::PUT, "/api/v1/namespaces/default/status");
        assert_eq!(
            (
                status.resource.as_str(),
                status.subresource.as_str(),
                status.verb.as_str()
            ),
            ("namespaces", "status", "update")
        );
    }

    #[test]
    fn subresource_is_the_third_part() {
        let info = get("/apis/apps/v1/namespaces/ns/deployments/web/scale");
        assert_eq!(
            (
                info.resource.as_str(),
                info.name.as_str(),
                info.subresource.as_str()
            ),
            ("deployments", "web", "scale")
        );
    }

    #[test]
    fn watch_query_turns_a_list_into_a_watch() {
        assert_eq!(
            get("/apis/metrics.k8s.io/v1beta1/pods?watch=true").verb,
            "watch"
        );
        assert_eq!(get("/apis/metrics.k8s.io/v1beta1/pods?watch").verb, "watch");
        assert_eq!(
            get("/apis/metrics.k8s.io/v1beta1/pods?watch=1").verb,
            "watch"
        );
        assert_eq!(
            get("/apis/metrics.k8s.io/v1beta1/pods?watch=false").verb,
            "list"
        );
        assert_eq!(
            get("/apis/metrics.k8s.io/v1beta1/pods?watch=FALSE").verb,
            "list"
        );
        assert_eq!(
            get("/apis/metrics.k8s.io/v1beta1/pods?watch=0").verb,
            "list"
        );
    }

    #[test]
    fn watch_path_segment_is_a_verb() {
        let info = get("/apis/metrics.k8s.io/v1beta1/watch/pods");
        assert_eq!(
            (info.verb.as_str(), info.resource.as_str()),
            ("watch", "pods")
        );
        let err = RequestInfo::from_parts(
            &Method::GET,
            &"/apis/metrics.k8s.io/v1beta1/watch".parse().unwrap(),
        );
        assert!(err.is_err());
    }

    #[test]
    fn metadata_name_field_selector_fills_the_name() {
        let info = get("/apis/metrics.k8s.io/v1beta1/nodes?fieldSelector=metadata.name%3Dworker-1");
        assert_eq!(
            (info.verb.as_str(), info.name.as_str()),
            ("list", "worker-1")
        );
        let double = get(
            "/apis/metrics.k8s.io/v1beta1/namespaces/a/pods?fieldSelector=metadata.namespace%3Da,metadata.name%3D%3Dp",
        );
        assert_eq!(double.name, "p");
    }

    #[test]
    fn field_selectors_that_do_not_pin_the_name_leave_it_empty() {
        for selector in [
            "metadata.name!%3Dx",
            "metadata.namespace%3Dx",
            "metadata.name%3Da%3Db",
            "metadata.name%3D..",
            "metadata.name%3Da%25b",
            "garbage",
        ] {
            let info = get(&format!(
                "/apis/metrics.k8s.io/v1beta1/nodes?fieldSelector={selector}"
            ));
            assert_eq!(info.name, "", "{selector}");
            assert_eq!(info.verb, "list", "{selector}");
        }
    }

    #[test]
    fn escaped_field_selector_values_are_unescaped() {
        let name = |selector: &str| {
            let query = format!(
                "fieldSelector={}",
                selector
                    .replace('\\', "%5C")
                    .replace(',', "%2C")
                    .replace('=', "%3D")
            );
            get(&format!("/apis/metrics.k8s.io/v1beta1/nodes?{query}")).name
        };
        assert_eq!(name(r"metadata.name=a\,b"), "a,b");
        assert_eq!(name(r"metadata.name=a\"), "");
        assert_eq!(name(r"metadata.name=a\x"), "");
        assert_eq!(name("metadata.name=b,metadata.name=a"), "a");
    }

    #[test]
    fn collection_requests_keep_their_selectors() {
        let list = get(
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb&fieldSelector=metadata.name!%3Dx",
        );
        assert_eq!(
            (list.label_selector(), list.field_selector()),
            ("app=web", "metadata.name!=x")
        );
        let named =
            get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/p?labelSelector=app%3Dweb");
        assert_eq!((named.label_selector(), named.field_selector()), ("", ""));
    }

    #[test]
    fn repeated_parameters_count_with_their_first_value() {
        // The exploit of issue 11: authorized as a list pinned to one pod by the first value,
        // and served by whatever the handler reads. Both now read this one value.
        let info = get(
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?fieldSelector=metadata.name%3Dgranted&fieldSelector=",
        );
        assert_eq!(
            (info.verb.as_str(), info.name.as_str()),
            ("list", "granted")
        );
        assert_eq!(info.field_selector(), "metadata.name=granted");
        assert_eq!(
            info.options.field_selector.as_deref(),
            Some("metadata.name=granted")
        );
        let labels = get(
            "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Dweb&labelSelector=&limit=1&limit=x",
        );
        assert_eq!(labels.label_selector(), "app=web");
        assert_eq!(labels.options.label_selector.as_deref(), Some("app=web"));
        assert_eq!(labels.options.limit.as_deref(), Some("1"));
        let watch = get("/apis/metrics.k8s.io/v1beta1/pods?watch=1&watch=0");
        assert_eq!(watch.verb, "watch");
        assert!(watch.options.watch);
        let list = get("/apis/metrics.k8s.io/v1beta1/pods?watch=0&watch=1");
        assert_eq!(list.verb, "list");
        assert!(!list.options.watch);
    }

    #[test]
    fn any_watch_value_but_zero_or_false_is_a_watch_for_the_check_and_the_answer() {
        for (query, watch) in [
            ("watch=yes", true),
            ("watch=", true),
            ("watch", true),
            ("watch=no", true),
            ("watch=False", false),
            ("watch=0", false),
            ("", false),
        ] {
            let info = get(&format!("/apis/metrics.k8s.io/v1beta1/pods?{query}"));
            assert_eq!(info.options.watch, watch, "{query}");
            assert_eq!(info.verb, if watch { "watch" } else { "list" }, "{query}");
        }
    }

    #[test]
    fn list_options_are_decoded_for_every_request() {
        let info = get(
            "/apis/metrics.k8s.io/v1beta1/nodes/n?pretty=1&includeObject=None&resourceVersion=0&resourceVersionMatch=NotOlderThan&timeoutSeconds=5&allowWatchBookmarks=true",
        );
        let options = &info.options;
        assert_eq!(options.pretty.as_deref(), Some("1"));
        assert_eq!(options.include_object.as_deref(), Some("None"));
        assert_eq!(options.resource_version.as_deref(), Some("0"));
        assert_eq!(
            options.resource_version_match.as_deref(),
            Some("NotOlderThan")
        );
        assert_eq!(options.timeout_seconds.as_deref(), Some("5"));
        assert_eq!(options.allow_watch_bookmarks.as_deref(), Some("true"));
    }

    #[test]
    fn short_paths_are_non_resource_requests() {
        for path in [
            "/",
            "/apis",
            "/apis/metrics.k8s.io",
            "/apis/metrics.k8s.io/v1beta1",
            "/openapi/v2",
            "/metrics",
            "/healthz",
            "/version",
        ] {
            let info = get(path);
            assert!(!info.is_resource_request, "{path}");
            assert_eq!(info.verb, "get");
            assert_eq!(info.path, path);
        }
        assert_eq!(parse(Method::POST, "/metrics").verb, "post");
    }

    #[test]
    fn legacy_api_prefix_has_no_group() {
        let info = get("/api/v1/nodes");
        assert!(info.is_resource_request);
        assert_eq!(
            (
                info.api_group.as_str(),
                info.api_version.as_str(),
                info.resource.as_str()
            ),
            ("", "v1", "nodes")
        );
    }

    #[test]
    fn unknown_prefix_is_non_resource() {
        assert!(!get("/foo/bar/baz/qux").is_resource_request);
    }

    #[test]
    fn methods_map_to_verbs() {
        let uri = "/apis/metrics.k8s.io/v1beta1/nodes/n";
        assert_eq!(parse(Method::POST, uri).verb, "create");
        assert_eq!(parse(Method::PUT, uri).verb, "update");
        assert_eq!(parse(Method::PATCH, uri).verb, "patch");
        assert_eq!(parse(Method::DELETE, uri).verb, "delete");
        assert_eq!(parse(Method::HEAD, uri).verb, "get");
        assert_eq!(parse(Method::OPTIONS, uri).verb, "");
        assert_eq!(
            parse(Method::DELETE, "/apis/metrics.k8s.io/v1beta1/nodes").verb,
            "deletecollection"
        );
    }

    #[test]
    fn segments_are_decoded_one_by_one_like_the_router() {
        let info = get("/apis/metrics.k8s.io/v1beta1/namespaces/kube%2Dsystem/pods/a%2Fb");
        assert_eq!(
            (
                info.namespace.as_str(),
                info.name.as_str(),
                info.subresource.as_str()
            ),
            ("kube-system", "a/b", "")
        );
        assert_eq!(
            info.path,
            "/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods/a/b"
        );
    }

    #[test]
    fn attributes_carry_resource_fields() {
        let info = get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/redis-0");
        let attrs = info.attributes("alice");
        let resource = attrs.resource.unwrap();
        assert_eq!(
            (attrs.user, attrs.verb, resource.namespace, resource.name),
            ("alice", "get", "default", "redis-0")
        );
        assert!(get("/apis").attributes("bob").resource.is_none());
    }
}
