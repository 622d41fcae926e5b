//! Decoding cost of one large node: a generated `/metrics/resource` body with 2,000 containers
//! (kubelet 1.34 format, like the fixture) through the hand decoder and through the
//! prometheus-parse decoder, and a `/stats/summary?only_cpu_and_memory=true` body of the same
//! pods and containers; and the hostile body of one pod with 1,000 to 100,000 containers, whose
//! cost per byte must stay flat (linear decoding).
//!
//! Run with `cargo bench -p kubelet-scraper --bench decode`.

use std::fmt::Write;
use std::sync::LazyLock;

use divan::Bencher;
use divan::counter::BytesCount;
use kubelet_scraper::decode::{
    decode_resource, decode_resource_with_prometheus_parse, decode_summary,
};
use metric_store::Timestamp;

const PODS: usize = 1_000;
const CONTAINERS_PER_POD: usize = 2;
const SCRAPE_START: Timestamp = Timestamp(1_749_556_815_000_000_000);

fn main() {
    divan::main();
}

struct Container {
    namespace: String,
    pod: String,
    name: String,
    cpu_seconds: f64,
    memory_bytes: u64,
    start_seconds: f64,
    timestamp_ms: i64,
}

fn containers() -> Vec<Container> {
    let mut containers = Vec::with_capacity(PODS * CONTAINERS_PER_POD);
    for p in 0..PODS {
        for c in 0..CONTAINERS_PER_POD {
            let i = (p * CONTAINERS_PER_POD + c) as f64;
            containers.push(Container {
                namespace: format!("namespace-{:02}", p % 20),
                pod: format!("deployment-{p:04}-7db6d8ff4d-x7k2p"),
                name: format!("container-{c}"),
                cpu_seconds: 763.956502113 + i * 13.37,
                memory_bytes: 15_319_040 + (i as u64) * 4096,
                start_seconds: 1.7487649845127332e9 + i,
                timestamp_ms: 1_749_556_810_614 + (i as i64 % 5000),
            });
        }
    }
    // The kubelet sorts series by label values: container, then namespace, then pod.
    containers
        .sort_by(|a, b| (&a.name, &a.namespace, &a.pod).cmp(&(&b.name, &b.namespace, &b.pod)));
    containers
}

/// Go's `FormatFloat(v, 'g', -1, 64)` for the magnitudes used here.
fn go_float(v: f64) -> String {
    if v == 0.0 || (1e-4..1e6).contains(&v.abs()) {
        return format!("{v}");
    }
    let sci = format!("{v:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    format!(
        "{mantissa}e{}{:02}",
        if exponent < 0 { '-' } else { '+' },
        exponent.abs()
    )
}

static RESOURCE_BODY: LazyLock<String> = LazyLock::new(|| {
    let containers = containers();
    let mut out = String::new();
    let labels = |c: &Container| {
        format!(
            r#"{{container="{}",namespace="{}",pod="{}"}}"#,
            c.name, c.namespace, c.pod
        )
    };
    let family = |out: &mut String,
                  name: &str,
                  kind: &str,
                  help: &str,
                  lines: &mut dyn Iterator<Item = String>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    };
    family(
        &mut out,
        "container_cpu_usage_seconds_total",
        "counter",
        "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
        &mut containers.iter().map(|c| {
            format!(
                "container_cpu_usage_seconds_total{} {} {}",
                labels(c),
                go_float(c.cpu_seconds),
                c.timestamp_ms
            )
        }),
    );
    family(
        &mut out,
        "container_memory_working_set_bytes",
        "gauge",
        "[STABLE] Current working set of the container in bytes",
        &mut containers.iter().map(|c| {
            format!(
                "container_memory_working_set_bytes{} {} {}",
                labels(c),
                go_float(c.memory_bytes as f64),
                c.timestamp_ms
            )
        }),
    );
    family(
        &mut out,
        "container_start_time_seconds",
        "gauge",
        "[STABLE] Start time of the container since unix epoch in seconds",
        &mut containers.iter().map(|c| {
            format!(
                "container_start_time_seconds{} {}",
                labels(c),
                go_float(c.start_seconds)
            )
        }),
    );
    family(
        &mut out,
        "container_swap_usage_bytes",
        "gauge",
        "[ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems",
        &mut containers.iter().map(|c| {
            format!(
                "container_swap_usage_bytes{} 0 {}",
                labels(c),
                c.timestamp_ms
            )
        }),
    );
    family(
        &mut out,
        "node_cpu_usage_seconds_total",
        "counter",
        "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
        &mut std::iter::once(
            "node_cpu_usage_seconds_total 172954.312845103 1749556811482".to_owned(),
        ),
    );
    family(
        &mut out,
        "node_memory_working_set_bytes",
        "gauge",
        "[STABLE] Current working set of the node in bytes",
        &mut std::iter::once(
            "node_memory_working_set_bytes 3.328466944e+09 1749556811482".to_owned(),
        ),
    );
    family(
        &mut out,
        "node_swap_usage_bytes",
        "gauge",
        "[ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems",
        &mut std::iter::once("node_swap_usage_bytes 0 1749556811482".to_owned()),
    );
    let pods = || containers.iter().filter(|c| c.name == "container-0");
    let pod_labels = |c: &Container| format!(r#"{{namespace="{}",pod="{}"}}"#, c.namespace, c.pod);
    family(
        &mut out,
        "pod_cpu_usage_seconds_total",
        "counter",
        "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
        &mut pods().map(|c| {
            format!(
                "pod_cpu_usage_seconds_total{} {} {}",
                pod_labels(c),
                go_float(c.cpu_seconds * 2.0),
                c.timestamp_ms
            )
        }),
    );
    family(
        &mut out,
        "pod_memory_working_set_bytes",
        "gauge",
        "[STABLE] Current working set of the pod in bytes",
        &mut pods().map(|c| {
            format!(
                "pod_memory_working_set_bytes{} {} {}",
                pod_labels(c),
                go_float(c.memory_bytes as f64 * 2.0),
                c.timestamp_ms
            )
        }),
    );
    family(
        &mut out,
        "pod_swap_usage_bytes",
        "gauge",
        "[ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems",
        &mut pods().map(|c| format!("pod_swap_usage_bytes{} 0 {}", pod_labels(c), c.timestamp_ms)),
    );
    family(
        &mut out,
        "resource_scrape_error",
        "gauge",
        "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
        &mut std::iter::once("resource_scrape_error 0".to_owned()),
    );
    out
});

static SUMMARY_BODY: LazyLock<String> = LazyLock::new(|| {
    let time = |ms: i64| {
        let seconds = ms / 1000;
        jiff::Timestamp::from_second(seconds)
            .map(|t| t.to_string())
            .unwrap_or_default()
    };
    let stats = |c: &Container| {
        serde_json::json!({
            "name": c.name,
            "startTime": time((c.start_seconds * 1000.0) as i64),
            "cpu": {"time": time(c.timestamp_ms), "usageNanoCores": 200808688u64, "usageCoreNanoSeconds": (c.cpu_seconds * 1e9) as u64,
                    "psi": {"full": {"total": 0, "avg10": 0, "avg60": 0, "avg300": 0}, "some": {"total": 0, "avg10": 0, "avg60": 0, "avg300": 0}}},
            "memory": {"time": time(c.timestamp_ms), "availableBytes": 227094528u64, "usageBytes": 64708608u64, "workingSetBytes": c.memory_bytes,
                       "rssBytes": 34713600u64, "pageFaults": 191811u64, "majorPageFaults": 2,
                       "psi": {"full": {"total": 0, "avg10": 0, "avg60": 0, "avg300": 0}, "some": {"total": 0, "avg10": 0, "avg60": 0, "avg300": 0}}},
            "swap": {"time": time(c.timestamp_ms), "swapUsageBytes": 0}
        })
    };
    let containers = containers();
    let mut pods: Vec<serde_json::Value> = Vec::new();
    for p in containers.iter().filter(|c| c.name == "container-0") {
        let members: Vec<_> = containers
            .iter()
            .filter(|c| c.pod == p.pod && c.namespace == p.namespace)
            .map(stats)
            .collect();
        pods.push(serde_json::json!({
            "podRef": {"name": p.pod, "namespace": p.namespace, "uid": "5a9e3c71-2f0d-4b6a-a1c8-9e4f7d2b6c10"},
            "startTime": time((p.start_seconds * 1000.0) as i64),
            "containers": members,
            "cpu": {"time": time(p.timestamp_ms), "usageNanoCores": 210811828u64, "usageCoreNanoSeconds": 9934390121447u64},
            "memory": {"time": time(p.timestamp_ms), "workingSetBytes": 62394368u64},
            "swap": {"time": time(p.timestamp_ms), "swapUsageBytes": 0}
        }));
    }
    let summary = serde_json::json!({
        "node": {
            "nodeName": "worker-1", "startTime": "2025-06-01T08:02:11Z",
            "cpu": {"time": "2025-06-10T12:00:11Z", "usageNanoCores": 414746308u64, "usageCoreNanoSeconds": 172954312845103u64},
            "memory": {"time": "2025-06-10T12:00:11Z", "workingSetBytes": 3328466944u64},
            "swap": {"time": "2025-06-10T12:00:11Z", "swapUsageBytes": 0}
        },
        "pods": pods
    });
    serde_json::to_string_pretty(&summary).unwrap_or_default()
});

fn check(containers: usize) {
    assert_eq!(
        containers,
        PODS * CONTAINERS_PER_POD,
        "the generated body must decode completely"
    );
}

#[divan::bench]
fn resource_hand_decoder(bencher: Bencher) {
    let body = RESOURCE_BODY.as_bytes();
    check(
        decode_resource(body, SCRAPE_START)
            .map(|m| m.container_count())
            .unwrap_or(0),
    );
    bencher
        .counter(BytesCount::new(body.len()))
        .bench(|| decode_resource(divan::black_box(body), SCRAPE_START));
}

#[divan::bench]
fn resource_prometheus_parse(bencher: Bencher) {
    let body = RESOURCE_BODY.as_bytes();
    check(
        decode_resource_with_prometheus_parse(body, SCRAPE_START)
            .map(|m| m.container_count())
            .unwrap_or(0),
    );
    bencher
        .counter(BytesCount::new(body.len()))
        .bench(|| decode_resource_with_prometheus_parse(divan::black_box(body), SCRAPE_START));
}

#[divan::bench]
fn summary_json(bencher: Bencher) {
    let body = SUMMARY_BODY.as_bytes();
    check(
        decode_summary(body)
            .map(|m| m.container_count())
            .unwrap_or(0),
    );
    bencher
        .counter(BytesCount::new(body.len()))
        .bench(|| decode_summary(divan::black_box(body)));
}

/// One pod with `containers` distinct containers (CPU and memory lines each, the kubelet's
/// order). Throughput per byte should not fall as the pod grows: finding a container must not
/// scan the pod's others.
fn wide_pod_body(containers: usize) -> String {
    let mut body = String::new();
    for family in [
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
    ] {
        for i in 0..containers {
            let _ = writeln!(
                body,
                "{family}{{container=\"c{i}\",namespace=\"ns\",pod=\"wide\"}} 1 1749556811482"
            );
        }
    }
    body
}

#[divan::bench(args = [1_000, 10_000, 100_000])]
fn resource_one_wide_pod(bencher: Bencher, containers: usize) {
    let body = wide_pod_body(containers);
    let body = body.as_bytes();
    bencher
        .counter(BytesCount::new(body.len()))
        .bench(|| decode_resource(divan::black_box(body), SCRAPE_START));
}
