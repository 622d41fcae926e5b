//! `/stats/summary` decoding: both fixtures must give the raw values behind
//! `metrics-server-expected-usage.json` at the second scrape instant.

#![allow(clippy::unwrap_used)] // a test crate: a failed unwrap is a failed test

use kubelet_scraper::decode::{MAX_CONTAINERS_PER_POD, decode_resource, decode_summary};
use metric_store::{PodRef, Timestamp};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testkit/fixtures/");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{name}")).unwrap()
}

fn seconds(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_second()
}

#[test]
fn both_summary_fixtures_match_the_second_scrape() {
    let expected: serde_json::Value =
        serde_json::from_slice(&fixture("metrics-server-expected-usage.json")).unwrap();
    let resource =
        decode_resource(&fixture("kubelet-metrics-resource.txt"), Timestamp::ZERO).unwrap();

    for name in [
        "kubelet-stats-summary.json",
        "kubelet-stats-summary-only-cpu-mem.json",
    ] {
        let summary = decode_summary(&fixture(name)).unwrap();
        assert!(summary.incomplete_pods.is_empty(), "{name}");

        let node = summary.node.unwrap();
        assert_eq!(node.cumulative_cpu_ns, 172_954_312_845_103, "{name}");
        assert_eq!(
            node.memory_bytes,
            expected["node"]["bytes"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            node.timestamp.as_unix_nanos() / 1_000_000_000,
            seconds(expected["node"]["timestamp"].as_str().unwrap())
        );
        assert_eq!(node.start_time, Timestamp::ZERO);
        assert_eq!(node.swap_bytes, Some(0));

        let containers = expected["containers"].as_object().unwrap();
        assert_eq!(summary.container_count(), containers.len(), "{name}");
        for (key, want) in containers {
            let parts: Vec<_> = key.split('/').collect();
            let pod = PodRef::new(parts[0], parts[1]);
            let got = &summary.pods[&pod]
                .iter()
                .find(|c| c.name == parts[2])
                .unwrap()
                .point;
            let from_resource = &resource.pods[&pod]
                .iter()
                .find(|c| c.name == parts[2])
                .unwrap()
                .point;
            // The summary carries the same counters as /metrics/resource, with times in seconds.
            assert_eq!(
                got.cumulative_cpu_ns, from_resource.cumulative_cpu_ns,
                "{name} {key}"
            );
            assert_eq!(got.memory_bytes, from_resource.memory_bytes, "{name} {key}");
            let kib: u64 = want["memory"]
                .as_str()
                .unwrap()
                .trim_end_matches("Ki")
                .parse()
                .unwrap();
            assert_eq!(got.memory_bytes, kib * 1024, "{name} {key}");
            assert_eq!(
                got.timestamp.as_unix_nanos(),
                seconds(want["timestamp"].as_str().unwrap()) * 1_000_000_000,
                "{name} {key}"
            );
            assert_eq!(
                got.start_time.as_unix_nanos() / 1_000_000_000,
                from_resource.start_time.as_unix_nanos() / 1_000_000_000,
                "{name} {key}"
            );
            assert_eq!(got.swap_bytes, Some(0));
        }
    }
}

#[test]
fn specific_container_values_from_the_full_summary() {
    let summary = decode_summary(&fixture("kubelet-stats-summary.json")).unwrap();
    let web = &summary.pods[&PodRef::new("default", "web-6d4cf56db6-8fkq2")];
    let nginx = &web.iter().find(|c| c.name == "nginx").unwrap().point;
    assert_eq!(nginx.cumulative_cpu_ns, 9_413_351_873_020);
    assert_eq!(nginx.memory_bytes, 41_340_928);
    assert_eq!(
        nginx.timestamp,
        Timestamp(seconds("2025-06-10T12:00:07Z") * 1_000_000_000)
    );
    assert_eq!(
        nginx.start_time,
        Timestamp(seconds("2025-06-09T16:40:07Z") * 1_000_000_000)
    );
}

#[test]
fn incomplete_node_and_pods_are_left_out() {
    let body = br#"{
     "node": {"nodeName": "n", "cpu": {"time": "2025-06-10T12:00:11Z", "usageCoreNanoSeconds": 5}, "memory": {"time": "2025-06-10T12:00:11Z", "workingSetBytes": 0}},
     "pods": [
      {"podRef": {"name": "ok", "namespace": "ns"}, "containers": [{"name": "c", "startTime": "2025-06-10T11:00:00Z", "cpu": {"time": "2025-06-10T12:00:11Z", "usageCoreNanoSeconds": 7}, "memory": {"time": "2025-06-10T12:00:11Z", "workingSetBytes": 9}}]},
      {"podRef": {"name": "no-memory", "namespace": "ns"}, "containers": [
        {"name": "a", "cpu": {"time": "2025-06-10T12:00:11Z", "usageCoreNanoSeconds": 7}, "memory": {"time": "2025-06-10T12:00:11Z", "workingSetBytes": 9}},
        {"name": "b", "cpu": {"time": "2025-06-10T12:00:11Z", "usageCoreNanoSeconds": 7}}]},
      {"podRef": {"name": "zero-cpu", "namespace": "ns"}, "containers": [{"name": "a", "cpu": {"time": "2025-06-10T12:00:11Z", "usageCoreNanoSeconds": 0}, "memory": {"time": "2025-06-10T12:00:11Z", "workingSetBytes": 9}}]},
      {"podRef": {"name": "no-time", "namespace": "ns"}, "containers": [{"name": "a", "cpu": {"usageCoreNanoSeconds": 3}, "memory": {"workingSetBytes": 9}}]},
      {"podRef": {"name": "empty", "namespace": "ns"}, "containers": null}
     ]}"#;
    let result = decode_summary(body).unwrap();
    assert_eq!(result.node, None);
    assert_eq!(
        result.pods.keys().cloned().collect::<Vec<_>>(),
        vec![PodRef::new("ns", "ok")]
    );
    assert_eq!(
        result.incomplete_pods,
        vec![
            PodRef::new("ns", "no-memory"),
            PodRef::new("ns", "zero-cpu"),
            PodRef::new("ns", "no-time")
        ]
    );
}

#[test]
fn a_pod_with_too_many_containers_is_left_out() {
    let container = r#"{"name": "c", "cpu": {"time": "2025-06-10T12:00:11Z", "usageCoreNanoSeconds": 7}, "memory": {"time": "2025-06-10T12:00:11Z", "workingSetBytes": 9}}"#;
    let pod = |name: &str, containers: usize| {
        format!(
            r#"{{"podRef": {{"name": "{name}", "namespace": "ns"}}, "containers": [{}]}}"#,
            vec![container; containers].join(",")
        )
    };
    let body = format!(
        r#"{{"pods": [{}, {}]}}"#,
        pod("wide", MAX_CONTAINERS_PER_POD + 1),
        pod("ok", 1)
    );
    let result = decode_summary(body.as_bytes()).unwrap();
    assert_eq!(result.oversized_pods, vec![PodRef::new("ns", "wide")]);
    assert_eq!(
        result.pods.keys().cloned().collect::<Vec<_>>(),
        vec![PodRef::new("ns", "ok")]
    );
}

#[test]
fn nulls_unknown_fields_and_empty_objects_are_tolerated() {
    assert_eq!(decode_summary(b"{}").unwrap(), Default::default());
    let body = br#"{"node": {"startTime": null, "cpu": null, "extra": [1, 2]}, "pods": null, "future": {"x": 1}}"#;
    assert_eq!(decode_summary(body).unwrap(), Default::default());
}

#[test]
fn malformed_json_reports_line_and_column() {
    let err = decode_summary(b"{\n \"node\": {\n  \"cpu\": {\"usageCoreNanoSeconds\": -1}}}")
        .unwrap_err();
    assert_eq!(err.line, 3);
    assert!(err.column > 0);
    let err = decode_summary(b"{\"pods\": [{\"containers\": [{\"startTime\": \"yesterday\"}]}]}")
        .unwrap_err();
    assert!(err.message.contains("invalid time"), "{err}");
    assert!(decode_summary(b"").is_err());
    assert!(decode_summary(b"42").is_err());
}
