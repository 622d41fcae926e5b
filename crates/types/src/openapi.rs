//! OpenAPI documents for `metrics.k8s.io` (`v1` and `v1beta1`), built once.
//!
//! The aggregator downloads `/openapi/v3` (and falls back to `/openapi/v2`)
//! so that `kubectl explain nodes.metrics.k8s.io` can describe the types. The
//! documents name definitions the Kubernetes way
//! (`io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics`, `….v1.NodeMetrics`), mark top-level
//! kinds with `x-kubernetes-group-version-kind`, and list the GET paths.
//! Descriptions are written for this project.
//!
//! As kube-openapi serves them, the bodies carry no trailing newline, and the
//! v3 root points at the group document with `?hash=<upper-case hex SHA-512>`
//! of exactly the bytes served.

use std::sync::LazyLock;

use serde_json::{Value, json};

use crate::discovery::content_hash;
use crate::metrics::{ApiVersion, GROUP};
use apimachinery::gojson;

/// Path of a group-version document in the v3 tree.
pub const fn v3_group_version_path(version: ApiVersion) -> &'static str {
    match version {
        ApiVersion::V1beta1 => "/openapi/v3/apis/metrics.k8s.io/v1beta1",
        ApiVersion::V1 => "/openapi/v3/apis/metrics.k8s.io/v1",
    }
}

/// Title of both documents, as upstream metrics-server names them.
pub const TITLE: &str = "Kubernetes metrics-server";

/// Where Kubernetes names the metrics definitions of a version.
fn metrics_prefix(version: ApiVersion) -> String {
    format!("io.k8s.metrics.pkg.apis.metrics.{}", version.version())
}
const META_PREFIX: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/// Merges JSON objects (definitions or paths of several versions); the shared apimachinery
/// definitions are the same in each, so a repeated key changes nothing.
fn merged(objects: impl IntoIterator<Item = Value>) -> Value {
    let mut out = serde_json::Map::new();
    for object in objects {
        if let Value::Object(entries) = object {
            out.extend(entries);
        }
    }
    Value::Object(out)
}

/// `GET /openapi/v2`: Swagger 2.0, both versions in one document.
pub fn v2() -> &'static [u8] {
    static DOC: LazyLock<Vec<u8>> = LazyLock::new(|| {
        render(&json!({
            "swagger": "2.0",
            "info": {"title": TITLE, "version": document_version()},
            "paths": merged(ApiVersion::ALL.map(|version| paths(Spec::V2, version))),
            "definitions": merged(ApiVersion::ALL.map(|version| definitions(Spec::V2, version))),
        }))
    });
    &DOC
}

/// `GET /openapi/v3`: the index of group-version documents.
pub fn v3_root() -> &'static [u8] {
    static DOC: LazyLock<Vec<u8>> = LazyLock::new(|| {
        let paths = ApiVersion::ALL.map(|version| {
            let url = format!(
                "{}?hash={}",
                v3_group_version_path(version),
                v3_group_version_hash(version)
            );
            json!({
                format!("apis/{GROUP}/{}", version.version()): {"serverRelativeURL": url}
            })
        });
        render(&json!({ "paths": merged(paths) }))
    });
    &DOC
}

/// `GET /openapi/v3/apis/metrics.k8s.io/<version>`: OpenAPI 3.0.
pub fn v3_group_version(version: ApiVersion) -> &'static [u8] {
    fn document(version: ApiVersion) -> Vec<u8> {
        render(&json!({
            "openapi": "3.0.0",
            "info": {"title": TITLE, "version": document_version()},
            "paths": paths(Spec::V3, version),
            "components": {"schemas": definitions(Spec::V3, version)},
        }))
    }
    static V1BETA1: LazyLock<Vec<u8>> = LazyLock::new(|| document(ApiVersion::V1beta1));
    static V1: LazyLock<Vec<u8>> = LazyLock::new(|| document(ApiVersion::V1));
    match version {
        ApiVersion::V1beta1 => &V1BETA1,
        ApiVersion::V1 => &V1,
    }
}

/// Upper-case hex SHA-512 of [`v3_group_version`], the `hash` query and ETag of that document.
pub fn v3_group_version_hash(version: ApiVersion) -> &'static str {
    static V1BETA1: LazyLock<String> =
        LazyLock::new(|| content_hash(v3_group_version(ApiVersion::V1beta1)));
    static V1: LazyLock<String> = LazyLock::new(|| content_hash(v3_group_version(ApiVersion::V1)));
    match version {
        ApiVersion::V1beta1 => &V1BETA1,
        ApiVersion::V1 => &V1,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Spec {
    V2,
    V3,
}

impl Spec {
    fn reference(self, name: &str) -> Value {
        let prefix = match self {
            Spec::V2 => "#/definitions/",
            Spec::V3 => "#/components/schemas/",
        };
        json!({"$ref": format!("{prefix}{name}")})
    }

    /// A property that refers to a definition. OpenAPI 3.0 ignores siblings
    /// of `$ref`, so Kubernetes wraps the reference in `allOf` there.
    fn property_ref(self, name: &str, description: &str) -> Value {
        match self {
            Spec::V2 => {
                let mut reference = self.reference(name);
                reference["description"] = json!(description);
                reference
            }
            Spec::V3 => json!({
                "description": description,
                "allOf": [self.reference(name)],
                "default": {},
            }),
        }
    }
}

fn document_version() -> &'static str {
    concat!("v", env!("CARGO_PKG_VERSION"))
}

fn render(doc: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // A `Value` always serialises; an empty document would fail the tests.
    let _ = gojson::to_writer(&mut out, doc);
    out
}

fn gvk(version: ApiVersion, kind: &str) -> Value {
    json!([{"group": GROUP, "version": version.version(), "kind": kind}])
}

fn definitions(spec: Spec, version: ApiVersion) -> Value {
    let prefix = metrics_prefix(version);
    let metrics = |name: &str| format!("{prefix}.{name}");
    let gvk = |kind: &str| gvk(version, kind);
    let meta = |name: &str| format!("{META_PREFIX}.{name}");
    let quantity_map = json!({
        "type": "object",
        "additionalProperties": spec.reference(QUANTITY),
        "description": "Resource usage by resource name: `cpu` in cores (canonically nanocores, e.g. `412434431n`), `memory` as the working set in bytes (e.g. `3250456Ki`).",
    });
    let type_meta = |object: &mut Value| {
        object["properties"]["kind"] = json!({
            "type": "string",
            "description": "The REST resource this object represents, in CamelCase.",
        });
        object["properties"]["apiVersion"] = json!({
            "type": "string",
            "description": "The versioned schema of this representation of an object.",
        });
    };

    let mut node = json!({
        "type": "object",
        "description": "Resource usage of a node, averaged over the window that ends at `timestamp`.",
        "required": ["timestamp", "window", "usage"],
        "properties": {
            "metadata": spec.property_ref(&meta("ObjectMeta"), "The node's name and labels; creationTimestamp is the time of the request."),
            "timestamp": spec.property_ref(&meta("Time"), "End of the interval [timestamp-window, timestamp] the usage was measured over."),
            "window": {"type": "string", "description": "Length of the measurement interval, as a Go duration (e.g. `15.012s`)."},
            "usage": quantity_map.clone(),
        },
        "x-kubernetes-group-version-kind": gvk("NodeMetrics"),
    });
    type_meta(&mut node);

    let mut pod = json!({
        "type": "object",
        "description": "Resource usage of a pod's containers, measured over one shared window that ends at `timestamp`.",
        "required": ["timestamp", "window", "containers"],
        "properties": {
            "metadata": spec.property_ref(&meta("ObjectMeta"), "The pod's name, namespace and labels; creationTimestamp is the time of the request."),
            "timestamp": spec.property_ref(&meta("Time"), "End of the interval [timestamp-window, timestamp] the usage was measured over."),
            "window": {"type": "string", "description": "Length of the measurement interval, as a Go duration (e.g. `15.012s`)."},
            "containers": {
                "type": "array",
                "description": "Usage of each running container of the pod.",
                "items": spec.property_ref(&metrics("ContainerMetrics"), "Usage of one container."),
            },
        },
        "x-kubernetes-group-version-kind": gvk("PodMetrics"),
    });
    type_meta(&mut pod);

    let list = |item: &str, kind: &str, description: &str| {
        let mut list = json!({
            "type": "object",
            "description": description,
            "required": ["items"],
            "properties": {
                "metadata": spec.property_ref(&meta("ListMeta"), "List metadata; always empty here, as there is no pagination."),
                "items": {
                    "type": "array",
                    "description": format!("The {item} items."),
                    "items": spec.property_ref(&metrics(item), item),
                },
            },
            "x-kubernetes-group-version-kind": gvk(kind),
        });
        type_meta(&mut list);
        list
    };

    let quantity = match spec {
        Spec::V2 => json!({"type": "string"}),
        Spec::V3 => json!({"oneOf": [{"type": "string"}, {"type": "number"}]}),
    };
    let mut quantity = quantity;
    quantity["description"] = json!(
        "A fixed-point number with an optional suffix: decimal SI (n, u, m, k, M, G, T, P, E), binary SI (Ki, Mi, Gi, Ti, Pi, Ei) or an exponent (e3). Served in canonical form, e.g. `5m` or `3250456Ki`."
    );

    json!({
        metrics("NodeMetrics"): node,
        metrics("NodeMetricsList"): list("NodeMetrics", "NodeMetricsList", "A list of NodeMetrics."),
        metrics("PodMetrics"): pod,
        metrics("PodMetricsList"): list("PodMetrics", "PodMetricsList", "A list of PodMetrics."),
        metrics("ContainerMetrics"): {
            "type": "object",
            "description": "Resource usage of one container.",
            "required": ["name", "usage"],
            "properties": {
                "name": {"type": "string", "default": "", "description": "The container's name, as in the pod spec."},
                "usage": quantity_map,
            },
        },
        meta("ObjectMeta"): {
            "type": "object",
            "description": "The metadata metrics objects carry.",
            "properties": {
                "name": {"type": "string", "description": "Name of the Node or Pod."},
                "namespace": {"type": "string", "description": "Namespace of the Pod; absent for nodes."},
                "creationTimestamp": spec.property_ref(&meta("Time"), "When this metrics object was produced (the time of the request)."),
                "labels": {
                    "type": "object",
                    "additionalProperties": {"type": "string", "default": ""},
                    "description": "Labels of the Node or Pod.",
                },
            },
        },
        meta("ListMeta"): {
            "type": "object",
            "description": "Metadata of a list.",
            "properties": {
                "resourceVersion": {"type": "string", "description": "Version of the list; not set by this server."},
                "continue": {"type": "string", "description": "Continuation token; never set, lists are not paginated."},
                "remainingItemCount": {"type": "integer", "format": "int64", "description": "Items left after this page; never set."},
            },
        },
        meta("Time"): {
            "type": "string",
            "format": "date-time",
            "description": "An RFC 3339 time in UTC with whole seconds.",
        },
        QUANTITY: quantity,
    })
}

fn paths(spec: Spec, version: ApiVersion) -> Value {
    let base = version.path();
    let prefix = metrics_prefix(version);
    let node = format!("{prefix}.NodeMetrics");
    let node_list = format!("{prefix}.NodeMetricsList");
    let pod = format!("{prefix}.PodMetrics");
    let pod_list = format!("{prefix}.PodMetricsList");
    // Go's operation IDs and tags: `listMetricsV1beta1NodeMetrics`, `metricsV1beta1`.
    let v = version.version();
    let camel = format!("{}{}", v[..1].to_uppercase(), &v[1..]);
    let id = |verb: &str, rest: &str| format!("{verb}Metrics{camel}{rest}");
    let op = |action, kind, response: &str, operation_id: String, params: &[&str]| {
        operation(
            spec,
            version,
            &camel,
            action,
            kind,
            response,
            &operation_id,
            params,
        )
    };
    json!({
        format!("{base}/nodes"): op("list", "NodeMetrics", &node_list, id("list", "NodeMetrics"), &[]),
        format!("{base}/nodes/{{name}}"): op("get", "NodeMetrics", &node, id("read", "NodeMetrics"), &["name"]),
        format!("{base}/pods"): op("list", "PodMetrics", &pod_list, id("list", "PodMetricsForAllNamespaces"), &[]),
        format!("{base}/namespaces/{{namespace}}/pods"): op("list", "PodMetrics", &pod_list, id("list", "NamespacedPodMetrics"), &["namespace"]),
        format!("{base}/namespaces/{{namespace}}/pods/{{name}}"): op("get", "PodMetrics", &pod, id("read", "NamespacedPodMetrics"), &["namespace", "name"]),
    })
}

#[allow(clippy::too_many_arguments)]
fn operation(
    spec: Spec,
    version: ApiVersion,
    camel_version: &str,
    action: &str,
    kind: &str,
    response: &str,
    operation_id: &str,
    path_params: &[&str],
) -> Value {
    let mut parameters: Vec<Value> = path_params
        .iter()
        .map(|name| {
            let description = if *name == "name" {
                format!("name of the {kind}")
            } else {
                "object name and auth scope, such as for teams and projects".to_owned()
            };
            parameter(spec, name, "path", &description, true)
        })
        .collect();
    if action == "list" {
        parameters.push(parameter(
            spec,
            "labelSelector",
            "query",
            "A selector to restrict the list of returned objects by their labels.",
            false,
        ));
        parameters.push(parameter(
            spec,
            "fieldSelector",
            "query",
            if kind == "PodMetrics" {
                "A selector on metadata.name, metadata.namespace and spec.nodeName (the node the pod is bound to)."
            } else {
                "A selector on metadata.name and metadata.namespace."
            },
            false,
        ));
    }
    let ok = match spec {
        Spec::V2 => json!({"description": "OK", "schema": spec.reference(response)}),
        Spec::V3 => json!({
            "description": "OK",
            "content": {
                "application/json": {"schema": spec.reference(response)},
                "application/vnd.kubernetes.protobuf": {"schema": spec.reference(response)},
            },
        }),
    };
    let mut get = json!({
        "description": format!("{action} {kind}"),
        "operationId": operation_id,
        "tags": [format!("metrics{camel_version}")],
        "parameters": parameters,
        "responses": {"200": ok, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": GROUP, "version": version.version(), "kind": kind},
    });
    if spec == Spec::V2 {
        get["produces"] = json!(["application/json", "application/vnd.kubernetes.protobuf"]);
        get["schemes"] = json!(["https"]);
    }
    json!({"get": get})
}

fn parameter(spec: Spec, name: &str, location: &str, description: &str, required: bool) -> Value {
    let mut parameter = json!({
        "name": name,
        "in": location,
        "description": description,
    });
    if required {
        parameter["required"] = json!(true);
    }
    match spec {
        Spec::V2 => {
            parameter["type"] = json!("string");
            parameter["uniqueItems"] = json!(true);
        }
        Spec::V3 => parameter["schema"] = json!({"type": "string", "uniqueItems": true}),
    }
    parameter
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    /// Follows every `$ref` in `doc` and checks it names an existing definition.
    fn assert_refs_resolve(doc: &Value, node: &Value, prefix: &str, container: &[&str]) {
        match node {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    let name = target
                        .strip_prefix(prefix)
                        .unwrap_or_else(|| panic!("{target}"));
                    let mut definitions = doc;
                    for key in container {
                        definitions = &definitions[*key];
                    }
                    assert!(definitions.get(name).is_some(), "dangling $ref {target}");
                }
                map.values()
                    .for_each(|v| assert_refs_resolve(doc, v, prefix, container));
            }
            Value::Array(items) => items
                .iter()
                .for_each(|v| assert_refs_resolve(doc, v, prefix, container)),
            _ => {}
        }
    }

    #[test]
    fn v2_is_swagger_with_the_metrics_types_and_paths_of_both_versions() {
        let doc = parsed(v2());
        assert_eq!(doc["swagger"], "2.0");
        assert_eq!(doc["info"]["title"], TITLE);
        assert_eq!(
            doc["info"]["version"],
            format!("v{}", env!("CARGO_PKG_VERSION"))
        );
        for version in ["v1beta1", "v1"] {
            let prefix = format!("io.k8s.metrics.pkg.apis.metrics.{version}");
            let node = &doc["definitions"][format!("{prefix}.NodeMetrics")];
            assert_eq!(
                node["x-kubernetes-group-version-kind"][0],
                json!({"group":"metrics.k8s.io","version":version,"kind":"NodeMetrics"})
            );
            for name in [
                "NodeMetricsList",
                "PodMetrics",
                "PodMetricsList",
                "ContainerMetrics",
            ] {
                assert!(
                    doc["definitions"][format!("{prefix}.{name}")].is_object(),
                    "{version} {name}"
                );
            }
            for path in [
                "/nodes",
                "/nodes/{name}",
                "/pods",
                "/namespaces/{namespace}/pods",
                "/namespaces/{namespace}/pods/{name}",
            ] {
                let path = format!("/apis/metrics.k8s.io/{version}{path}");
                assert!(doc["paths"][&path]["get"].is_object(), "{path}");
            }
        }
        assert_eq!(
            doc["paths"]["/apis/metrics.k8s.io/v1/nodes"]["get"]["operationId"],
            "listMetricsV1NodeMetrics"
        );
        assert_eq!(
            doc["paths"]["/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"]["get"]["operationId"],
            "listMetricsV1beta1NamespacedPodMetrics"
        );
        assert_refs_resolve(&doc, &doc, "#/definitions/", &["definitions"]);
    }

    #[test]
    fn v3_group_documents_are_openapi_3_with_resolvable_refs() {
        for version in ApiVersion::ALL {
            let v = version.version();
            let doc = parsed(v3_group_version(version));
            assert_eq!(doc["openapi"], "3.0.0");
            let pod = &doc["components"]["schemas"]
                [format!("io.k8s.metrics.pkg.apis.metrics.{v}.PodMetrics")];
            assert_eq!(
                pod["x-kubernetes-group-version-kind"][0],
                json!({"group":"metrics.k8s.io","version":v,"kind":"PodMetrics"})
            );
            assert_eq!(
                doc["paths"][format!("/apis/metrics.k8s.io/{v}/pods")]["get"]["responses"]["200"]["content"]
                    ["application/json"]["schema"]["$ref"],
                format!("#/components/schemas/io.k8s.metrics.pkg.apis.metrics.{v}.PodMetricsList")
            );
            assert_refs_resolve(
                &doc,
                &doc,
                "#/components/schemas/",
                &["components", "schemas"],
            );
            assert_ne!(v3_group_version(version).last(), Some(&b'\n'));
        }
    }

    #[test]
    fn v3_root_points_at_each_group_document_by_hash() {
        let root = parsed(v3_root());
        for version in ApiVersion::ALL {
            let v = version.version();
            let url = root["paths"][format!("apis/metrics.k8s.io/{v}")]["serverRelativeURL"]
                .as_str()
                .unwrap();
            let hash = content_hash(v3_group_version(version));
            assert_eq!(
                url,
                format!("/openapi/v3/apis/metrics.k8s.io/{v}?hash={hash}")
            );
            assert_eq!(hash.len(), 128);
            assert!(
                hash.chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            );
            assert_eq!(v3_group_version_hash(version), hash);
        }
        assert_ne!(
            v3_group_version_hash(ApiVersion::V1),
            v3_group_version_hash(ApiVersion::V1beta1)
        );
    }
}
