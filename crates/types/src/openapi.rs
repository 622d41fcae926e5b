//! OpenAPI documents for `metrics.k8s.io/v1beta1`, built once.
//!
//! The aggregator downloads `/openapi/v3` (and falls back to `/openapi/v2`)
//! so that `kubectl explain nodes.metrics.k8s.io` can describe the types. The
//! documents name definitions the Kubernetes way
//! (`io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics`), mark top-level
//! kinds with `x-kubernetes-group-version-kind`, and list the GET paths.
//! Descriptions are written for this project.
//!
//! As kube-openapi serves them, the bodies carry no trailing newline, and the
//! v3 root points at the group document with `?hash=<upper-case hex SHA-512>`
//! of exactly the bytes served.

use std::sync::LazyLock;

use serde_json::{Value, json};

use crate::discovery::content_hash;
use crate::v1beta1::{GROUP, VERSION};
use apimachinery::gojson;

/// Path of the group-version document in the v3 tree.
pub const V3_GROUP_VERSION_PATH: &str = "/openapi/v3/apis/metrics.k8s.io/v1beta1";

/// Title of both documents, as upstream metrics-server names them.
pub const TITLE: &str = "Kubernetes metrics-server";

const METRICS_PREFIX: &str = "io.k8s.metrics.pkg.apis.metrics.v1beta1";
const META_PREFIX: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/// `GET /openapi/v2`: Swagger 2.0.
pub fn v2() -> &'static [u8] {
    static DOC: LazyLock<Vec<u8>> = LazyLock::new(|| {
        render(&json!({
            "swagger": "2.0",
            "info": {"title": TITLE, "version": document_version()},
            "paths": paths(Spec::V2),
            "definitions": definitions(Spec::V2),
        }))
    });
    &DOC
}

/// `GET /openapi/v3`: the index of group-version documents.
pub fn v3_root() -> &'static [u8] {
    static DOC: LazyLock<Vec<u8>> = LazyLock::new(|| {
        let url = format!("{V3_GROUP_VERSION_PATH}?hash={}", v3_group_version_hash());
        render(&json!({
            "paths": {
                format!("apis/{GROUP}/{VERSION}"): {"serverRelativeURL": url}
            }
        }))
    });
    &DOC
}

/// `GET /openapi/v3/apis/metrics.k8s.io/v1beta1`: OpenAPI 3.0.
pub fn v3_group_version() -> &'static [u8] {
    static DOC: LazyLock<Vec<u8>> = LazyLock::new(|| {
        render(&json!({
            "openapi": "3.0.0",
            "info": {"title": TITLE, "version": document_version()},
            "paths": paths(Spec::V3),
            "components": {"schemas": definitions(Spec::V3)},
        }))
    });
    &DOC
}

/// Upper-case hex SHA-512 of [`v3_group_version`], the `hash` query and ETag of that document.
pub fn v3_group_version_hash() -> &'static str {
    static HASH: LazyLock<String> = LazyLock::new(|| content_hash(v3_group_version()));
    &HASH
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

fn gvk(kind: &str) -> Value {
    json!([{"group": GROUP, "version": VERSION, "kind": kind}])
}

fn definitions(spec: Spec) -> Value {
    let metrics = |name: &str| format!("{METRICS_PREFIX}.{name}");
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

fn paths(spec: Spec) -> Value {
    let base = format!("/apis/{GROUP}/{VERSION}");
    let node = format!("{METRICS_PREFIX}.NodeMetrics");
    let node_list = format!("{METRICS_PREFIX}.NodeMetricsList");
    let pod = format!("{METRICS_PREFIX}.PodMetrics");
    let pod_list = format!("{METRICS_PREFIX}.PodMetricsList");
    json!({
        format!("{base}/nodes"): operation(spec, "list", "NodeMetrics", &node_list, "listMetricsV1beta1NodeMetrics", &[]),
        format!("{base}/nodes/{{name}}"): operation(spec, "get", "NodeMetrics", &node, "readMetricsV1beta1NodeMetrics", &["name"]),
        format!("{base}/pods"): operation(spec, "list", "PodMetrics", &pod_list, "listMetricsV1beta1PodMetricsForAllNamespaces", &[]),
        format!("{base}/namespaces/{{namespace}}/pods"): operation(spec, "list", "PodMetrics", &pod_list, "listMetricsV1beta1NamespacedPodMetrics", &["namespace"]),
        format!("{base}/namespaces/{{namespace}}/pods/{{name}}"): operation(spec, "get", "PodMetrics", &pod, "readMetricsV1beta1NamespacedPodMetrics", &["namespace", "name"]),
    })
}

fn operation(
    spec: Spec,
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
            "A selector on metadata.name and metadata.namespace.",
            false,
        ));
    }
    let ok = match spec {
        Spec::V2 => json!({"description": "OK", "schema": spec.reference(response)}),
        Spec::V3 => json!({
            "description": "OK",
            "content": {"application/json": {"schema": spec.reference(response)}},
        }),
    };
    let mut get = json!({
        "description": format!("{action} {kind}"),
        "operationId": operation_id,
        "tags": ["metricsV1beta1"],
        "parameters": parameters,
        "responses": {"200": ok, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": GROUP, "version": VERSION, "kind": kind},
    });
    if spec == Spec::V2 {
        get["produces"] = json!(["application/json"]);
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
    fn v2_is_swagger_with_the_metrics_types_and_paths() {
        let doc = parsed(v2());
        assert_eq!(doc["swagger"], "2.0");
        assert_eq!(doc["info"]["title"], TITLE);
        assert_eq!(
            doc["info"]["version"],
            format!("v{}", env!("CARGO_PKG_VERSION"))
        );
        let node = &doc["definitions"]["io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics"];
        assert_eq!(
            node["x-kubernetes-group-version-kind"][0],
            json!({"group":"metrics.k8s.io","version":"v1beta1","kind":"NodeMetrics"})
        );
        for name in [
            "NodeMetricsList",
            "PodMetrics",
            "PodMetricsList",
            "ContainerMetrics",
        ] {
            assert!(
                doc["definitions"][format!("{METRICS_PREFIX}.{name}")].is_object(),
                "{name}"
            );
        }
        for path in [
            "/apis/metrics.k8s.io/v1beta1/nodes",
            "/apis/metrics.k8s.io/v1beta1/nodes/{name}",
            "/apis/metrics.k8s.io/v1beta1/pods",
            "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods",
            "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{name}",
        ] {
            assert!(doc["paths"][path]["get"].is_object(), "{path}");
        }
        assert_refs_resolve(&doc, &doc, "#/definitions/", &["definitions"]);
    }

    #[test]
    fn v3_group_document_is_openapi_3_with_resolvable_refs() {
        let doc = parsed(v3_group_version());
        assert_eq!(doc["openapi"], "3.0.0");
        let pod =
            &doc["components"]["schemas"]["io.k8s.metrics.pkg.apis.metrics.v1beta1.PodMetrics"];
        assert_eq!(
            pod["x-kubernetes-group-version-kind"][0]["kind"],
            "PodMetrics"
        );
        assert_eq!(
            doc["paths"]["/apis/metrics.k8s.io/v1beta1/pods"]["get"]["responses"]["200"]["content"]
                ["application/json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.metrics.pkg.apis.metrics.v1beta1.PodMetricsList"
        );
        assert_refs_resolve(
            &doc,
            &doc,
            "#/components/schemas/",
            &["components", "schemas"],
        );
        assert_ne!(v3_group_version().last(), Some(&b'\n'));
    }

    #[test]
    fn v3_root_points_at_the_group_document_by_hash() {
        let root = parsed(v3_root());
        let url = root["paths"]["apis/metrics.k8s.io/v1beta1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        let hash = content_hash(v3_group_version());
        assert_eq!(
            url,
            format!("/openapi/v3/apis/metrics.k8s.io/v1beta1?hash={hash}")
        );
        assert_eq!(hash.len(), 128);
        assert!(
            hash.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        assert_eq!(v3_group_version_hash(), hash);
    }
}
