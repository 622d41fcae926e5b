//! Whole scrape cycles against several fake kubelets: merging into one batch, self-metrics,
//! timeouts, the cycle deadline and the concurrency bound.

#![allow(clippy::unwrap_used)] // a test crate: a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{Pki, fixture, node};
use kubelet_scraper::{KubeletClientConfig, NodeTarget, ScrapeError, Scraper, ScraperMetrics};
use metric_store::PodRef;
use prometheus::{Registry, TextEncoder};
use tokio::time::Instant;

fn fixture_router() -> Router {
    Router::new().route(
        "/metrics/resource",
        get(|| async { fixture("kubelet-metrics-resource.txt") }),
    )
}

/// A kubelet reporting one pod `ns/<pod>` with one container.
fn single_pod_router(pod: &'static str) -> Router {
    let body = format!(
        "node_cpu_usage_seconds_total 5 1000\nnode_memory_working_set_bytes 6 1000\n\
         container_cpu_usage_seconds_total{{container=\"c\",namespace=\"ns\",pod=\"{pod}\"}} 1 1000\n\
         container_memory_working_set_bytes{{container=\"c\",namespace=\"ns\",pod=\"{pod}\"}} 2 1000\n"
    );
    Router::new().route(
        "/metrics/resource",
        get(move || std::future::ready(body.clone())),
    )
}

fn soon(duration: Duration) -> Instant {
    Instant::now() + duration
}

fn text(registry: &Registry) -> String {
    TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap()
}

#[tokio::test]
async fn a_cycle_merges_nodes_under_their_object_names_and_records_metrics() {
    let pki = Pki::new();
    let a = pki.serve(fixture_router(), false).await;
    let b = pki.serve(single_pod_router("only-on-b"), false).await;
    let c = pki.serve(fixture_router(), false).await;
    let registry = Registry::new();
    let scraper = Scraper::new(pki.config(), ScraperMetrics::register(&registry).unwrap()).unwrap();

    let unreachable = NodeTarget {
        name: "node-without-address".into(),
        ..NodeTarget::default()
    };
    let nodes = vec![
        node("node-a", a.addr.port()),
        node("node-b", b.addr.port()),
        node("node-c", c.addr.port()),
        unreachable,
    ];
    let report = scraper
        .scrape_all(nodes, soon(Duration::from_secs(20)))
        .await;

    let mut names: Vec<_> = report.batch.nodes.keys().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        ["node-a", "node-b", "node-c"],
        "keyed by Node object name, not the payload"
    );
    assert_eq!(report.batch.pods.len(), 5);
    assert!(
        report
            .batch
            .pods
            .contains_key(&PodRef::new("ns", "only-on-b"))
    );

    assert_eq!(report.outcomes.len(), 4);
    let stats = |name: &str| {
        report
            .outcomes
            .iter()
            .find(|o| o.node == name)
            .unwrap()
            .result
            .as_ref()
    };
    // node-a and node-c report the same four pods: whichever finished second keeps none.
    let (sa, sc) = (stats("node-a").unwrap(), stats("node-c").unwrap());
    assert_eq!(sa.pods + sc.pods, 4);
    assert_eq!(sa.duplicate_pods + sc.duplicate_pods, 4);
    assert_eq!(stats("node-b").unwrap().containers, 1);
    assert!(matches!(
        stats("node-without-address"),
        Err(ScrapeError::NoAddress { .. })
    ));

    let metrics = text(&registry);
    assert!(metrics.contains("# HELP metrics_server_kubelet_request_duration_seconds [ALPHA] Duration of requests to Kubelet API in seconds"), "{metrics}");
    assert!(metrics.contains("# TYPE metrics_server_kubelet_request_duration_seconds histogram"));
    assert!(metrics.contains(
        "metrics_server_kubelet_request_duration_seconds_bucket{node=\"node-a\",le=\"0.005\"}"
    ));
    assert!(metrics.contains(
        "metrics_server_kubelet_request_duration_seconds_bucket{node=\"node-a\",le=\"10\"}"
    ));
    assert!(metrics.contains(
        "# HELP metrics_server_kubelet_request_total [ALPHA] Number of requests sent to Kubelet API"
    ));
    assert!(
        metrics.contains("metrics_server_kubelet_request_total{success=\"true\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("metrics_server_kubelet_request_total{success=\"false\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("# HELP metrics_server_kubelet_last_request_time_seconds [ALPHA] Time of last request performed to Kubelet API since unix epoch in seconds"));
    // Recorded for the address failure too, as upstream.
    assert!(metrics.contains(
        "metrics_server_kubelet_last_request_time_seconds{node=\"node-without-address\"}"
    ));
    assert!(
        metrics.contains("kubelet_scrape_failures_total{reason=\"no_address\"} 1"),
        "{metrics}"
    );

    let mut families: Vec<_> = registry
        .gather()
        .iter()
        .map(|f| f.name().to_owned())
        .filter(|n| n.starts_with("metrics_server_"))
        .collect();
    families.sort();
    assert_eq!(
        families,
        [
            "metrics_server_kubelet_last_request_time_seconds",
            "metrics_server_kubelet_request_duration_seconds",
            "metrics_server_kubelet_request_total",
        ]
    );

    // node-c leaves the cluster: its series go at the end of the next cycle.
    let nodes = vec![node("node-a", a.addr.port()), node("node-b", b.addr.port())];
    scraper
        .scrape_all(nodes, soon(Duration::from_secs(20)))
        .await;
    let metrics = text(&registry);
    assert!(metrics.contains("node=\"node-a\""));
    assert!(!metrics.contains("node=\"node-c\""), "{metrics}");
    assert!(
        !metrics.contains("node=\"node-without-address\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("metrics_server_kubelet_request_total{success=\"true\"} 5"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_hung_kubelet_times_out_without_holding_up_the_others() {
    let pki = Pki::new();
    let hung = pki
        .serve(
            Router::new().route("/metrics/resource", get(std::future::pending::<String>)),
            false,
        )
        .await;
    let good = pki.serve(fixture_router(), false).await;
    let config = KubeletClientConfig {
        request_timeout: Duration::from_millis(300),
        ..pki.config()
    };
    let scraper = Scraper::new(config, ScraperMetrics::unregistered().unwrap()).unwrap();

    let nodes = vec![
        node("hung", hung.addr.port()),
        node("good", good.addr.port()),
    ];
    let report = scraper
        .scrape_all(nodes, soon(Duration::from_secs(20)))
        .await;
    let order: Vec<_> = report.outcomes.iter().map(|o| o.node.as_str()).collect();
    assert_eq!(order, ["good", "hung"], "the good node completes first");
    assert!(report.outcomes[0].result.is_ok());
    assert!(matches!(
        report.outcomes[1].result,
        Err(ScrapeError::RequestTimeout { .. })
    ));
    assert_eq!(report.batch.nodes.len(), 1);
}

#[tokio::test]
async fn the_cycle_deadline_bounds_every_node() {
    let pki = Pki::new();
    let hung = pki
        .serve(
            Router::new().route("/metrics/resource", get(std::future::pending::<String>)),
            false,
        )
        .await;
    let scraper = Scraper::new(pki.config(), ScraperMetrics::unregistered().unwrap()).unwrap();
    let report = scraper
        .scrape_all(
            vec![node("hung", hung.addr.port())],
            soon(Duration::from_millis(300)),
        )
        .await;
    let err = report.outcomes[0].result.as_ref().unwrap_err();
    assert!(matches!(err, ScrapeError::DeadlineExceeded), "{err:?}");
    assert!(err.to_string().contains("--metric-resolution"));

    // A deadline already past: nodes are reported, not scraped.
    let report = scraper
        .scrape_all(vec![node("late", hung.addr.port())], Instant::now())
        .await;
    assert!(matches!(
        report.outcomes[0].result,
        Err(ScrapeError::DeadlineExceeded)
    ));
}

#[tokio::test]
async fn in_flight_requests_stay_within_the_bound() {
    let pki = Pki::new();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (now, max) = (in_flight.clone(), peak.clone());
    let router = Router::new().route(
        "/metrics/resource",
        get(move || {
            let (now, max) = (now.clone(), max.clone());
            async move {
                let current = now.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(current, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                fixture("kubelet-metrics-resource.txt")
            }
        }),
    );
    let server = pki.serve(router, false).await;
    let config = KubeletClientConfig {
        max_concurrent: 3,
        ..pki.config()
    };
    let scraper = Scraper::new(config, ScraperMetrics::unregistered().unwrap()).unwrap();

    let nodes: Vec<_> = (0..12)
        .map(|i| node(&format!("node-{i}"), server.addr.port()))
        .collect();
    let report = scraper
        .scrape_all(nodes, soon(Duration::from_secs(30)))
        .await;
    assert_eq!(
        report.outcomes.iter().filter(|o| o.result.is_ok()).count(),
        12
    );
    let peak = peak.load(Ordering::SeqCst);
    assert!((1..=3).contains(&peak), "peak in-flight requests: {peak}");
}

#[tokio::test]
async fn a_node_listed_twice_is_scraped_once() {
    let pki = Pki::new();
    let server = pki.serve(fixture_router(), false).await;
    let scraper = Scraper::new(pki.config(), ScraperMetrics::unregistered().unwrap()).unwrap();
    let nodes = vec![
        node("same", server.addr.port()),
        node("same", server.addr.port()),
    ];
    let report = scraper
        .scrape_all(nodes, soon(Duration::from_secs(20)))
        .await;
    assert_eq!(report.outcomes.len(), 1);
    assert_eq!(report.batch.pods.len(), 4);
}

/// A kubelet whose body repeats every series (zombie cgroups) and one whose pod reports
/// 100,000 containers (a body of about 15 MiB, decoded off the scrape thread): both nodes stay
/// served, the repeats are counted, the huge pod is left out, and a normal node beside them is
/// unaffected.
#[tokio::test]
async fn repeated_series_and_a_huge_pod_keep_their_nodes_served() {
    let repeated = "node_cpu_usage_seconds_total 5 1000\nnode_memory_working_set_bytes 6 1000\n\
         node_cpu_usage_seconds_total 7 2000\n\
         container_cpu_usage_seconds_total{container=\"c\",namespace=\"ns\",pod=\"zombie\"} 1 1000\n\
         container_memory_working_set_bytes{container=\"c\",namespace=\"ns\",pod=\"zombie\"} 2 1000\n\
         container_cpu_usage_seconds_total{container=\"c\",namespace=\"ns\",pod=\"zombie\"} 3 2000\n";
    let mut huge =
        String::from("node_cpu_usage_seconds_total 5 1000\nnode_memory_working_set_bytes 6 1000\n");
    for family in [
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
    ] {
        for i in 0..100_000 {
            huge.push_str(&format!(
                "{family}{{container=\"c{i}\",namespace=\"ns\",pod=\"wide\"}} 1 1000\n"
            ));
        }
    }
    let pki = Pki::new();
    let dup = pki
        .serve(
            Router::new().route("/metrics/resource", get(move || async move { repeated })),
            false,
        )
        .await;
    let wide = pki
        .serve(
            Router::new().route(
                "/metrics/resource",
                get(move || std::future::ready(huge.clone())),
            ),
            false,
        )
        .await;
    let normal = pki.serve(single_pod_router("normal"), false).await;
    let registry = Registry::new();
    let scraper = Scraper::new(pki.config(), ScraperMetrics::register(&registry).unwrap()).unwrap();
    let report = scraper
        .scrape_all(
            vec![
                node("node-dup", dup.addr.port()),
                node("node-wide", wide.addr.port()),
                node("node-normal", normal.addr.port()),
            ],
            soon(Duration::from_secs(60)),
        )
        .await;
    let stats = |name: &str| {
        report
            .outcomes
            .iter()
            .find(|o| o.node == name)
            .unwrap()
            .result
            .as_ref()
            .unwrap()
            .clone()
    };
    assert_eq!(stats("node-dup").duplicate_series, 2);
    assert_eq!(
        report.batch.nodes["node-dup"].cumulative_cpu_ns, 7_000_000_000,
        "the later line wins"
    );
    let zombie = &report.batch.pods[&PodRef::new("ns", "zombie")];
    assert_eq!(zombie[0].point.cumulative_cpu_ns, 3_000_000_000);
    assert_eq!(stats("node-wide").oversized_pods, 1);
    assert!(report.batch.nodes.contains_key("node-wide"));
    assert!(!report.batch.pods.contains_key(&PodRef::new("ns", "wide")));
    assert_eq!(stats("node-normal").pods, 1);
    let metrics = text(&registry);
    assert!(
        metrics.contains("kubelet_duplicate_series_total{node=\"node-dup\"} 2"),
        "{metrics}"
    );
}
