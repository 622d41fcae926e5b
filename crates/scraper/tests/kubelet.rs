//! The kubelet client against fake kubelets over real TLS on loopback: credentials, trust,
//! error mapping, endpoint selection, body limits and connection reuse.

#![allow(clippy::unwrap_used)] // a test crate: a failed unwrap is a failed test

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use bytes::Bytes;
use common::{Pki, closed_port, fixture, node, temp_path};
use kubelet_scraper::decode::decode_summary;
use kubelet_scraper::{
    AUTO_REPROBE_INTERVAL, BearerToken, Endpoint, KubeletClient, KubeletClientConfig,
    MetricsSource, NodeAddress, ScrapeError, TlsProblem,
};
use testkit::tls_server::PeerCertificates;

fn resource_router() -> Router {
    Router::new().route(
        "/metrics/resource",
        get(|| async { fixture("kubelet-metrics-resource.txt") }),
    )
}

/// A kubelet that answers only requests carrying `Bearer <expected>`.
fn token_checking_router(expected: Arc<Mutex<String>>) -> Router {
    Router::new().route(
        "/metrics/resource",
        get(move |headers: HeaderMap| {
            let expected = expected.clone();
            async move {
                let want = format!("Bearer {}", expected.lock().unwrap());
                match headers.get("authorization") {
                    Some(got) if got == want.as_str() => {
                        (StatusCode::OK, fixture("kubelet-metrics-resource.txt"))
                    }
                    _ => (StatusCode::UNAUTHORIZED, "Unauthorized".to_owned()),
                }
            }
        }),
    )
}

#[tokio::test]
async fn scrapes_the_resource_endpoint_with_a_static_token() {
    let pki = Pki::new();
    let server = pki
        .serve(
            token_checking_router(Arc::new(Mutex::new("token-a".into()))),
            false,
        )
        .await;
    let config = KubeletClientConfig {
        bearer_token: BearerToken::Static("token-a\n".into()),
        ..pki.config()
    };
    let client = KubeletClient::new(&config).unwrap();

    let scraped = client
        .scrape(&node("worker-1", server.addr.port()))
        .await
        .unwrap();
    assert_eq!(scraped.endpoint, Endpoint::Resource);
    assert_eq!(
        scraped.metrics.node.unwrap().cumulative_cpu_ns,
        172_954_312_845_103
    );
    assert_eq!(scraped.metrics.pods.len(), 4);

    let wrong = KubeletClientConfig {
        bearer_token: BearerToken::Static("token-b".into()),
        ..pki.config()
    };
    let err = KubeletClient::new(&wrong)
        .unwrap()
        .scrape(&node("worker-1", server.addr.port()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScrapeError::Unauthorized { ref body, .. } if body == "Unauthorized"),
        "{err}"
    );
    assert_eq!(err.reason(), "unauthorized");
}

#[tokio::test]
async fn requests_ask_for_no_compression_and_carry_the_user_agent() {
    let pki = Pki::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let router = Router::new().route(
        "/metrics/resource",
        get(move |headers: HeaderMap| {
            let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
            recorder.lock().unwrap().push((
                header("accept-encoding"),
                header("accept"),
                header("user-agent"),
            ));
            async { fixture("kubelet-metrics-resource.txt") }
        }),
    );
    let server = pki.serve(router, false).await;
    let config = KubeletClientConfig {
        user_agent: "metrics-server/v0.9.0 (linux/amd64)".into(),
        ..pki.config()
    };
    KubeletClient::new(&config)
        .unwrap()
        .scrape(&node("worker-1", server.addr.port()))
        .await
        .unwrap();
    // The client sends `Accept: */*`; promhttp answers that with the 0.0.4 text format,
    // just as it does for Go's request without an Accept header.
    let user_agent = Some("metrics-server/v0.9.0 (linux/amd64)".to_owned());
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(None, Some("*/*".to_owned()), user_agent)]
    );
}

#[tokio::test]
async fn token_file_is_reread_after_it_changes() {
    let pki = Pki::new();
    let expected = Arc::new(Mutex::new("first-token".to_owned()));
    let server = pki
        .serve(token_checking_router(expected.clone()), false)
        .await;
    let path = temp_path("token");
    std::fs::write(&path, "first-token\n").unwrap();
    let config = KubeletClientConfig {
        bearer_token: BearerToken::File(path.clone()),
        ..pki.config()
    };
    let client = KubeletClient::new(&config).unwrap();
    let target = node("worker-1", server.addr.port());

    client.scrape(&target).await.unwrap();
    assert!(
        !client.refresh_credentials().unwrap(),
        "unchanged file must not count as a change"
    );

    // The kubelet now only accepts the rotated token; the client still holds the old one.
    std::fs::write(&path, "second-token-rotated\n").unwrap();
    *expected.lock().unwrap() = "second-token-rotated".into();
    assert!(matches!(
        client.scrape(&target).await,
        Err(ScrapeError::Unauthorized { .. })
    ));

    assert!(client.refresh_credentials().unwrap());
    client.scrape(&target).await.unwrap();
    std::fs::remove_file(&path).unwrap();

    // A vanished file keeps the last token in use.
    assert!(client.refresh_credentials().is_err());
    client.scrape(&target).await.unwrap();
}

#[tokio::test]
async fn client_certificate_is_presented() {
    let pki = Pki::new();
    let router = Router::new().route(
        "/metrics/resource",
        get(|Extension(peer): Extension<PeerCertificates>| async move {
            if peer.0.is_empty() {
                (StatusCode::UNAUTHORIZED, String::new())
            } else {
                (StatusCode::OK, fixture("kubelet-metrics-resource.txt"))
            }
        }),
    );
    let server = pki.serve(router, true).await;
    let target = node("worker-1", server.addr.port());

    let identity = pki.ca.client("system:metrics-server", &[]).unwrap();
    let config = KubeletClientConfig {
        client_cert_pem: Some(identity.cert_pem.into_bytes()),
        client_key_pem: Some(identity.key_pem.into_bytes()),
        ..pki.config()
    };
    KubeletClient::new(&config)
        .unwrap()
        .scrape(&target)
        .await
        .unwrap();

    let err = KubeletClient::new(&pki.config())
        .unwrap()
        .scrape(&target)
        .await
        .unwrap_err();
    assert!(matches!(err, ScrapeError::Unauthorized { .. }), "{err}");
}

#[tokio::test]
async fn serving_certificate_from_an_unknown_ca_is_an_x509_error() {
    let pki = Pki::new();
    // Another CA with a different name (UnknownIssuer), and a CA that reuses the trusted CA's
    // name with another key (a bad signature); both are an unknown authority.
    for other in [Pki::named("someone-else"), Pki::new()] {
        let server = other.serve(resource_router(), false).await;
        let err = KubeletClient::new(&pki.config())
            .unwrap()
            .scrape(&node("worker-1", server.addr.port()))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ScrapeError::Tls {
                    problem: TlsProblem::UnknownAuthority,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.reason(), "tls_unknown_authority");
        let text = err.to_string();
        assert!(
            text.contains("x509: certificate signed by unknown authority"),
            "{text}"
        );
        assert!(text.contains("--kubelet-certificate-authority"), "{text}");
    }
}

#[tokio::test]
async fn certificate_without_the_node_ip_is_a_name_mismatch() {
    let pki = Pki::new();
    let hostname_only = pki.ca.server("worker-1", &["worker-1"], &[]).unwrap();
    let server = common::serve_with(&hostname_only, None, resource_router()).await;
    let err = KubeletClient::new(&pki.config())
        .unwrap()
        .scrape(&node("worker-1", server.addr.port()))
        .await
        .unwrap_err();
    let ScrapeError::Tls {
        problem: TlsProblem::NameMismatch { host, presented },
        ..
    } = &err
    else {
        panic!("expected a name mismatch, got {err:?}");
    };
    assert_eq!(host, "127.0.0.1");
    assert!(
        presented.iter().any(|name| name.contains("worker-1")),
        "{presented:?}"
    );
    assert!(err.to_string().contains("not valid for 127.0.0.1"), "{err}");
}

#[tokio::test]
async fn insecure_tls_accepts_any_serving_certificate() {
    let pki = Pki::new();
    let other = Pki::new();
    let server = other.serve(resource_router(), false).await;
    let config = KubeletClientConfig {
        insecure_skip_tls_verify: true,
        ca_pem: None,
        ..pki.config()
    };
    let scraped = KubeletClient::new(&config)
        .unwrap()
        .scrape(&node("worker-1", server.addr.port()))
        .await
        .unwrap();
    assert_eq!(scraped.metrics.pods.len(), 4);
}

#[tokio::test]
async fn completely_insecure_mode_uses_plain_http_without_credentials() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let router = Router::new().route(
        "/metrics/resource",
        get(move |headers: HeaderMap| {
            recorder
                .lock()
                .unwrap()
                .push(headers.get("authorization").cloned());
            async { fixture("kubelet-metrics-resource.txt") }
        }),
    );
    let listener = tokio::net::TcpListener::bind((common::LOOPBACK, 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let config = KubeletClientConfig {
        scheme_insecure_http: true,
        ca_pem: None,
        bearer_token: BearerToken::Static("secret".into()),
        ..Pki::new().config()
    };
    let scraped = KubeletClient::new(&config)
        .unwrap()
        .scrape(&node("worker-1", port))
        .await
        .unwrap();
    assert_eq!(scraped.metrics.pods.len(), 4);
    assert_eq!(*seen.lock().unwrap(), vec![None]);
}

#[tokio::test]
async fn http_statuses_map_to_typed_errors() {
    let pki = Pki::new();
    let router = Router::new()
        .route("/metrics/unauthorized", get(|| async { (StatusCode::UNAUTHORIZED, "Unauthorized") }))
        .route(
            "/metrics/forbidden",
            get(|| async {
                (
                    StatusCode::FORBIDDEN,
                    "Forbidden (user=system:serviceaccount:kube-system:metrics-server, verb=get, resource=nodes, subresource=metrics)\n",
                )
            }),
        )
        .route("/stats/forbidden", get(|| async { (StatusCode::FORBIDDEN, "Forbidden") }))
        .route("/metrics/broken", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "Internal Error: boom") }));
    let server = pki.serve(router, false).await;
    let client = KubeletClient::new(&pki.config()).unwrap();
    let scrape = |path: &str| {
        let mut target = node("worker-1", server.addr.port());
        target.metrics_path = Some(path.to_owned());
        let client = &client;
        async move { client.scrape(&target).await.unwrap_err() }
    };

    assert!(matches!(
        scrape("/metrics/unauthorized").await,
        ScrapeError::Unauthorized { .. }
    ));

    let err = scrape("/metrics/forbidden").await;
    let ScrapeError::Forbidden {
        subresource, body, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*subresource, "nodes/metrics");
    assert_eq!(
        body,
        "Forbidden (user=system:serviceaccount:kube-system:metrics-server, verb=get, resource=nodes, subresource=metrics)"
    );
    assert!(
        err.to_string().contains("grant get on nodes/metrics"),
        "{err}"
    );
    assert!(matches!(
        scrape("/stats/forbidden").await,
        ScrapeError::Forbidden {
            subresource: "nodes/stats",
            ..
        }
    ));

    let err = scrape("/metrics/missing").await;
    assert!(matches!(err, ScrapeError::NotFound { .. }), "{err:?}");
    assert_eq!(err.reason(), "not_found");

    let err = scrape("/metrics/broken").await;
    assert!(
        matches!(
            err,
            ScrapeError::Status {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("status: \"500 Internal Server Error\": Internal Error: boom"),
        "{err}"
    );
}

#[tokio::test]
async fn undecodable_bodies_name_the_line() {
    let pki = Pki::new();
    let router = Router::new().route(
        "/metrics/resource",
        get(|| async { "# HELP x y\nresource_scrape_error 1\n" }),
    );
    let server = pki.serve(router, false).await;
    let err = KubeletClient::new(&pki.config())
        .unwrap()
        .scrape(&node("worker-1", server.addr.port()))
        .await
        .unwrap_err();
    let ScrapeError::Decode { source, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(source.line(), 2);
    assert!(
        err.to_string()
            .contains("line 2: kubelet reported an error collecting metrics"),
        "{err}"
    );
}

#[tokio::test]
async fn auto_source_falls_back_to_the_summary_on_404_and_reprobes() {
    let pki = Pki::new();
    let resource_hits = Arc::new(AtomicUsize::new(0));
    let hits = resource_hits.clone();
    let router = Router::new()
        .route(
            "/metrics/resource",
            get(move || {
                hits.fetch_add(1, Ordering::SeqCst);
                async { (StatusCode::NOT_FOUND, "404 page not found") }
            }),
        )
        .route(
            "/stats/summary",
            get(|RawQuery(query): RawQuery| async move {
                match query.as_deref() {
                    Some("only_cpu_and_memory=true") => (
                        StatusCode::OK,
                        fixture("kubelet-stats-summary-only-cpu-mem.json"),
                    ),
                    _ => (StatusCode::BAD_REQUEST, String::new()),
                }
            }),
        );
    let server = pki.serve(router, false).await;
    let client = KubeletClient::new(&KubeletClientConfig {
        source: MetricsSource::Auto,
        ..pki.config()
    })
    .unwrap();
    let target = node("worker-1", server.addr.port());

    let first = client.scrape(&target).await.unwrap();
    assert_eq!(first.endpoint, Endpoint::Summary);
    assert_eq!(
        first.metrics,
        decode_summary(fixture("kubelet-stats-summary-only-cpu-mem.json").as_bytes()).unwrap()
    );
    assert_eq!(resource_hits.load(Ordering::SeqCst), 1);

    for _ in 1..AUTO_REPROBE_INTERVAL {
        assert_eq!(
            client.scrape(&target).await.unwrap().endpoint,
            Endpoint::Summary
        );
    }
    assert_eq!(
        resource_hits.load(Ordering::SeqCst),
        1,
        "no probe within the interval"
    );
    client.scrape(&target).await.unwrap();
    assert_eq!(
        resource_hits.load(Ordering::SeqCst),
        2,
        "probed again after the interval"
    );

    // The configured summary source never touches /metrics/resource.
    let summary_only = KubeletClient::new(&KubeletClientConfig {
        source: MetricsSource::Summary,
        ..pki.config()
    })
    .unwrap();
    assert_eq!(
        summary_only.scrape(&target).await.unwrap().endpoint,
        Endpoint::Summary
    );
    assert_eq!(resource_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let pki = Pki::new();
    let router = Router::new()
        .route(
            "/metrics/resource",
            get(|| async { fixture("kubelet-metrics-resource.txt") }),
        )
        .route(
            "/metrics/streamed",
            get(|| async {
                // No Content-Length: the limit must hold while streaming.
                let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'#'; 256])));
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        );
    let server = pki.serve(router, false).await;
    let client = KubeletClient::new(&KubeletClientConfig {
        max_body_bytes: 4096,
        ..pki.config()
    })
    .unwrap();

    let err = client
        .scrape(&node("worker-1", server.addr.port()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScrapeError::BodyTooLarge { limit: 4096, .. }),
        "{err:?}"
    );
    let mut streamed = node("worker-1", server.addr.port());
    streamed.metrics_path = Some("/metrics/streamed".into());
    let err = client.scrape(&streamed).await.unwrap_err();
    assert!(
        matches!(err, ScrapeError::BodyTooLarge { limit: 4096, .. }),
        "{err:?}"
    );

    // 64 × 256 bytes of comments fit a 16 KiB limit exactly and decode to nothing.
    let client = KubeletClient::new(&KubeletClientConfig {
        max_body_bytes: 16 * 1024,
        ..pki.config()
    })
    .unwrap();
    assert_eq!(
        client.scrape(&streamed).await.unwrap().metrics,
        Default::default()
    );
}

#[tokio::test]
async fn node_status_port_preferred_types_and_path_annotation_pick_the_target() {
    let pki = Pki::new();
    let router = Router::new().route(
        "/custom/resource",
        get(|| async { fixture("kubelet-metrics-resource.txt") }),
    );
    let server = pki.serve(router, false).await;
    let mut target = node("worker-1", server.addr.port());
    target.addresses = vec![
        NodeAddress::new("Hostname", "worker-1.invalid"),
        NodeAddress::new("InternalIP", "127.0.0.1"),
        NodeAddress::new("InternalIP", "192.0.2.1"),
    ];
    target.metrics_path = Some("/custom/resource".into());
    let config = KubeletClientConfig {
        preferred_address_types: vec!["InternalDNS".into(), "InternalIP".into(), "Hostname".into()],
        default_port: closed_port(),
        ..pki.config()
    };
    KubeletClient::new(&config)
        .unwrap()
        .scrape(&target)
        .await
        .unwrap();

    // Without the node-status port the (closed) default port is dialled.
    let without_status_port = KubeletClientConfig {
        use_node_status_port: false,
        ..config.clone()
    };
    let err = KubeletClient::new(&without_status_port)
        .unwrap()
        .scrape(&target)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScrapeError::ConnectionRefused { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("--kubelet-port"), "{err}");

    // Hostname first: the unresolvable name is tried.
    let hostname_first = KubeletClientConfig {
        preferred_address_types: vec!["Hostname".into()],
        ..config.clone()
    };
    let err = KubeletClient::new(&hostname_first)
        .unwrap()
        .scrape(&target)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScrapeError::Dns { ref host, .. } if host == "worker-1.invalid"),
        "{err:?}"
    );

    // Without the annotation the default path is asked for and is missing here.
    target.metrics_path = None;
    let err = KubeletClient::new(&config)
        .unwrap()
        .scrape(&target)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScrapeError::NotFound { ref url } if url.ends_with("/metrics/resource")),
        "{err:?}"
    );

    let none_match = KubeletClientConfig {
        preferred_address_types: vec!["ExternalIP".into()],
        ..config
    };
    let err = KubeletClient::new(&none_match)
        .unwrap()
        .scrape(&target)
        .await
        .unwrap_err();
    assert!(matches!(err, ScrapeError::NoAddress { .. }), "{err:?}");
}

#[tokio::test]
async fn a_kubelet_that_never_answers_times_out() {
    let pki = Pki::new();
    let router = Router::new().route("/metrics/resource", get(std::future::pending::<String>));
    let server = pki.serve(router, false).await;
    let config = KubeletClientConfig {
        request_timeout: Duration::from_millis(300),
        ..pki.config()
    };
    let err = KubeletClient::new(&config)
        .unwrap()
        .scrape(&node("worker-1", server.addr.port()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScrapeError::RequestTimeout { after, .. } if after == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(err.is_timeout());
}

/// A TCP relay in front of the fake kubelet. For each connection, once it is closed, it
/// records how many bytes the kubelet sent on it.
async fn counting_relay(backend: std::net::SocketAddr) -> (u16, Arc<Mutex<Vec<u64>>>) {
    let listener = tokio::net::TcpListener::bind((common::LOOPBACK, 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let closed = Arc::new(Mutex::new(Vec::new()));
    let record = closed.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let (mut client_read, mut client_write) = inbound.into_split();
                let (mut kubelet_read, mut kubelet_write) = outbound.into_split();
                let upstream = tokio::io::copy(&mut client_read, &mut kubelet_write);
                let downstream = async {
                    let sent = tokio::io::copy(&mut kubelet_read, &mut client_write).await;
                    let _ = tokio::io::AsyncWriteExt::shutdown(&mut client_write).await;
                    sent
                };
                let (_, sent) = tokio::join!(upstream, downstream);
                record.lock().unwrap().push(sent.unwrap_or(0));
            });
        }
    });
    (port, closed)
}

/// Waits (bounded) until `n` relayed connections have closed and returns their byte counts.
async fn closed_connections(closed: &Mutex<Vec<u64>>, n: usize) -> Vec<u64> {
    for _ in 0..500 {
        let done = closed.lock().unwrap().clone();
        if done.len() >= n {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{n} connections did not close: {:?}",
        closed.lock().unwrap()
    );
}

#[tokio::test]
async fn each_scrape_closes_its_connection_and_resumes_the_tls_session() {
    let pki = Pki::new();
    let server = pki.serve(resource_router(), false).await;
    let (port, closed) = counting_relay(server.addr).await;
    let client = KubeletClient::new(&pki.config()).unwrap();
    let target = node("worker-1", port);
    for _ in 0..3 {
        client.scrape(&target).await.unwrap();
    }
    let sent = closed_connections(&closed, 3).await;
    assert_eq!(sent.len(), 3, "{sent:?}");
    // A resumed handshake leaves out the kubelet's certificate.
    let certificate = pki.serving.cert_der.len() as u64;
    for later in &sent[1..] {
        assert!(
            later + certificate <= sent[0],
            "bytes from the kubelet per connection: {sent:?}, certificate {certificate} bytes"
        );
    }
}

#[tokio::test]
async fn kept_connections_are_reused_across_scrapes() {
    let pki = Pki::new();
    let server = pki.serve(resource_router(), false).await;
    let (port, closed) = counting_relay(server.addr).await;
    let config = KubeletClientConfig {
        keep_connections: true,
        ..pki.config()
    };
    let client = KubeletClient::new(&config).unwrap();
    let target = node("worker-1", port);
    for _ in 0..3 {
        client.scrape(&target).await.unwrap();
    }
    drop(client);
    assert_eq!(closed_connections(&closed, 1).await.len(), 1);
}

#[test]
fn building_needs_a_ca_unless_insecure() {
    let err = KubeletClient::new(&KubeletClientConfig::default()).unwrap_err();
    assert!(
        err.to_string().contains("--kubelet-certificate-authority"),
        "{err}"
    );
    KubeletClient::new(&KubeletClientConfig {
        insecure_skip_tls_verify: true,
        ..KubeletClientConfig::default()
    })
    .unwrap();
    let missing = KubeletClientConfig {
        insecure_skip_tls_verify: true,
        bearer_token: BearerToken::File(temp_path("absent")),
        ..KubeletClientConfig::default()
    };
    assert!(KubeletClient::new(&missing).is_err());
}
