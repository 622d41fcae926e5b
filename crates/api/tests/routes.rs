//! The metrics routes end to end in-process: the shared fixture's two kubelet scrapes are
//! decoded by the real decoder, stored by the real store, and served; every answer is compared
//! with the fixture documents the Go metrics-server produces for the same scrapes.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use apimachinery::selector::LabelSelector;
use axum::Router;
use axum::body::Body;
use cluster_state::{ClusterState, PodIndex, ScheduledPod};
use generic_apiserver::{HealthCheck, HealthChecks};
use http::{Request, StatusCode, header};
use k8s_openapi::api::core::v1::Node;
use kube::runtime::watcher::Event;
use kubelet_scraper::decode::decode_resource;
use metric_store::{MetricsBatch, Store, Timestamp};
use metrics_api::{ApiMetrics, MetricsApi};
use serde_json::Value;
use std::str::FromStr;
use tower::ServiceExt;

fn fixture(name: &str) -> String {
    let path = format!("{}/../testkit/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn batch(text: &str) -> MetricsBatch {
    let decoded = decode_resource(text.as_bytes(), Timestamp::ZERO).unwrap();
    let mut batch = MetricsBatch::default();
    if let Some(node) = decoded.node {
        batch.nodes.insert("worker-1".to_string(), node);
    }
    batch.pods = decoded.pods;
    batch
}

/// The fixture cluster: node worker-1 and its four Running pods, with the fixture's labels.
fn cluster(with_pods: bool) -> Arc<ClusterState> {
    let cluster = Arc::new(ClusterState::default());
    let node: Node = serde_json::from_value(fixture_json("node-worker-1.json")).unwrap();
    let mut nodes = BTreeMap::new();
    cluster.apply_node_event(Event::Init, &mut nodes);
    cluster.apply_node_event(Event::InitApply(node), &mut nodes);
    cluster.apply_node_event(Event::InitDone, &mut nodes);
    let mut pods = PodIndex::new();
    cluster.apply_pod_event(Event::Init, &mut pods);
    if with_pods {
        for item in fixture_json("metrics-podmetricslist.json")["items"]
            .as_array()
            .unwrap()
        {
            let metadata = &item["metadata"];
            let pod: ScheduledPod = serde_json::from_value(serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": metadata["name"], "namespace": metadata["namespace"], "labels": metadata["labels"]},
                "spec": {"nodeName": "worker-1"}
            }))
            .unwrap();
            cluster.apply_pod_event(Event::InitApply(pod), &mut pods);
        }
    }
    cluster.apply_pod_event(Event::InitDone, &mut pods);
    cluster
}

struct Fixture {
    app: Router,
    store: Arc<Store>,
    shutdown: tokio_util::sync::CancellationToken,
    health: Arc<HealthChecks>,
    /// What the stand-in for the scrape loop's `metric-collection-timely` answers.
    collection_on_time: Arc<AtomicBool>,
    registry: prometheus::Registry,
}

fn app_with(scrapes: &[&str], node_selector: &str) -> Fixture {
    let cluster = cluster(true);
    let store = Arc::new(Store::new(Duration::from_secs(15)));
    for scrape in scrapes {
        store.store(batch(&fixture(scrape)));
    }
    let registry = prometheus::Registry::new();
    let collection_on_time = Arc::new(AtomicBool::new(true));
    let on_time = Arc::clone(&collection_on_time);
    let mut checks = HealthChecks::new();
    metrics_api::add_checks(
        &mut checks,
        &cluster,
        &store,
        HealthCheck::new("metric-collection-timely", move || {
            if on_time.load(Ordering::Acquire) {
                Ok(())
            } else {
                Err("late".into())
            }
        }),
    );
    let health = Arc::new(checks);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let api = MetricsApi {
        cluster,
        store: Arc::clone(&store),
        node_selector: Arc::new(LabelSelector::parse(node_selector).unwrap()),
        metrics: ApiMetrics::register(&registry).unwrap(),
        health: Arc::clone(&health),
        registry: registry.clone(),
        shutdown: shutdown.clone(),
        diagnosis: Arc::new(metrics_api::NoDiagnosis),
    };
    Fixture {
        app: api.router(),
        store,
        shutdown,
        health,
        collection_on_time,
        registry,
    }
}

fn app() -> Fixture {
    app_with(
        &[
            "kubelet-metrics-resource.prev.txt",
            "kubelet-metrics-resource.txt",
        ],
        "",
    )
}

async fn get(
    app: &Router,
    uri: &str,
    accept: Option<&str>,
) -> (StatusCode, http::HeaderMap, String) {
    let (status, headers, body) = get_bytes(app, uri, accept).await;
    (status, headers, String::from_utf8(body).unwrap())
}

/// One GET through the router; `accept` is sent when given. The body is left unread
/// (watches stream it).
async fn send(app: &Router, uri: &str, accept: Option<&str>) -> http::Response<Body> {
    let mut request = Request::builder().uri(uri);
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn get_json(app: &Router, uri: &str, accept: Option<&str>) -> (StatusCode, Value) {
    let (status, headers, body) = get(app, uri, accept).await;
    assert!(
        body.ends_with('\n'),
        "Go's encoder ends JSON with a newline: {body:?}"
    );
    assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{uri}");
    (status, serde_json::from_str(&body).unwrap())
}

/// Upstream's documents plus the swap the fixture kubelet reports (0 for the node and every
/// container): this server serves `usage.swap` where a kubelet reports it.
fn with_reported_swap(mut value: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Object(usage)) = map.get_mut("usage") {
                    usage.insert("swap".into(), Value::from("0"));
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

/// The `metadata.name` of each item of a list, in order.
fn item_names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// `creationTimestamp` is the request time; container order carries no meaning upstream.
fn normalise(mut value: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.remove("creationTimestamp");
                if let Some(Value::Array(containers)) = map.get_mut("containers") {
                    containers.sort_by_key(|c| c["name"].as_str().unwrap_or_default().to_string());
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

const GV: &str = "/apis/metrics.k8s.io/v1beta1";

#[tokio::test]
async fn node_list_and_get_match_upstream() {
    let f = app();
    let (status, list) = get_json(&f.app, &format!("{GV}/nodes"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        normalise(list.clone()),
        normalise(with_reported_swap(fixture_json(
            "metrics-nodemetricslist.json"
        )))
    );
    assert!(list["items"][0]["metadata"]["creationTimestamp"].is_string());
    let (status, node) = get_json(&f.app, &format!("{GV}/nodes/worker-1"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        normalise(node),
        normalise(with_reported_swap(fixture_json(
            "metrics-nodemetrics-get.json"
        )))
    );
}

#[tokio::test]
async fn pod_lists_and_get_match_upstream() {
    let f = app();
    let (status, all) =
        get_json(&f.app, &format!("{GV}/pods"), Some("application/json, */*")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        normalise(all),
        normalise(with_reported_swap(fixture_json(
            "metrics-podmetricslist.json"
        )))
    );
    let (_, one) = get_json(
        &f.app,
        &format!("{GV}/namespaces/default/pods/web-6d4cf56db6-8fkq2"),
        None,
    )
    .await;
    assert_eq!(
        normalise(one),
        normalise(with_reported_swap(fixture_json(
            "metrics-podmetrics-get.json"
        )))
    );

    let (_, default) = get_json(&f.app, &format!("{GV}/namespaces/default/pods"), None).await;
    let names: Vec<_> = default["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].clone())
        .collect();
    assert_eq!(names, ["redis-0", "web-6d4cf56db6-8fkq2"]);
}

#[tokio::test]
async fn tables_match_upstream() {
    let f = app();
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let (_, nodes) = get_json(&f.app, &format!("{GV}/nodes?limit=500"), Some(accept)).await;
    assert_eq!(
        normalise(nodes),
        normalise(fixture_json("metrics-nodes-table.json"))
    );
    let (_, pods) = get_json(
        &f.app,
        &format!("{GV}/namespaces/default/pods?limit=500"),
        Some(accept),
    )
    .await;
    assert_eq!(
        normalise(pods),
        normalise(fixture_json("metrics-pods-table.json"))
    );
}

#[tokio::test]
async fn selectors_filter_like_upstream() {
    let f = app();
    let names = item_names;
    let (_, web) = get_json(&f.app, &format!("{GV}/pods?labelSelector=app%3Dweb"), None).await;
    assert_eq!(names(&web), ["web-6d4cf56db6-8fkq2"]);
    let (_, system) = get_json(
        &f.app,
        &format!("{GV}/pods?fieldSelector=metadata.namespace%3Dkube-system"),
        None,
    )
    .await;
    assert_eq!(
        names(&system),
        ["coredns-7db6d8ff4d-x7k2p", "kube-proxy-9zxtw"]
    );
    let (_, none) = get_json(
        &f.app,
        &format!("{GV}/nodes?labelSelector=kubernetes.io%2Fos%3Dwindows"),
        None,
    )
    .await;
    assert_eq!(none["items"], serde_json::json!([]));
    let (_, by_name) = get_json(
        &f.app,
        &format!("{GV}/nodes?fieldSelector=metadata.name%3Dworker-1"),
        None,
    )
    .await;
    assert_eq!(names(&by_name), ["worker-1"]);
    let (_, ns_on_node) = get_json(
        &f.app,
        &format!("{GV}/nodes?fieldSelector=metadata.namespace%3Ddefault"),
        None,
    )
    .await;
    assert_eq!(
        ns_on_node["items"],
        serde_json::json!([]),
        "nodes have no namespace"
    );

    let (status, error) =
        get_json(&f.app, &format!("{GV}/pods?labelSelector=app+in+%28"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["reason"], "BadRequest");
    // Nodes have no spec.nodeName: refused as upstream refuses every field but the metadata.
    let (status, error) = get_json(
        &f.app,
        &format!("{GV}/nodes?fieldSelector=spec.nodeName%3Dworker-1"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["message"],
        "\"spec.nodeName\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
    let (status, error) = get_json(
        &f.app,
        &format!("{GV}/pods?fieldSelector=status.phase%3DRunning"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["message"],
        "\"status.phase\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\", \"spec.nodeName\""
    );
}

/// `spec.nodeName` selects the pods the API server bound to a node ("what runs on this
/// node"), alone or with the other selectors, in all namespaces or one.
#[tokio::test]
async fn pods_are_selected_by_the_node_they_are_bound_to() {
    let f = app();
    let names = item_names;
    // Sorted by namespace, then name.
    let all = [
        "redis-0",
        "web-6d4cf56db6-8fkq2",
        "coredns-7db6d8ff4d-x7k2p",
        "kube-proxy-9zxtw",
    ];
    for version in ["v1", "v1beta1"] {
        let base = format!("/apis/metrics.k8s.io/{version}");
        let (status, on_node) = get_json(
            &f.app,
            &format!("{base}/pods?fieldSelector=spec.nodeName%3Dworker-1"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(names(&on_node), all);
        let (_, elsewhere) = get_json(
            &f.app,
            &format!("{base}/pods?fieldSelector=spec.nodeName%3Dworker-2"),
            None,
        )
        .await;
        assert_eq!(names(&elsewhere), Vec::<String>::new());
        let (_, not_here) = get_json(
            &f.app,
            &format!("{base}/pods?fieldSelector=spec.nodeName!%3Dworker-1"),
            None,
        )
        .await;
        assert_eq!(names(&not_here), Vec::<String>::new());
        let (_, combined) = get_json(
            &f.app,
            &format!(
                "{base}/namespaces/kube-system/pods?fieldSelector=spec.nodeName%3Dworker-1,metadata.name!%3Dkube-proxy-9zxtw"
            ),
            None,
        )
        .await;
        assert_eq!(names(&combined), ["coredns-7db6d8ff4d-x7k2p"]);
        let (_, labelled) = get_json(
            &f.app,
            &format!("{base}/pods?fieldSelector=spec.nodeName%3Dworker-1&labelSelector=app%3Dweb"),
            None,
        )
        .await;
        assert_eq!(names(&labelled), ["web-6d4cf56db6-8fkq2"]);
    }
}

async fn get_bytes(
    app: &Router,
    uri: &str,
    accept: Option<&str>,
) -> (StatusCode, http::HeaderMap, Vec<u8>) {
    let response = send(app, uri, accept).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, body.to_vec())
}

/// What client-go asks when it prefers protobuf (the HPA controller, `kubectl top`), and what a
/// protobuf-only typed client asks.
const PROTOBUF_FIRST: &str = "application/vnd.kubernetes.protobuf, */*";
const PROTOBUF_ONLY: &str = "application/vnd.kubernetes.protobuf";

/// The protobuf answers carry exactly what the JSON answers carry, in both versions.
#[tokio::test]
async fn protobuf_answers_equal_the_json_answers() {
    use apimachinery::protobuf::{StatusMessage, open_envelope};
    use metrics_types::protobuf::{NodeMetrics, NodeMetricsList, PodMetrics, PodMetricsList};
    use prost::Message;

    let f = app();
    let seconds = |time: &str| jiff::Timestamp::from_str(time).unwrap().as_second();
    for version in ["v1", "v1beta1"] {
        let base = format!("/apis/metrics.k8s.io/{version}");
        let api_version = format!("metrics.k8s.io/{version}");
        for accept in [PROTOBUF_FIRST, PROTOBUF_ONLY] {
            let accept = Some(accept);
            // Pods: names, namespaces, windows, containers and usage text agree with JSON.
            let (_, json) = get_json(&f.app, &format!("{base}/pods"), None).await;
            let (status, headers, body) = get_bytes(&f.app, &format!("{base}/pods"), accept).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(
                headers[header::CONTENT_TYPE],
                "application/vnd.kubernetes.protobuf"
            );
            let (meta, raw) = open_envelope(&body).unwrap();
            assert_eq!(
                (meta.api_version.as_str(), meta.kind.as_str()),
                (api_version.as_str(), "PodMetricsList")
            );
            let list = PodMetricsList::decode(raw.as_slice()).unwrap();
            let items = json["items"].as_array().unwrap();
            assert_eq!(list.items.len(), items.len());
            for (proto, json) in list.items.iter().zip(items) {
                let metadata = proto.metadata.as_ref().unwrap();
                assert_eq!(metadata.name, json["metadata"]["name"].as_str().unwrap());
                assert_eq!(
                    metadata.namespace,
                    json["metadata"]["namespace"].as_str().unwrap()
                );
                assert_eq!(
                    serde_json::to_value(&metadata.labels).unwrap(),
                    json["metadata"]["labels"]
                );
                assert_eq!(
                    proto.timestamp.unwrap().seconds,
                    seconds(json["timestamp"].as_str().unwrap())
                );
                let window =
                    apimachinery::duration::parse_go_duration(json["window"].as_str().unwrap())
                        .unwrap();
                assert_eq!(proto.window.unwrap().duration, window);
                assert_eq!(
                    proto.containers.len(),
                    json["containers"].as_array().unwrap().len()
                );
                for (container, expected) in proto
                    .containers
                    .iter()
                    .zip(json["containers"].as_array().unwrap())
                {
                    assert_eq!(container.name, expected["name"].as_str().unwrap());
                    for (resource, quantity) in &container.usage {
                        assert_eq!(
                            quantity.string,
                            expected["usage"][resource].as_str().unwrap()
                        );
                    }
                    assert_eq!(
                        container.usage.len(),
                        expected["usage"].as_object().unwrap().len()
                    );
                }
            }

            // Nodes, one node, one pod.
            let (_, _, body) = get_bytes(&f.app, &format!("{base}/nodes"), accept).await;
            let (meta, raw) = open_envelope(&body).unwrap();
            assert_eq!(meta.kind, "NodeMetricsList");
            let nodes = NodeMetricsList::decode(raw.as_slice()).unwrap();
            assert_eq!(nodes.items.len(), 1);
            let (_, _, body) = get_bytes(&f.app, &format!("{base}/nodes/worker-1"), accept).await;
            let (meta, raw) = open_envelope(&body).unwrap();
            assert_eq!(
                (meta.api_version.as_str(), meta.kind.as_str()),
                (api_version.as_str(), "NodeMetrics")
            );
            let node = NodeMetrics::decode(raw.as_slice()).unwrap();
            let (_, json) = get_json(&f.app, &format!("{base}/nodes/worker-1"), None).await;
            assert_eq!(
                node.usage["cpu"].string,
                json["usage"]["cpu"].as_str().unwrap()
            );
            assert_eq!(
                node.usage["memory"].string,
                json["usage"]["memory"].as_str().unwrap()
            );
            let (_, _, body) = get_bytes(
                &f.app,
                &format!("{base}/namespaces/default/pods/web-6d4cf56db6-8fkq2"),
                accept,
            )
            .await;
            let (meta, raw) = open_envelope(&body).unwrap();
            assert_eq!(meta.kind, "PodMetrics");
            assert_eq!(
                PodMetrics::decode(raw.as_slice())
                    .unwrap()
                    .metadata
                    .unwrap()
                    .name,
                "web-6d4cf56db6-8fkq2"
            );

            // Errors are Status objects in the same encoding.
            let (status, headers, body) =
                get_bytes(&f.app, &format!("{base}/nodes/worker-9"), accept).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_eq!(
                headers[header::CONTENT_TYPE],
                "application/vnd.kubernetes.protobuf"
            );
            let (meta, raw) = open_envelope(&body).unwrap();
            assert_eq!(
                (meta.api_version.as_str(), meta.kind.as_str()),
                ("v1", "Status")
            );
            let error = StatusMessage::decode(raw.as_slice()).unwrap();
            assert_eq!((error.code, error.reason.as_str()), (404, "NotFound"));
            let (status, _, body) = get_bytes(
                &f.app,
                &format!("{base}/pods?labelSelector=a+in+%28"),
                accept,
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            let (_, raw) = open_envelope(&body).unwrap();
            assert_eq!(
                StatusMessage::decode(raw.as_slice()).unwrap().reason,
                "BadRequest"
            );
        }
    }
    // Nothing acceptable: a 406 that names protobuf among what is served.
    let (status, _, body) =
        get_bytes(&f.app, &format!("{GV}/nodes"), Some("application/yaml")).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("application/vnd.kubernetes.protobuf")
    );
}

/// `v1` serves exactly what `v1beta1` serves, with its own `apiVersion`.
#[tokio::test]
async fn v1_serves_the_same_objects_as_v1beta1() {
    let f = app();
    let as_v1 = |value: Value| -> Value {
        serde_json::from_str(
            &serde_json::to_string(&value)
                .unwrap()
                .replace("metrics.k8s.io/v1beta1", "metrics.k8s.io/v1"),
        )
        .unwrap()
    };
    for (path, expected) in [
        ("/nodes", "metrics-nodemetricslist.json"),
        ("/nodes/worker-1", "metrics-nodemetrics-get.json"),
        ("/pods", "metrics-podmetricslist.json"),
        (
            "/namespaces/default/pods/web-6d4cf56db6-8fkq2",
            "metrics-podmetrics-get.json",
        ),
    ] {
        let (status, v1) = get_json(&f.app, &format!("/apis/metrics.k8s.io/v1{path}"), None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let expected = with_reported_swap(fixture_json(expected));
        assert!(expected.to_string().contains("metrics.k8s.io/v1beta1"));
        assert_eq!(normalise(v1), normalise(as_v1(expected)), "{path}");
    }
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let (_, table) = get_json(
        &f.app,
        "/apis/metrics.k8s.io/v1/nodes?includeObject=Object",
        Some(accept),
    )
    .await;
    assert_eq!(table["kind"], "Table");
    assert_eq!(
        table["rows"][0]["object"]["apiVersion"],
        "metrics.k8s.io/v1"
    );
    let (status, missing) = get_json(&f.app, "/apis/metrics.k8s.io/v1/nodes/worker-9", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["kind"], "Status");
    let (status, _, _) = get(&f.app, "/apis/metrics.k8s.io/v2/nodes", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Issue 11's authorization bypass: the kube-apiserver and our SubjectAccessReview judge the
/// first value of a repeated parameter, so the answer must be built from the first value too.
#[tokio::test]
async fn repeated_query_parameters_are_served_with_their_first_value() {
    let f = app();
    let names = item_names;
    for query in [
        "fieldSelector=metadata.name%3Dredis-0&fieldSelector=",
        "fieldSelector=metadata.name%3Dredis-0&fieldSelector=metadata.name%3Dweb-6d4cf56db6-8fkq2",
        "fieldSelector=metadata.name%3Dredis-0&labelSelector=&fieldSelector=metadata.name!%3Dx",
    ] {
        let (status, list) = get_json(
            &f.app,
            &format!("{GV}/namespaces/default/pods?{query}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(names(&list), ["redis-0"], "{query}");
    }
    let (status, list) = get_json(
        &f.app,
        &format!("{GV}/pods?labelSelector=app%3Dnothing&labelSelector="),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(names(&list).is_empty());
    // Authorized as a watch (any value but 0/false), so answered as a watch, never as a list.
    for query in ["watch=yes", "watch=1&watch=0", "watch=no"] {
        let (status, _, mut stream) =
            Stream::open(&f.app, &format!("{GV}/pods?{query}&timeoutSeconds=1"), None).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        let events = stream.json_events().await;
        assert!(
            events.iter().all(|e| e["type"] == "ADDED"),
            "{query}: {events:?}"
        );
    }
    let (status, list) = get_json(&f.app, &format!("{GV}/pods?watch=0&watch=1"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["kind"], "PodMetricsList");
}

#[tokio::test]
async fn node_selector_hides_nodes_from_lists_only() {
    let f = app_with(
        &[
            "kubelet-metrics-resource.prev.txt",
            "kubelet-metrics-resource.txt",
        ],
        "kubernetes.io/os=windows",
    );
    let (_, list) = get_json(&f.app, &format!("{GV}/nodes"), None).await;
    assert_eq!(list["items"], serde_json::json!([]));
}

#[tokio::test]
async fn missing_objects_and_missing_metrics_are_told_apart() {
    let f = app();
    let cases = [
        (
            format!("{GV}/nodes/worker-9"),
            "status-404-node-not-in-cluster.json",
        ),
        (
            format!("{GV}/namespaces/default/pods/no-such-pod"),
            "status-404-pod-not-in-cluster.json",
        ),
    ];
    for (uri, expected) in cases {
        let (status, body) = get_json(&f.app, &uri, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, fixture_json(expected), "{uri}");
    }
    // Known objects without two scrapes yet: the metrics are what is missing.
    let fresh = app_with(&["kubelet-metrics-resource.txt"], "");
    let (status, body) = get_json(&fresh.app, &format!("{GV}/nodes/worker-1"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["message"],
        "nodemetrics.metrics.k8s.io \"worker-1\" not found"
    );
    assert_eq!(
        body["details"],
        serde_json::json!({"name": "worker-1", "group": "metrics.k8s.io", "kind": "nodemetrics"})
    );
    let (status, body) = get_json(
        &fresh.app,
        &format!("{GV}/namespaces/default/pods/redis-0"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["message"],
        "podmetrics.metrics.k8s.io \"default/redis-0\" not found"
    );
    // Lists omit instead of failing.
    let (status, body) = get_json(&fresh.app, &format!("{GV}/pods"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"], serde_json::json!([]));
}

#[tokio::test]
async fn other_methods_are_not_allowed() {
    let f = app();
    let request = Request::builder()
        .method("DELETE")
        .uri(format!("{GV}/nodes/worker-1"))
        .body(Body::empty())
        .unwrap();
    let response = f.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn discovery_documents_match_upstream() {
    let f = app();
    // Upstream's documents plus v1, the preferred version, with the same resources.
    let v1_of = |value: &Value| -> Value {
        serde_json::from_str(&value.to_string().replace("v1beta1", "v1")).unwrap()
    };
    let mut group = fixture_json("discovery-apis-metrics.k8s.io.json");
    let v1beta1 = group["versions"][0].clone();
    group["versions"] = serde_json::json!([v1_of(&v1beta1), v1beta1]);
    group["preferredVersion"] = v1_of(&v1beta1);
    let mut groups = fixture_json("discovery-apis.json");
    let mut listed = group.clone();
    listed.as_object_mut().unwrap().remove("kind");
    listed.as_object_mut().unwrap().remove("apiVersion");
    groups["groups"][0] = listed;
    let resources = fixture_json("discovery-apis-metrics.k8s.io-v1beta1.json");
    for (uri, expected) in [
        ("/apis", groups),
        ("/apis/metrics.k8s.io", group),
        ("/apis/metrics.k8s.io/v1", v1_of(&resources)),
        (GV, resources),
    ] {
        let (status, body) = get_json(&f.app, uri, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, expected, "{uri}");
    }
    let aggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
    let (status, headers, body) = get(&f.app, "/apis", Some(aggregated)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let value: Value = serde_json::from_str(&body).unwrap();
    let mut expected = fixture_json("discovery-apis-aggregated-v2.json");
    let v1beta1 = expected["items"][0]["versions"][0].clone();
    expected["items"][0]["versions"] = serde_json::json!([v1_of(&v1beta1), v1beta1]);
    assert_eq!(value, expected);
    let etag = headers[header::ETAG].to_str().unwrap().to_string();
    let request = Request::builder()
        .uri("/apis")
        .header(header::ACCEPT, aggregated)
        .header(header::IF_NONE_MATCH, etag)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        f.app.clone().oneshot(request).await.unwrap().status(),
        StatusCode::NOT_MODIFIED
    );

    let (status, _, body) = get(&f.app, "/no/such/path", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("\"/apis/metrics.k8s.io/v1beta1\""));
    assert!(body.contains("\"/apis/metrics.k8s.io/v1\""));
    for version in ["v1", "v1beta1"] {
        let (status, _, body) = get(
            &f.app,
            &format!("/openapi/v3/apis/metrics.k8s.io/{version}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{version}");
        assert!(body.contains(&format!(
            "io.k8s.metrics.pkg.apis.metrics.{version}.NodeMetrics"
        )));
    }
    let (status, _, _) = get(&f.app, "/openapi/v2", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = get(&f.app, "/version", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn health_checks_print_upstreams_text() {
    let f = app();
    let (status, _, body) = get(&f.app, "/readyz?verbose", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        "[+]ping ok\n[+]log ok\n[+]poststarthook/max-in-flight-filter ok\n\
         [+]poststarthook/storage-object-count-tracker-hook ok\n[+]metric-storage-ready ok\n\
         [+]metric-informer-sync ok\n[+]metadata-informer-sync ok\n[+]shutdown ok\nreadyz check passed\n"
    );
    let (status, _, body) = get(&f.app, "/livez?verbose", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        "[+]ping ok\n[+]log ok\n[+]poststarthook/max-in-flight-filter ok\n\
         [+]poststarthook/storage-object-count-tracker-hook ok\n[+]metric-collection-timely ok\n\
         [+]metadata-informer-sync ok\nlivez check passed\n"
    );
    let (_, _, body) = get(&f.app, "/healthz", None).await;
    assert_eq!(body, "ok");
    let (_, _, body) = get(
        &f.app,
        "/readyz?verbose&exclude=shutdown&exclude=nope",
        None,
    )
    .await;
    assert!(body.contains("[+]shutdown excluded: ok\n"));
    assert!(
        body.contains("warn: some health checks cannot be excluded: no matches for \"nope\"\n")
    );

    f.health.begin_shutdown();
    let (status, _, body) = get(&f.app, "/readyz", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body.ends_with("[-]shutdown failed: reason withheld\nreadyz check failed\n"),
        "{body}"
    );
    let (status, _, body) = get(&f.app, "/readyz/shutdown", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.starts_with("internal server error: "));
    let (status, _, body) = get(&f.app, "/livez/ping", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn not_ready_until_metrics_exist() {
    let f = app_with(&["kubelet-metrics-resource.txt"], "");
    let (status, _, body) = get(&f.app, "/readyz", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("[-]metric-storage-ready failed: reason withheld\n"));
}

/// The timing rule itself is the scrape loop's (`metrics-server`'s `timeliness.rs` tests it).
#[tokio::test]
async fn liveness_fails_when_collection_stalls() {
    let f = app();
    let (status, _, _) = get(&f.app, "/livez", None).await;
    assert_eq!(status, StatusCode::OK);
    f.collection_on_time.store(false, Ordering::Release);
    let (status, _, body) = get(&f.app, "/livez", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("[-]metric-collection-timely failed: reason withheld\n"));
}

#[tokio::test]
async fn freshness_is_observed_per_served_item() {
    let f = app();
    get_json(&f.app, &format!("{GV}/pods"), None).await;
    let (_, _, text) = get(&f.app, "/metrics", None).await;
    let count_line = text
        .lines()
        .find(|l| l.starts_with("metrics_server_api_metric_freshness_seconds_count"))
        .unwrap();
    assert_eq!(
        count_line,
        "metrics_server_api_metric_freshness_seconds_count 4"
    );
    assert_eq!(f.registry.gather().len(), 1);
}

#[tokio::test]
async fn pretty_printing_for_people() {
    let f = app();
    let request = Request::builder()
        .uri(GV)
        .header(header::USER_AGENT, "curl/8.5.0")
        .body(Body::empty())
        .unwrap();
    let response = f.app.clone().oneshot(request).await.unwrap();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert!(
        String::from_utf8(body.to_vec())
            .unwrap()
            .contains("\n  \"kind\": \"APIResourceList\"")
    );
    let (_, _, compact) = get(&f.app, GV, None).await;
    assert!(compact.starts_with("{\"kind\":\"APIResourceList\""));
}

/// The fixture's latest scrape, `seconds` later: every timestamp moved on and every CPU
/// counter advanced by a tenth of a core-second, so the store computes a new window.
fn later_scrape(seconds: i64) -> String {
    fixture("kubelet-metrics-resource.txt")
        .lines()
        .map(|line| {
            // Comments and series without a timestamp (start times, scrape_error) stay.
            if line.starts_with('#') || line.split(' ').count() != 3 {
                return line.to_owned();
            }
            let mut fields: Vec<String> = line.rsplitn(3, ' ').map(str::to_owned).collect();
            // rsplitn: [timestamp, value, series]
            let timestamp: i64 = fields[0].parse().unwrap();
            fields[0] = (timestamp + seconds * 1000).to_string();
            if fields[2].contains("cpu_usage_seconds_total") {
                let value: f64 = fields[1].parse().unwrap();
                fields[1] = (value + 0.1 * seconds as f64).to_string();
            }
            format!("{} {} {}", fields[2], fields[1], fields[0])
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads a streaming body chunk by chunk.
struct Stream(Body);

impl Stream {
    async fn open(
        app: &Router,
        uri: &str,
        accept: Option<&str>,
    ) -> (StatusCode, http::HeaderMap, Stream) {
        let response = send(app, uri, accept).await;
        let status = response.status();
        let headers = response.headers().clone();
        (status, headers, Stream(response.into_body()))
    }

    /// The next chunk, `None` at the end of the stream.
    async fn next(&mut self) -> Option<Vec<u8>> {
        use http_body_util::BodyExt;
        let frame = tokio::time::timeout(Duration::from_secs(10), self.0.frame())
            .await
            .expect("a watch event within 10 s")?;
        Some(frame.unwrap().into_data().unwrap().to_vec())
    }

    /// The next chunk as JSON events.
    async fn json_events(&mut self) -> Vec<Value> {
        let chunk = self.next().await.expect("a chunk");
        String::from_utf8(chunk)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

fn event_summary(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            let object = &e["object"];
            let name = if object["kind"] == "Table" {
                object["rows"][0]["cells"][0]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            } else {
                let namespace = object["metadata"]["namespace"].as_str().unwrap_or("");
                let name = object["metadata"]["name"].as_str().unwrap_or("");
                if namespace.is_empty() {
                    name.to_owned()
                } else {
                    format!("{namespace}/{name}")
                }
            };
            (e["type"].as_str().unwrap().to_owned(), name)
        })
        .collect()
}

/// A watch sends what is served now as ADDED, then per stored cycle MODIFIED for new samples
/// and DELETED for what is no longer served; selectors apply as in a list.
#[tokio::test]
async fn watch_follows_the_store_cycle_by_cycle() {
    let f = app();
    for version in ["v1", "v1beta1"] {
        let (status, headers, mut nodes) = Stream::open(
            &f.app,
            &format!("/apis/metrics.k8s.io/{version}/nodes?watch=1"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let events = nodes.json_events().await;
        assert_eq!(
            event_summary(&events),
            [("ADDED".into(), "worker-1".into())]
        );
        assert_eq!(
            events[0]["object"]["apiVersion"],
            format!("metrics.k8s.io/{version}")
        );
        assert_eq!(events[0]["object"]["kind"], "NodeMetrics");
        assert!(events[0]["object"]["usage"]["cpu"].is_string());
        drop(nodes);
    }

    let (_, _, mut nodes) = Stream::open(&f.app, &format!("{GV}/nodes?watch=true"), None).await;
    let (_, _, mut web) = Stream::open(
        &f.app,
        &format!("{GV}/namespaces/default/pods?watch=1&labelSelector=app%3Dweb"),
        None,
    )
    .await;
    let (_, _, mut on_node) = Stream::open(
        &f.app,
        "/apis/metrics.k8s.io/v1/pods?watch=1&fieldSelector=spec.nodeName%3Dworker-1",
        None,
    )
    .await;
    assert_eq!(
        event_summary(&nodes.json_events().await),
        [("ADDED".into(), "worker-1".into())]
    );
    assert_eq!(
        event_summary(&web.json_events().await),
        [("ADDED".into(), "default/web-6d4cf56db6-8fkq2".into())]
    );
    assert_eq!(on_node.json_events().await.len(), 4);

    // A new cycle with new samples: MODIFIED, once per object.
    f.store.store(batch(&later_scrape(15)));
    let modified = nodes.json_events().await;
    assert_eq!(
        event_summary(&modified),
        [("MODIFIED".into(), "worker-1".into())]
    );
    assert_eq!(modified[0]["object"]["window"], "15s");
    assert_eq!(
        event_summary(&web.json_events().await),
        [("MODIFIED".into(), "default/web-6d4cf56db6-8fkq2".into())]
    );
    let all = on_node.json_events().await;
    assert!(all.iter().all(|e| e["type"] == "MODIFIED"), "{all:?}");
    assert_eq!(all.len(), 4);

    // A cycle without the node or its pods: DELETED, with the objects as last served.
    f.store.store(MetricsBatch::default());
    let deleted = nodes.json_events().await;
    assert_eq!(
        event_summary(&deleted),
        [("DELETED".into(), "worker-1".into())]
    );
    assert_eq!(deleted[0]["object"]["window"], "15s");
    assert_eq!(
        event_summary(&web.json_events().await),
        [("DELETED".into(), "default/web-6d4cf56db6-8fkq2".into())]
    );
    assert_eq!(on_node.json_events().await.len(), 4);
}

#[tokio::test]
async fn watch_in_protobuf_sends_length_prefixed_events() {
    use apimachinery::protobuf::{WatchEvent, open_envelope};
    use metrics_types::protobuf::NodeMetrics;
    use prost::Message;

    let f = app();
    let (status, headers, mut stream) = Stream::open(
        &f.app,
        "/apis/metrics.k8s.io/v1/nodes?watch=1&allowWatchBookmarks=true",
        Some(PROTOBUF_ONLY),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/vnd.kubernetes.protobuf;stream=watch"
    );
    let frames = |chunk: Vec<u8>| {
        let mut events = Vec::new();
        let mut rest = chunk.as_slice();
        while !rest.is_empty() {
            let length = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            events.push(WatchEvent::decode(&rest[4..4 + length]).unwrap());
            rest = &rest[4 + length..];
        }
        events
    };
    let events = frames(stream.next().await.unwrap());
    assert_eq!(events.len(), 2, "ADDED, then a bookmark");
    assert_eq!(events[0].r#type, "ADDED");
    let (meta, raw) = open_envelope(&events[0].object.as_ref().unwrap().raw).unwrap();
    assert_eq!(
        (meta.api_version.as_str(), meta.kind.as_str()),
        ("metrics.k8s.io/v1", "NodeMetrics")
    );
    let node = NodeMetrics::decode(raw.as_slice()).unwrap();
    assert_eq!(node.metadata.unwrap().name, "worker-1");
    assert_eq!(events[1].r#type, "BOOKMARK");
    let (_, raw) = open_envelope(&events[1].object.as_ref().unwrap().raw).unwrap();
    let bookmark = NodeMetrics::decode(raw.as_slice()).unwrap();
    assert_eq!(
        bookmark.metadata.unwrap().resource_version,
        "2",
        "two cycles stored"
    );

    f.store.store(batch(&later_scrape(15)));
    let events = frames(stream.next().await.unwrap());
    assert_eq!(
        events.iter().map(|e| e.r#type.as_str()).collect::<Vec<_>>(),
        ["MODIFIED", "BOOKMARK"]
    );
}

/// `kubectl get -w` asks for Tables: one row per event, column definitions in the first only.
#[tokio::test]
async fn watch_as_table_sends_headers_once() {
    let f = app();
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let (_, _, mut stream) = Stream::open(
        &f.app,
        &format!("{GV}/namespaces/default/pods?watch=1"),
        Some(accept),
    )
    .await;
    let events = stream.json_events().await;
    assert_eq!(
        event_summary(&events),
        [
            ("ADDED".into(), "redis-0".into()),
            ("ADDED".into(), "web-6d4cf56db6-8fkq2".into())
        ]
    );
    assert_eq!(events[0]["object"]["kind"], "Table");
    assert_eq!(events[0]["object"]["columnDefinitions"][0]["name"], "Name");
    assert!(events[1]["object"]["columnDefinitions"].is_null());
    assert_eq!(events[1]["object"]["rows"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn watch_ends_at_its_timeout_and_validates_like_a_list() {
    let f = app();
    let (_, _, mut stream) = Stream::open(
        &f.app,
        &format!("{GV}/nodes?watch=1&timeoutSeconds=1"),
        None,
    )
    .await;
    assert_eq!(stream.json_events().await.len(), 1);
    assert_eq!(
        stream.next().await,
        None,
        "the stream ends after timeoutSeconds"
    );

    let (status, body) = get_json(
        &f.app,
        &format!("{GV}/pods?watch=1&labelSelector=a+in+%28"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["reason"], "BadRequest");
    let (status, _) = get_json(
        &f.app,
        &format!("{GV}/nodes?watch=1&timeoutSeconds=x"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A client that stops reading is disconnected once it is three cycles behind; what it was
/// sent stays readable, and nothing more is buffered for it. Paused time: each sleep returns
/// only once every task is idle, so the watch has taken each cycle before the next is stored.
#[tokio::test(start_paused = true)]
async fn a_watcher_that_stops_reading_is_dropped_not_buffered() {
    let f = app();
    let (_, _, mut stream) = Stream::open(&f.app, &format!("{GV}/nodes?watch=1"), None).await;
    // The client reads nothing while cycles go by (each with new samples, so each has events).
    for cycle in 1..=6 {
        f.store.store(batch(&later_scrape(15 * cycle)));
        // Let the watch task take this cycle before the next one is stored.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut chunks = 0;
    while stream.next().await.is_some() {
        chunks += 1;
    }
    assert_eq!(chunks, 3, "the buffered cycles, then the end");
}

#[tokio::test]
async fn watches_end_when_the_server_shuts_down() {
    let f = app();
    let (_, _, mut stream) = Stream::open(&f.app, &format!("{GV}/pods?watch=1"), None).await;
    assert_eq!(stream.json_events().await.len(), 4);
    f.shutdown.cancel();
    assert_eq!(stream.next().await, None);
}
