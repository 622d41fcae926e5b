//! The two kubelet scrapes of `crates/testkit/fixtures` give exactly the values in
//! `metrics-server-expected-usage.json`.
//!
//! The numbers below are copied by hand from `kubelet-metrics-resource.prev.txt` (first scrape)
//! and `kubelet-metrics-resource.txt` (second scrape), and converted the way the scraper does:
//! seconds × 1e9 truncated to integer nanoseconds, bytes truncated to an integer, millisecond
//! timestamps to nanoseconds.

use serde_json::Value;

use metric_store::{MetricsPoint, Snapshot, Timestamp, Usage};

use crate::support::*;

const EXPECTED: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testkit/fixtures/metrics-server-expected-usage.json"
));

/// `(cpu seconds, working set bytes, sample time in ms)` of the node.
type NodeSample = (f64, f64, i64);
/// `(namespace, pod, container, cpu seconds, working set bytes, sample time in ms, start time in s)`.
type ContainerSample = (&'static str, &'static str, &'static str, f64, f64, i64, f64);

const PREV_NODE: NodeSample = (172948.121379417, 3.325165568e+09, 1749556796470);
const PREV_CONTAINERS: [ContainerSample; 5] = [
    (
        "kube-system",
        "coredns-7db6d8ff4d-x7k2p",
        "coredns",
        763.914728091,
        1.5314944e+07,
        1749556795602,
        1.7487649845127332e+09,
    ),
    (
        "kube-system",
        "kube-proxy-9zxtw",
        "kube-proxy",
        398.233412677,
        2.2970368e+07,
        1749556798751,
        1.7487649708712666e+09,
    ),
    (
        "default",
        "web-6d4cf56db6-8fkq2",
        "log-shipper",
        511.203884211,
        1.9185664e+07,
        1749556793420,
        1.7494872081904428e+09,
    ),
    (
        "default",
        "web-6d4cf56db6-8fkq2",
        "nginx",
        9410.337145882,
        4.1037824e+07,
        1749556792108,
        1.749487207553018e+09,
    ),
    (
        "default",
        "redis-0",
        "redis",
        2206.922837519,
        1.15822592e+08,
        1749556797699,
        1.7491183174029632e+09,
    ),
];

const LAST_NODE: NodeSample = (172954.312845103, 3.328466944e+09, 1749556811482);
const LAST_CONTAINERS: [ContainerSample; 5] = [
    (
        "kube-system",
        "coredns-7db6d8ff4d-x7k2p",
        "coredns",
        763.956502113,
        1.531904e+07,
        1749556810614,
        1.7487649845127332e+09,
    ),
    (
        "kube-system",
        "kube-proxy-9zxtw",
        "kube-proxy",
        398.24318729,
        2.2974464e+07,
        1749556813769,
        1.7487649708712666e+09,
    ),
    (
        "default",
        "web-6d4cf56db6-8fkq2",
        "log-shipper",
        511.354096803,
        1.918976e+07,
        1749556808437,
        1.7494872081904428e+09,
    ),
    (
        "default",
        "web-6d4cf56db6-8fkq2",
        "nginx",
        9413.35187302,
        4.1340928e+07,
        1749556807121,
        1.749487207553018e+09,
    ),
    (
        "default",
        "redis-0",
        "redis",
        2207.060451382,
        1.1583488e+08,
        1749556812715,
        1.7491183174029632e+09,
    ),
];

fn point(
    cpu_seconds: f64,
    memory_bytes: f64,
    timestamp_ms: i64,
    start_seconds: f64,
) -> MetricsPoint {
    MetricsPoint {
        start_time: Timestamp((start_seconds * 1e9) as i64),
        timestamp: Timestamp::from_unix_millis(timestamp_ms),
        cumulative_cpu_ns: (cpu_seconds * 1e9) as u64,
        memory_bytes: memory_bytes as u64,
        swap_bytes: None,
    }
}

fn scrape(node: NodeSample, containers: &[ContainerSample]) -> metric_store::MetricsBatch {
    // The node's start time is never parsed from the kubelet.
    let mut b = batch().node("worker-1", point(node.0, node.1, node.2, 0.0));
    for &(namespace, pod, container, cpu, memory, ts, start) in containers {
        b = b.container(namespace, pod, container, point(cpu, memory, ts, start));
    }
    b.build()
}

fn stored_fixture() -> std::sync::Arc<Snapshot> {
    let store = store();
    store.store(scrape(PREV_NODE, &PREV_CONTAINERS));
    let summary = store.store(scrape(LAST_NODE, &LAST_CONTAINERS));
    assert_eq!(
        (
            summary.node_points,
            summary.container_points,
            summary.usage_errors()
        ),
        (1, 5, 0)
    );
    store.snapshot()
}

/// A Go duration string of the form `15.012s` in nanoseconds.
fn window_ns(go_duration: &str) -> i64 {
    let seconds = go_duration.strip_suffix('s').unwrap();
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
    let fraction_ns: i64 = format!("{fraction:0<9}").parse().unwrap();
    whole.parse::<i64>().unwrap() * S + fraction_ns
}

/// The API prints timestamps in RFC 3339 with whole seconds.
fn unix_seconds(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_second()
}

fn assert_matches(what: &str, usage: Usage, expected: &Value) {
    assert_eq!(
        usage.cpu_nanocores,
        expected["nanocores"].as_u64().unwrap(),
        "{what} cpu"
    );
    assert_eq!(
        usage.window_ns,
        window_ns(expected["window"].as_str().unwrap()),
        "{what} window"
    );
    assert_eq!(
        usage.timestamp.0.div_euclid(S),
        unix_seconds(expected["timestamp"].as_str().unwrap()),
        "{what} timestamp"
    );
    let memory = expected["memory"].as_str().unwrap();
    let kib: u64 = memory.strip_suffix("Ki").unwrap().parse().unwrap();
    assert_eq!(usage.memory_bytes, kib * 1024, "{what} memory");
}

#[test]
fn node_usage_matches_the_expected_values() {
    let expected: Value = serde_json::from_str(EXPECTED).unwrap();
    let usage = stored_fixture().node("worker-1").unwrap();
    assert_matches("node", usage, &expected["node"]);
    assert_eq!(
        usage.memory_bytes,
        expected["node"]["bytes"].as_u64().unwrap()
    );
    // The README's headline numbers, spelled out.
    assert_eq!(usage.cpu_nanocores, 412_434_431);
    assert_eq!(usage.window_ns, 15_012_000_000);
}

#[test]
fn container_usage_matches_the_expected_values() {
    let expected: Value = serde_json::from_str(EXPECTED).unwrap();
    let expected = expected["containers"].as_object().unwrap();
    let snapshot = stored_fixture();
    let mut seen = 0;
    for pod in snapshot.pods() {
        for (container, usage) in pod.containers() {
            let key = format!("{}/{}/{container}", pod.namespace(), pod.name());
            assert_matches(&key, usage, &expected[&key]);
            seen += 1;
        }
    }
    assert_eq!(seen, expected.len());
}

#[test]
fn pods_report_their_earliest_container() {
    let snapshot = stored_fixture();
    let web = snapshot.pod("default", "web-6d4cf56db6-8fkq2").unwrap();
    assert_eq!(
        web.containers().map(|(name, _)| name).collect::<Vec<_>>(),
        ["log-shipper", "nginx"]
    );
    assert_eq!(
        web.timestamp().0.div_euclid(S),
        unix_seconds("2025-06-10T12:00:07Z")
    );
    assert_eq!(web.window_ns(), window_ns("15.013s"));
    let nginx = web
        .containers()
        .find(|(name, _)| *name == "nginx")
        .unwrap()
        .1;
    assert_eq!(nginx.cpu_nanocores, 200_807_775);

    assert_eq!(
        pod_names(&snapshot),
        [
            "default/redis-0",
            "default/web-6d4cf56db6-8fkq2",
            "kube-system/coredns-7db6d8ff4d-x7k2p",
            "kube-system/kube-proxy-9zxtw"
        ]
    );
    assert!(snapshot.is_ready());
}
