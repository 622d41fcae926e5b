//! `metav1.Status` error bodies, worded exactly like the Go apiserver.
//!
//! Every constructor reproduces one apimachinery/apiserver helper
//! (`NewNotFound`, `NewForbidden` via `ForbiddenStatusError`, ...), including
//! which of them attach a `details` object: clients such as kubectl print the
//! message verbatim and some tooling keys on `details.kind`. [`Status::to_json`]
//! writes the Go field order and Go's string escaping.

use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::gojson::{self, EmptyObject};
use crate::goquote;

/// The prefix Go's `NewInternalError` puts in front of the wrapped error.
const INTERNAL_ERROR_PREFIX: &str = "Internal error occurred: ";

/// The `reason` values apimachinery defines (`metav1.StatusReason*`).
///
/// Deserialisation maps a reason onto one of these so [`Status::reason`] can
/// stay a `&'static str`; anything else becomes `""`, Go's `StatusReasonUnknown`.
const KNOWN_REASONS: &[&str] = &[
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "AlreadyExists",
    "Conflict",
    "Gone",
    "Invalid",
    "ServerTimeout",
    "StoreReadError",
    "Timeout",
    "TooManyRequests",
    "BadRequest",
    "MethodNotAllowed",
    "NotAcceptable",
    "RequestEntityTooLarge",
    "UnsupportedMediaType",
    "InternalError",
    "Expired",
    "ServiceUnavailable",
];

/// A failed request, as the `metav1.Status` object the apiserver returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// HTTP status code, also written as `code` in the body.
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `Forbidden`, ...); `""` when unknown.
    pub reason: &'static str,
    /// Human-readable message, printed by kubectl after `Error from server (<reason>):`.
    pub message: String,
    /// Extra detail; Go sends `"details":{}` for some errors, which is `Some` with every field `None`.
    pub details: Option<StatusDetails>,
}

/// `metav1.StatusDetails` restricted to the fields this server fills in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusDetails {
    /// Name of the object concerned (`ns/name` for pod metrics).
    pub name: Option<String>,
    /// API group of the resource; `None` for the core group.
    pub group: Option<String>,
    /// The *resource* (plural or, for the node lister, singular), not the Kind.
    pub kind: Option<String>,
}

/// Who asked for what: the inputs of the apiserver's forbidden message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestAttributes<'a> {
    /// Authenticated user name (`system:anonymous` for anonymous requests).
    pub user: &'a str,
    /// Kubernetes verb (`get`, `list`, `watch`, ...) or lower-cased HTTP method for non-resource requests.
    pub verb: &'a str,
    /// Request path, used in the message of non-resource requests.
    pub path: &'a str,
    /// Set for resource requests (`/apis/<group>/<version>/...`), `None` for non-resource requests.
    pub resource: Option<ResourceAttributes<'a>>,
}

/// The resource part of [`RequestAttributes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceAttributes<'a> {
    /// API group, e.g. `metrics.k8s.io`.
    pub group: &'a str,
    /// API version, e.g. `v1beta1`.
    pub version: &'a str,
    /// Resource, e.g. `pods`.
    pub resource: &'a str,
    /// Subresource, `""` when none.
    pub subresource: &'a str,
    /// Namespace, `""` for cluster-scoped or all-namespaces requests.
    pub namespace: &'a str,
    /// Object name, `""` for lists.
    pub name: &'a str,
}

impl Status {
    /// 404 for a missing object (`NewNotFound`): `nodemetrics.metrics.k8s.io "x" not found`,
    /// or `node "x" not found` when `group` is `""`. `kind` is the resource name.
    pub fn not_found(group: &str, kind: &str, name: &str) -> Status {
        let message = format!(
            "{} {} not found",
            group_resource(group, kind),
            goquote::quote(name)
        );
        Status {
            code: 404,
            reason: "NotFound",
            message,
            details: Some(StatusDetails::new(name, group, kind)),
        }
    }

    /// 400 with the given message and no details (`NewBadRequest`), e.g. for a bad selector.
    pub fn bad_request(message: impl Into<String>) -> Status {
        Status::without_details(400, "BadRequest", message.into())
    }

    /// 405 for `action` (e.g. `watch`) on a resource that does not support it, as
    /// `NewMethodNotSupported` words it:
    /// `watch is not supported on resources of kind "nodes.metrics.k8s.io"`.
    pub fn method_not_supported(group: &str, resource: &str, action: &str) -> Status {
        let message = format!(
            "{action} is not supported on resources of kind {}",
            goquote::quote(&group_resource(group, resource))
        );
        Status {
            code: 405,
            reason: "MethodNotAllowed",
            message,
            details: Some(StatusDetails::new("", group, resource)),
        }
    }

    /// 405 for any other unsupported HTTP method.
    ///
    /// The Go apiserver answers these from go-restful's router through
    /// `NewGenericServerResponse(405, "", {}, "", ...)`, whose message names
    /// neither the method nor the path and whose details are empty, so the
    /// arguments only document the call site.
    pub fn method_not_allowed(_method: &str, _path: &str) -> Status {
        Status {
            code: 405,
            reason: "MethodNotAllowed",
            message: "the server does not allow this method on the requested resource".to_owned(),
            details: Some(StatusDetails::default()),
        }
    }

    /// 401 for a presented but invalid credential (the authentication filter's answer).
    pub fn unauthorized() -> Status {
        Status::without_details(401, "Unauthorized", "Unauthorized".to_owned())
    }

    /// 403 for a request the authorizer refused (`responsewriters.ForbiddenStatusError`).
    ///
    /// `reason` is the authorizer's explanation; like Go, it is appended as
    /// `: <reason>` only when non-empty.
    pub fn forbidden(attrs: &RequestAttributes<'_>, reason: &str) -> Status {
        // Go HTML-escapes the generated sentence (not the reason) so the body
        // never looks like markup.
        let mut message = html_sanitize(&forbidden_sentence(attrs));
        if !reason.is_empty() {
            message.push_str(": ");
            message.push_str(reason);
        }
        let (group, resource, name) = match &attrs.resource {
            Some(res) => (res.group, res.resource, res.name),
            None => ("", "", ""),
        };
        let message = if group.is_empty() && resource.is_empty() {
            format!("forbidden: {message}")
        } else if name.is_empty() {
            format!(
                "{} is forbidden: {message}",
                group_resource(group, resource)
            )
        } else {
            format!(
                "{} {} is forbidden: {message}",
                group_resource(group, resource),
                goquote::quote(name)
            )
        };
        Status {
            code: 403,
            reason: "Forbidden",
            message,
            details: Some(StatusDetails::new(name, group, resource)),
        }
    }

    /// 500 wrapping an internal failure (`NewInternalError`): the message becomes
    /// `Internal error occurred: <message>` and the bare message is repeated in
    /// `details.causes[0].message` when serialised.
    pub fn internal_error(message: impl Into<String>) -> Status {
        Status {
            code: 500,
            reason: "InternalError",
            message: format!("{INTERNAL_ERROR_PREFIX}{}", message.into()),
            details: Some(StatusDetails::default()),
        }
    }

    /// 406 when the `Accept` header allows none of `supported`:
    /// `only the following media types are accepted: application/json, ...`.
    pub fn not_acceptable(supported: &[&str]) -> Status {
        let message = format!(
            "only the following media types are accepted: {}",
            supported.join(", ")
        );
        Status::without_details(406, "NotAcceptable", message)
    }

    /// 503 with the given message and no details (`NewServiceUnavailable`).
    pub fn service_unavailable(message: impl Into<String>) -> Status {
        Status::without_details(503, "ServiceUnavailable", message.into())
    }

    /// 429 with the given message (`NewTooManyRequests` with no retry hint, hence `"details":{}`).
    pub fn too_many_requests(message: impl Into<String>) -> Status {
        Status {
            code: 429,
            reason: "TooManyRequests",
            message: message.into(),
            details: Some(StatusDetails::default()),
        }
    }

    /// The response body: compact JSON in Go's field order plus a trailing `\n`.
    pub fn to_json(&self) -> Vec<u8> {
        match gojson::to_vec_with_newline(self) {
            Ok(bytes) => bytes,
            // Only plain strings and integers are serialised, which cannot
            // fail; fall back to a minimal valid body rather than panic.
            Err(_) => b"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\"}\n"
                .to_vec(),
        }
    }

    fn without_details(code: u16, reason: &'static str, message: String) -> Status {
        Status {
            code,
            reason,
            message,
            details: None,
        }
    }

    /// The wrapped error text Go repeats as the single cause of an internal error.
    pub(crate) fn internal_cause(&self) -> Option<&str> {
        if self.reason == "InternalError" {
            self.message.strip_prefix(INTERNAL_ERROR_PREFIX)
        } else {
            None
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Status {}

impl StatusDetails {
    /// Builds details from Go-style strings, where `""` means "not set".
    fn new(name: &str, group: &str, kind: &str) -> StatusDetails {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        StatusDetails {
            name: non_empty(name),
            group: non_empty(group),
            kind: non_empty(kind),
        }
    }
}

/// `schema.GroupResource.String()`: `resource.group`, or just `resource` for the core group.
fn group_resource(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    }
}

/// The apiserver's `forbiddenMessage`: who cannot do what, where.
fn forbidden_sentence(attrs: &RequestAttributes<'_>) -> String {
    let user = goquote::quote(attrs.user);
    let Some(res) = &attrs.resource else {
        return format!(
            "User {user} cannot {} path {}",
            attrs.verb,
            goquote::quote(attrs.path)
        );
    };
    let resource = if res.subresource.is_empty() {
        res.resource.to_owned()
    } else {
        format!("{}/{}", res.resource, res.subresource)
    };
    let scope = if res.namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!("in the namespace {}", goquote::quote(res.namespace))
    };
    format!(
        "User {user} cannot {} resource {} in API group {} {scope}",
        attrs.verb,
        goquote::quote(&resource),
        goquote::quote(res.group)
    )
}

/// The apiserver's sanitizer: `&`, `<` and `>` become HTML entities.
fn html_sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            other => out.push(other),
        }
    }
    out
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Go field order of metav1.Status; empty fields are `omitempty`.
        let mut out = serializer.serialize_struct("Status", 8)?;
        out.serialize_field("kind", "Status")?;
        out.serialize_field("apiVersion", "v1")?;
        out.serialize_field("metadata", &EmptyObject)?;
        out.serialize_field("status", "Failure")?;
        if !self.message.is_empty() {
            out.serialize_field("message", &self.message)?;
        }
        if !self.reason.is_empty() {
            out.serialize_field("reason", self.reason)?;
        }
        if let Some(details) = &self.details {
            let details = DetailsOut {
                details,
                internal_cause: self.internal_cause(),
            };
            out.serialize_field("details", &details)?;
        }
        if self.code != 0 {
            out.serialize_field("code", &self.code)?;
        }
        out.end()
    }
}

/// `StatusDetails` on the wire, with the `causes` entry Go adds to internal errors.
struct DetailsOut<'a> {
    details: &'a StatusDetails,
    internal_cause: Option<&'a str>,
}

impl Serialize for DetailsOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("StatusDetails", 4)?;
        let fields = [
            ("name", &self.details.name),
            ("group", &self.details.group),
            ("kind", &self.details.kind),
        ];
        for (key, value) in fields {
            match value.as_deref() {
                Some(text) if !text.is_empty() => out.serialize_field(key, text)?,
                _ => out.skip_field(key)?,
            }
        }
        if let Some(cause) = self.internal_cause {
            out.serialize_field("causes", &[CauseOut { message: cause }])?;
        }
        out.end()
    }
}

#[derive(Serialize)]
struct CauseOut<'a> {
    message: &'a str,
}

/// The fields of a `metav1.Status` body this crate reads back.
#[derive(Deserialize)]
struct StatusWire {
    #[serde(default)]
    message: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    details: Option<DetailsWire>,
    #[serde(default)]
    code: u16,
}

#[derive(Deserialize)]
struct DetailsWire {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = StatusWire::deserialize(deserializer)?;
        let reason = KNOWN_REASONS
            .iter()
            .copied()
            .find(|known| *known == wire.reason)
            .unwrap_or("");
        let drop_empty = |value: Option<String>| value.filter(|s| !s.is_empty());
        Ok(Status {
            code: wire.code,
            reason,
            message: wire.message,
            details: wire.details.map(|d| StatusDetails {
                name: drop_empty(d.name),
                group: drop_empty(d.group),
                kind: drop_empty(d.kind),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../testkit/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn body(status: &Status) -> Value {
        let bytes = status.to_json();
        assert_eq!(bytes.last(), Some(&b'\n'), "body must end with a newline");
        serde_json::from_slice(&bytes).unwrap()
    }

    fn metrics_resource<'a>(
        resource: &'a str,
        namespace: &'a str,
        name: &'a str,
    ) -> ResourceAttributes<'a> {
        ResourceAttributes {
            group: "metrics.k8s.io",
            version: "v1beta1",
            resource,
            subresource: "",
            namespace,
            name,
        }
    }

    #[test]
    fn not_found_matches_fixtures() {
        let cases = [
            (
                Status::not_found("metrics.k8s.io", "nodemetrics", "worker-9"),
                "status-404-nodemetrics.json",
            ),
            (
                Status::not_found("", "node", "worker-9"),
                "status-404-node-not-in-cluster.json",
            ),
            (
                Status::not_found("metrics.k8s.io", "podmetrics", "default/just-started-7b9c"),
                "status-404-podmetrics.json",
            ),
            (
                Status::not_found("", "pods", "no-such-pod"),
                "status-404-pod-not-in-cluster.json",
            ),
        ];
        for (status, file) in cases {
            assert_eq!(body(&status), fixture(file), "{file}");
        }
    }

    #[test]
    fn watch_unauthorized_and_forbidden_match_fixtures() {
        assert_eq!(
            body(&Status::method_not_supported(
                "metrics.k8s.io",
                "nodes",
                "watch"
            )),
            fixture("status-405-watch.json")
        );
        assert_eq!(
            body(&Status::unauthorized()),
            fixture("status-401-unauthorized.json")
        );
        let list_nodes = RequestAttributes {
            user: "system:serviceaccount:default:default",
            verb: "list",
            path: "/apis/metrics.k8s.io/v1beta1/nodes",
            resource: Some(metrics_resource("nodes", "", "")),
        };
        assert_eq!(
            body(&Status::forbidden(&list_nodes, "")),
            fixture("status-403-forbidden.json")
        );
        let get_pod = RequestAttributes {
            user: "alice",
            verb: "get",
            path: "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/redis-0",
            resource: Some(metrics_resource("pods", "default", "redis-0")),
        };
        assert_eq!(
            body(&Status::forbidden(&get_pod, "")),
            fixture("status-403-forbidden-namespaced-get.json")
        );
    }

    #[test]
    fn serialises_in_go_field_order() {
        let json = String::from_utf8(
            Status::not_found("metrics.k8s.io", "podmetrics", "default/foo").to_json(),
        )
        .unwrap();
        assert_eq!(
            json,
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\
             \"message\":\"podmetrics.metrics.k8s.io \\\"default/foo\\\" not found\",\"reason\":\"NotFound\",\
             \"details\":{\"name\":\"default/foo\",\"group\":\"metrics.k8s.io\",\"kind\":\"podmetrics\"},\"code\":404}\n"
        );
    }

    #[test]
    fn forbidden_non_resource_appends_reason_and_has_empty_details() {
        let attrs = RequestAttributes {
            user: "u",
            verb: "get",
            path: "/apis",
            resource: None,
        };
        let status = Status::forbidden(&attrs, "");
        assert_eq!(
            status.message,
            r#"forbidden: User "u" cannot get path "/apis""#
        );
        assert_eq!(status.details, Some(StatusDetails::default()));
        assert!(
            String::from_utf8(status.to_json())
                .unwrap()
                .contains("\"details\":{}")
        );

        let with_reason = Status::forbidden(&attrs, "no RBAC policy matched");
        assert_eq!(
            with_reason.message,
            r#"forbidden: User "u" cannot get path "/apis": no RBAC policy matched"#
        );
    }

    #[test]
    fn forbidden_includes_subresource_and_sanitises_html() {
        let attrs = RequestAttributes {
            user: "<script>&",
            verb: "get",
            path: "/x",
            resource: Some(ResourceAttributes {
                group: "",
                version: "v1",
                resource: "nodes",
                subresource: "metrics",
                namespace: "",
                name: "n1",
            }),
        };
        let status = Status::forbidden(&attrs, "a<b");
        assert_eq!(
            status.message,
            "nodes \"n1\" is forbidden: User \"&lt;script&gt;&amp;\" cannot get resource \"nodes/metrics\" \
             in API group \"\" at the cluster scope: a<b"
        );
        assert_eq!(
            status.details,
            Some(StatusDetails {
                name: Some("n1".into()),
                group: None,
                kind: Some("nodes".into())
            })
        );
        // Go's encoder escapes the remaining '<' in the reason.
        assert!(
            String::from_utf8(status.to_json())
                .unwrap()
                .contains("a\\u003cb")
        );
    }

    #[test]
    fn quotes_unusual_names_like_go() {
        let status = Status::not_found("", "node", "a\"b\tc");
        assert_eq!(status.message, r#"node "a\"b\tc" not found"#);
    }

    #[test]
    fn simple_errors_have_go_wording() {
        let bad = Status::bad_request("unable to parse requirement");
        assert_eq!(
            (bad.code, bad.reason, bad.details.clone()),
            (400, "BadRequest", None)
        );
        assert_eq!(
            body(&bad),
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"unable to parse requirement","reason":"BadRequest","code":400})
        );

        let not_acceptable = Status::not_acceptable(&["application/json", "application/yaml"]);
        assert_eq!(
            body(&not_acceptable),
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"only the following media types are accepted: application/json, application/yaml",
                "reason":"NotAcceptable","code":406})
        );

        let method = Status::method_not_allowed("POST", "/apis/metrics.k8s.io/v1beta1/nodes");
        assert_eq!(
            body(&method),
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"the server does not allow this method on the requested resource",
                "reason":"MethodNotAllowed","details":{},"code":405})
        );

        let unavailable = Status::service_unavailable("shutting down");
        assert_eq!(
            (unavailable.code, unavailable.reason),
            (503, "ServiceUnavailable")
        );
        assert_eq!(unavailable.details, None);

        let busy = Status::too_many_requests("slow down");
        assert_eq!(
            body(&busy),
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"slow down","reason":"TooManyRequests","details":{},"code":429})
        );
    }

    #[test]
    fn internal_error_repeats_the_cause_like_go() {
        let status = Status::internal_error("failed listing nodes: boom");
        assert_eq!(
            body(&status),
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"Internal error occurred: failed listing nodes: boom","reason":"InternalError",
                "details":{"causes":[{"message":"failed listing nodes: boom"}]},"code":500})
        );
    }

    #[test]
    fn deserialises_own_output_and_fixtures() {
        let statuses = [
            Status::not_found("metrics.k8s.io", "nodemetrics", "x"),
            Status::method_not_supported("metrics.k8s.io", "pods", "watch"),
            Status::unauthorized(),
            Status::internal_error("boom"),
            Status::method_not_allowed("DELETE", "/"),
            Status::bad_request("bad"),
        ];
        for status in statuses {
            let back: Status = serde_json::from_slice(&status.to_json()).unwrap();
            assert_eq!(back, status);
        }
        let fixture_text = serde_json::to_string(&fixture("status-403-forbidden.json")).unwrap();
        let parsed: Status = serde_json::from_str(&fixture_text).unwrap();
        assert_eq!(parsed.code, 403);
        assert_eq!(parsed.reason, "Forbidden");
        assert_eq!(parsed.details.unwrap().kind.as_deref(), Some("nodes"));
    }

    #[test]
    fn unknown_reason_deserialises_as_empty() {
        let parsed: Status =
            serde_json::from_str(r#"{"kind":"Status","reason":"SomethingNew","code":418}"#)
                .unwrap();
        assert_eq!((parsed.reason, parsed.code), ("", 418));
    }
}
