//! `/metrics/resource` decoding against the shared fixtures, upstream's drop rules and every
//! kind of bad input. Each case runs through both decoders, which must agree.

#![allow(clippy::unwrap_used)] // a test crate: a failed unwrap is a failed test

use std::collections::HashMap;

use kubelet_scraper::decode::{
    KubeletMetrics, MAX_CONTAINERS_PER_POD, ResourceDecodeError, ResourceErrorKind,
    decode_resource, decode_resource_with_prometheus_parse,
};
use metric_store::{ContainerPoint, MetricsPoint, PodRef, Timestamp};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testkit/fixtures/");
const SCRAPE_START: Timestamp = Timestamp(1_749_556_815_000_000_000);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{name}")).unwrap()
}

/// Runs both decoders and insists they agree: same result, or errors on the same line of the
/// same kind (syntax reasons may be worded differently).
fn decode(body: &[u8]) -> Result<KubeletMetrics, ResourceDecodeError> {
    let hand = decode_resource(body, SCRAPE_START);
    let oracle = decode_resource_with_prometheus_parse(body, SCRAPE_START);
    match (&hand, &oracle) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => {
            assert_eq!(a.line, b.line, "{a} vs {b}");
            match (&a.kind, &b.kind) {
                (ResourceErrorKind::Syntax(_), ResourceErrorKind::Syntax(_)) => {}
                _ => assert_eq!(a.kind, b.kind),
            }
        }
        _ => panic!("decoders disagree: hand {hand:?}, prometheus-parse {oracle:?}"),
    }
    hand
}

fn ms(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

fn pod(namespace: &str, name: &str) -> PodRef {
    PodRef::new(namespace, name)
}

fn container<'a>(
    result: &'a KubeletMetrics,
    namespace: &str,
    pod_name: &str,
    name: &str,
) -> &'a MetricsPoint {
    let containers = &result.pods[&pod(namespace, pod_name)];
    &containers.iter().find(|c| c.name == name).unwrap().point
}

fn point(start_ns: i64, ts_ms: i64, cpu: u64, memory: u64) -> MetricsPoint {
    MetricsPoint {
        start_time: Timestamp(start_ns),
        timestamp: ms(ts_ms),
        cumulative_cpu_ns: cpu,
        memory_bytes: memory,
        swap_bytes: Some(0),
    }
}

#[test]
fn latest_fixture_decodes_to_exact_raw_values() {
    let result = decode(&fixture("kubelet-metrics-resource.txt")).unwrap();
    assert_eq!(
        result.node,
        Some(MetricsPoint {
            start_time: Timestamp::ZERO,
            timestamp: ms(1_749_556_811_482),
            cumulative_cpu_ns: 172_954_312_845_103,
            memory_bytes: 3_328_466_944,
            swap_bytes: Some(0),
        })
    );
    assert_eq!(result.pods.len(), 4);
    assert_eq!(result.container_count(), 5);
    assert!(result.incomplete_pods.is_empty());
    let expected = [
        (
            "kube-system",
            "coredns-7db6d8ff4d-x7k2p",
            "coredns",
            point(
                1_748_764_984_512_733_184,
                1_749_556_810_614,
                763_956_502_113,
                15_319_040,
            ),
        ),
        (
            "kube-system",
            "kube-proxy-9zxtw",
            "kube-proxy",
            point(
                1_748_764_970_871_266_560,
                1_749_556_813_769,
                398_243_187_290,
                22_974_464,
            ),
        ),
        (
            "default",
            "web-6d4cf56db6-8fkq2",
            "log-shipper",
            point(
                1_749_487_208_190_442_752,
                1_749_556_808_437,
                511_354_096_803,
                19_189_760,
            ),
        ),
        (
            "default",
            "web-6d4cf56db6-8fkq2",
            "nginx",
            point(
                1_749_487_207_553_018_112,
                1_749_556_807_121,
                9_413_351_873_020,
                41_340_928,
            ),
        ),
        (
            "default",
            "redis-0",
            "redis",
            point(
                1_749_118_317_402_963_200,
                1_749_556_812_715,
                2_207_060_451_382,
                115_834_880,
            ),
        ),
    ];
    for (namespace, pod_name, name, point) in expected {
        assert_eq!(
            container(&result, namespace, pod_name, name),
            &point,
            "{namespace}/{pod_name}/{name}"
        );
    }
    // Containers keep the kubelet's order (log-shipper sorts before nginx in the body).
    let web: Vec<_> = result.pods[&pod("default", "web-6d4cf56db6-8fkq2")]
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(web, ["log-shipper", "nginx"]);
}

#[test]
fn previous_fixture_decodes_to_exact_raw_values() {
    let result = decode(&fixture("kubelet-metrics-resource.prev.txt")).unwrap();
    let node = result.node.unwrap();
    assert_eq!(
        (node.cumulative_cpu_ns, node.memory_bytes, node.timestamp),
        (172_948_121_379_417, 3_325_165_568, ms(1_749_556_796_470))
    );
    let expected = [
        (
            "kube-system",
            "coredns-7db6d8ff4d-x7k2p",
            "coredns",
            point(
                1_748_764_984_512_733_184,
                1_749_556_795_602,
                763_914_728_091,
                15_314_944,
            ),
        ),
        (
            "kube-system",
            "kube-proxy-9zxtw",
            "kube-proxy",
            point(
                1_748_764_970_871_266_560,
                1_749_556_798_751,
                398_233_412_677,
                22_970_368,
            ),
        ),
        (
            "default",
            "web-6d4cf56db6-8fkq2",
            "log-shipper",
            point(
                1_749_487_208_190_442_752,
                1_749_556_793_420,
                511_203_884_211,
                19_185_664,
            ),
        ),
        (
            "default",
            "web-6d4cf56db6-8fkq2",
            "nginx",
            point(
                1_749_487_207_553_018_112,
                1_749_556_792_108,
                9_410_337_145_882,
                41_037_824,
            ),
        ),
        (
            "default",
            "redis-0",
            "redis",
            point(
                1_749_118_317_402_963_200,
                1_749_556_797_699,
                2_206_922_837_519,
                115_822_592,
            ),
        ),
    ];
    for (namespace, pod_name, name, point) in expected {
        assert_eq!(
            container(&result, namespace, pod_name, name),
            &point,
            "{namespace}/{pod_name}/{name}"
        );
    }
}

/// The two decoded scrapes, run through upstream's rate formula, give exactly the values
/// metrics-server serves for the fixtures.
#[test]
fn both_scrapes_reproduce_the_expected_usage() {
    let prev = decode(&fixture("kubelet-metrics-resource.prev.txt")).unwrap();
    let last = decode(&fixture("kubelet-metrics-resource.txt")).unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&fixture("metrics-server-expected-usage.json")).unwrap();

    let rate = |prev: &MetricsPoint, last: &MetricsPoint| {
        let window_ns = last.timestamp.as_unix_nanos() - prev.timestamp.as_unix_nanos();
        let nanocores = ((last.cumulative_cpu_ns - prev.cumulative_cpu_ns) as f64
            / (window_ns as f64 / 1e9)) as u64;
        (nanocores, window_ns)
    };
    let window =
        |text: &str| (text.trim_end_matches('s').parse::<f64>().unwrap() * 1e9).round() as i64;

    let (nanocores, window_ns) = rate(prev.node.as_ref().unwrap(), last.node.as_ref().unwrap());
    assert_eq!(nanocores, expected["node"]["nanocores"].as_u64().unwrap());
    assert_eq!(
        window_ns,
        window(expected["node"]["window"].as_str().unwrap())
    );
    assert_eq!(
        last.node.unwrap().memory_bytes,
        expected["node"]["bytes"].as_u64().unwrap()
    );

    let containers = expected["containers"].as_object().unwrap();
    assert_eq!(containers.len(), last.container_count());
    for (key, want) in containers {
        let parts: Vec<_> = key.split('/').collect();
        let (p, l) = (
            container(&prev, parts[0], parts[1], parts[2]),
            container(&last, parts[0], parts[1], parts[2]),
        );
        let (nanocores, window_ns) = rate(p, l);
        assert_eq!(nanocores, want["nanocores"].as_u64().unwrap(), "{key}");
        assert_eq!(window_ns, window(want["window"].as_str().unwrap()), "{key}");
        let kib: u64 = want["memory"]
            .as_str()
            .unwrap()
            .trim_end_matches("Ki")
            .parse()
            .unwrap();
        assert_eq!(l.memory_bytes, kib * 1024, "{key}");
    }
}

fn body(lines: &[&str]) -> Vec<u8> {
    let mut text = lines.join("\n");
    text.push('\n');
    text.into_bytes()
}

const NODE_OK: [&str; 2] = [
    "node_cpu_usage_seconds_total 10 1000",
    "node_memory_working_set_bytes 20 1000",
];

#[test]
fn node_point_needs_timestamp_cpu_and_memory() {
    assert!(decode(&body(&NODE_OK)).unwrap().node.is_some());
    for lines in [
        &[
            "node_cpu_usage_seconds_total 0 1000",
            "node_memory_working_set_bytes 20 1000",
        ][..],
        &[
            "node_cpu_usage_seconds_total 10 1000",
            "node_memory_working_set_bytes 0 1000",
        ],
        &["node_cpu_usage_seconds_total 10 1000"],
        &["node_memory_working_set_bytes 20 1000"],
        &[
            "node_cpu_usage_seconds_total 10 0",
            "node_memory_working_set_bytes 20 0",
        ],
    ] {
        let result = decode(&body(lines)).unwrap();
        assert_eq!(result.node, None, "{lines:?}");
    }
}

#[test]
fn missing_timestamps_take_the_scrape_start_and_the_last_line_wins() {
    let result = decode(&body(&[
        "node_cpu_usage_seconds_total 10",
        "node_memory_working_set_bytes 20",
    ]))
    .unwrap();
    assert_eq!(result.node.unwrap().timestamp, SCRAPE_START);

    let result = decode(&body(&[
        "node_cpu_usage_seconds_total 10 1000",
        "node_memory_working_set_bytes 20 2000",
    ]))
    .unwrap();
    assert_eq!(result.node.unwrap().timestamp, ms(2000));
    let result = decode(&body(&[
        "node_memory_working_set_bytes 20 2000",
        "node_cpu_usage_seconds_total 10 1000",
    ]))
    .unwrap();
    assert_eq!(result.node.unwrap().timestamp, ms(1000));
}

const C: &str = r#"{container="c",namespace="ns",pod="p"}"#;
const D: &str = r#"{container="d",namespace="ns",pod="p"}"#;

fn lines(specs: &[(&str, &str, &str)]) -> Vec<u8> {
    let lines: Vec<String> = specs
        .iter()
        .map(|(family, labels, rest)| format!("{family}{labels} {rest}"))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    body(&refs)
}

#[test]
fn start_time_sets_only_the_start_and_cpu_is_truncated_to_nanoseconds() {
    let result = decode(&lines(&[
        ("container_cpu_usage_seconds_total", C, "1.0000000019 5000"),
        ("container_memory_working_set_bytes", C, "1.5e+09 5000"),
        (
            "container_start_time_seconds",
            C,
            "1.7494872081904428e+09 9999",
        ),
        ("container_swap_usage_bytes", C, "4096 9000"),
    ]))
    .unwrap();
    assert_eq!(
        result.pods[&pod("ns", "p")],
        vec![ContainerPoint {
            name: "c".into(),
            point: MetricsPoint {
                start_time: Timestamp(1_749_487_208_190_442_752),
                timestamp: ms(5000),
                cumulative_cpu_ns: 1_000_000_001,
                memory_bytes: 1_500_000_000,
                swap_bytes: Some(4096),
            },
        }]
    );
}

#[test]
fn all_zero_containers_are_skipped_but_incomplete_ones_drop_the_pod() {
    // d has only swap: nothing upstream reads, skipped silently.
    let result = decode(&lines(&[
        ("container_cpu_usage_seconds_total", C, "1 5000"),
        ("container_memory_working_set_bytes", C, "2 5000"),
        ("container_swap_usage_bytes", D, "0 5000"),
    ]))
    .unwrap();
    let names: Vec<_> = result.pods[&pod("ns", "p")]
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, ["c"]);

    let incomplete = [
        // d has CPU but no memory.
        vec![("container_cpu_usage_seconds_total", D, "1 5000")],
        // d has memory but CPU 0.
        vec![
            ("container_cpu_usage_seconds_total", D, "0 5000"),
            ("container_memory_working_set_bytes", D, "2 5000"),
        ],
        // d just started: a start time and nothing else yet.
        vec![("container_start_time_seconds", D, "1.7e9")],
    ];
    for extra in incomplete {
        let mut specs = vec![
            ("container_cpu_usage_seconds_total", C, "1 5000"),
            ("container_memory_working_set_bytes", C, "2 5000"),
        ];
        specs.extend(extra.iter().copied());
        let result = decode(&lines(&specs)).unwrap();
        assert!(result.pods.is_empty(), "{extra:?}");
        assert_eq!(result.incomplete_pods, vec![pod("ns", "p")]);
    }
}

#[test]
fn pods_are_keyed_by_namespace_and_name() {
    let result = decode(&lines(&[
        (
            "container_cpu_usage_seconds_total",
            r#"{container="c",namespace="a",pod="p"}"#,
            "1 5",
        ),
        (
            "container_memory_working_set_bytes",
            r#"{container="c",namespace="a",pod="p"}"#,
            "1 5",
        ),
        (
            "container_cpu_usage_seconds_total",
            r#"{container="c",namespace="b",pod="p"}"#,
            "2 5",
        ),
        (
            "container_memory_working_set_bytes",
            r#"{container="c",namespace="b",pod="p"}"#,
            "2 5",
        ),
    ]))
    .unwrap();
    let cpu: HashMap<_, _> = result
        .pods
        .iter()
        .map(|(k, v)| (k.namespace.clone(), v[0].point.cumulative_cpu_ns))
        .collect();
    assert_eq!(
        cpu,
        HashMap::from([
            ("a".to_owned(), 1_000_000_000),
            ("b".to_owned(), 2_000_000_000)
        ])
    );
}

#[test]
fn tolerated_forms_decode_like_the_plain_fixture() {
    let plain = decode(&fixture("kubelet-metrics-resource.txt")).unwrap();
    let text = String::from_utf8(fixture("kubelet-metrics-resource.txt")).unwrap();

    let crlf = text.replace('\n', "\r\n");
    assert_eq!(decode(crlf.as_bytes()).unwrap(), plain);

    let spaced = text
        .replace("} ", "}\t  ")
        .replace(" 17495", " \t17495")
        .replace("\n", "  \n");
    assert_eq!(decode(spaced.as_bytes()).unwrap(), plain);

    let extra = format!(
        "# a free comment\n\n# HELP unknown_family something\n# TYPE unknown_family gauge\nunknown_family{{x=\"y\"}} NaN\nunknown_family2 -Inf 5\n{text}scrape_error 0\n"
    );
    assert_eq!(decode(extra.as_bytes()).unwrap(), plain);
}

#[test]
fn empty_and_comment_only_bodies_give_an_empty_result() {
    for body in [
        &b""[..],
        b"\n",
        b"# HELP x y\n# TYPE x gauge\n",
        b"resource_scrape_error 0\n",
    ] {
        assert_eq!(decode(body).unwrap(), KubeletMetrics::default());
    }
}

#[test]
fn kubelet_reported_errors_fail_the_node() {
    for (text, family) in [
        ("resource_scrape_error 1\n", "resource_scrape_error"),
        (
            "# HELP scrape_error [ALPHA] 1 if there was an error\nscrape_error 1\n",
            "scrape_error",
        ),
    ] {
        let err = decode(text.as_bytes()).unwrap_err();
        assert_eq!(
            err.kind,
            ResourceErrorKind::KubeletReportedError {
                family,
                value: "1".into()
            }
        );
        assert!(
            err.to_string()
                .contains("kubelet reported an error collecting metrics"),
            "{err}"
        );
    }
}

fn error_of(lines: &[&str]) -> ResourceDecodeError {
    decode(&body(lines)).unwrap_err()
}

#[test]
fn bad_values_are_errors_with_the_line_number() {
    for value in ["NaN", "+Inf", "-Inf", "-1", "-1e-9"] {
        let err = error_of(&[
            "# HELP node_cpu_usage_seconds_total x",
            &format!("node_cpu_usage_seconds_total {value} 5"),
        ]);
        assert_eq!(err.line, 2);
        assert_eq!(
            err.kind,
            ResourceErrorKind::InvalidValue {
                family: "node_cpu_usage_seconds_total",
                value: value.into()
            }
        );
    }
    let err = error_of(&[&format!("container_start_time_seconds{C} NaN")]);
    assert!(matches!(
        err.kind,
        ResourceErrorKind::InvalidValue {
            family: "container_start_time_seconds",
            ..
        }
    ));
    let err = error_of(&[&format!("container_swap_usage_bytes{C} -5")]);
    assert!(matches!(
        err.kind,
        ResourceErrorKind::InvalidValue {
            family: "container_swap_usage_bytes",
            ..
        }
    ));
}

#[test]
fn negative_timestamps_are_errors() {
    let err = error_of(&[
        NODE_OK[0],
        "node_memory_working_set_bytes 20 -62135596800000",
    ]);
    assert_eq!(
        err,
        ResourceDecodeError {
            line: 2,
            kind: ResourceErrorKind::NegativeTimestamp(-62_135_596_800_000)
        }
    );
    // Even in a family nobody reads: the body is malformed.
    let err = error_of(&["pod_cpu_usage_seconds_total 1 -5"]);
    assert_eq!(err.kind, ResourceErrorKind::NegativeTimestamp(-5));
}

#[test]
fn duplicate_series_keep_the_node_and_the_later_line_wins() {
    // Real kubelets repeat series for zombie cgroups (metrics-server#1778, kubernetes#134518):
    // upstream keeps the later value and serves the node; so do we, and count the repeats.
    let result = decode(&body(&[
        NODE_OK[0],
        NODE_OK[1],
        "node_cpu_usage_seconds_total 11 2000",
    ]))
    .unwrap();
    let node = result.node.unwrap();
    assert_eq!(node.cumulative_cpu_ns, 11_000_000_000);
    assert_eq!(node.timestamp, ms(2000), "the later line's time too");
    assert_eq!(result.duplicate_series, 1);

    let result = decode(&body(&[
        &format!("container_cpu_usage_seconds_total{C} 1 5"),
        &format!("container_memory_working_set_bytes{C} 1 5"),
        &format!("container_cpu_usage_seconds_total{C} 3 7"),
        &format!("container_memory_working_set_bytes{C} 9 7"),
    ]))
    .unwrap();
    let point = container(&result, "ns", "p", "c");
    assert_eq!(
        (point.cumulative_cpu_ns, point.memory_bytes, point.timestamp),
        (3_000_000_000, 9, ms(7))
    );
    assert_eq!(
        result.pods[&pod("ns", "p")].len(),
        1,
        "one container, not two"
    );
    assert_eq!(result.duplicate_series, 2);

    // Same container name in another pod is another series.
    let result = decode(&body(&[
        &format!("container_cpu_usage_seconds_total{C} 1 5"),
        r#"container_cpu_usage_seconds_total{container="c",namespace="ns",pod="q"} 1 5"#,
    ]))
    .unwrap();
    assert_eq!(result.duplicate_series, 0);
}

/// A body with one pod of `containers` containers (CPU and memory each), in the kubelet's
/// order: all CPU lines, then all memory lines.
fn wide_pod(containers: usize) -> Vec<u8> {
    let mut text = String::new();
    for family in [
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
    ] {
        for i in 0..containers {
            text.push_str(&format!(
                "{family}{{container=\"c{i}\",namespace=\"ns\",pod=\"wide\"}} 1 5\n"
            ));
        }
    }
    text.push_str(
        "container_cpu_usage_seconds_total{container=\"c\",namespace=\"ns\",pod=\"p\"} 1 5\n",
    );
    text.push_str(
        "container_memory_working_set_bytes{container=\"c\",namespace=\"ns\",pod=\"p\"} 1 5\n",
    );
    text.into_bytes()
}

#[test]
fn containers_past_the_linear_scan_are_found_by_name() {
    // 40 containers: past the point where the pod switches from a scan to an index, the
    // memory lines must still land on the containers the CPU lines created.
    let result = decode(&wide_pod(40)).unwrap();
    let containers = &result.pods[&pod("ns", "wide")];
    assert_eq!(containers.len(), 40);
    assert!(containers.iter().all(|c| c.point.memory_bytes == 1));
    let names: Vec<_> = containers.iter().map(|c| c.name.as_str()).take(3).collect();
    assert_eq!(names, ["c0", "c1", "c2"], "the kubelet's order is kept");
    assert_eq!(result.duplicate_series, 0);
}

#[test]
fn a_pod_with_too_many_containers_is_left_out_and_the_rest_is_served() {
    let at_limit = decode(&wide_pod(MAX_CONTAINERS_PER_POD)).unwrap();
    assert_eq!(
        at_limit.pods[&pod("ns", "wide")].len(),
        MAX_CONTAINERS_PER_POD
    );

    let just_over = decode(&wide_pod(MAX_CONTAINERS_PER_POD + 1)).unwrap();
    assert_eq!(just_over.oversized_pods, [pod("ns", "wide")]);

    // The hostile case: 100,000 distinct containers in one pod. Decoding is linear (the
    // pod's name index; a scan made this quadratic), the pod is dropped, the node's other
    // pods stay. Only the hot-path decoder here: the oracle is slow at this size in debug.
    let result = decode_resource(&wide_pod(100_000), SCRAPE_START).unwrap();
    assert!(!result.pods.contains_key(&pod("ns", "wide")));
    assert_eq!(result.oversized_pods, [pod("ns", "wide")]);
    assert!(result.pods.contains_key(&pod("ns", "p")));
}

#[test]
fn missing_labels_are_errors() {
    for (labels, missing) in [
        (r#"{namespace="ns",pod="p"}"#, "container"),
        (r#"{container="c",pod="p"}"#, "namespace"),
        (r#"{container="c",namespace="ns"}"#, "pod"),
        (r#"{container="",namespace="ns",pod="p"}"#, "container"),
        ("", "container"),
    ] {
        let err = error_of(&[
            "# TYPE container_memory_working_set_bytes gauge",
            &format!("container_memory_working_set_bytes{labels} 1 5"),
        ]);
        assert_eq!(
            err,
            ResourceDecodeError {
                line: 2,
                kind: ResourceErrorKind::MissingLabel {
                    family: "container_memory_working_set_bytes",
                    label: missing
                },
            }
        );
    }
}

#[test]
fn syntax_errors_and_invalid_utf8_name_the_line() {
    for bad in [
        "this is not prometheus",
        "node_cpu_usage_seconds_total",
        "node_cpu_usage_seconds_total abc 5",
        "node_cpu_usage_seconds_total 1 5 extra",
        "node_cpu_usage_seconds_total 1 5.5",
        "{x=\"y\"} 1",
    ] {
        let err = error_of(&[NODE_OK[0], "# TYPE x gauge", bad]);
        assert_eq!(err.line, 3, "{bad:?}");
        assert!(
            matches!(err.kind, ResourceErrorKind::Syntax(_)),
            "{bad:?}: {err}"
        );
    }
    let mut bytes = body(&NODE_OK);
    bytes.extend_from_slice(b"pod_cpu_usage_seconds_total{pod=\"\xc3\x28\"} 1\n");
    let err = decode(&bytes).unwrap_err();
    assert_eq!(
        err,
        ResourceDecodeError {
            line: 3,
            kind: ResourceErrorKind::InvalidUtf8
        }
    );
    assert_eq!(err.to_string(), "line 3: invalid UTF-8");
}

#[test]
fn hand_decoder_unescapes_label_values() {
    let text = r#"container_cpu_usage_seconds_total{container="a\"b",namespace="n\\s",pod="p"} 1 5
container_memory_working_set_bytes{container="a\"b",namespace="n\\s",pod="p"} 1 5
"#;
    let result = decode_resource(text.as_bytes(), SCRAPE_START).unwrap();
    assert_eq!(result.pods[&pod("n\\s", "p")][0].name, "a\"b");
}
