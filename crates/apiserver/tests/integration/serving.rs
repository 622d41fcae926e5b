//! HTTPS serving: protocol negotiation, serving-certificate reload, the `--cert-dir`
//! fallback, TLS policy, handshake deadline and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use generic_apiserver::{SecureServer, ServeError, ServingConfig, ServingConfigError};
use testkit::pki::TestCa;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;

use crate::support::{
    LOCALHOST, Pki, TempDir, client_trusting, echo_allowed, echo_router, eventually, start,
};

#[tokio::test]
async fn http2_is_negotiated_unless_disabled() {
    let pki = Pki::new("alpn");
    let server = start(
        pki.serving_config(),
        echo_router(),
        &pki.authentication_flags(&[]),
        &echo_allowed(),
        None,
    )
    .await
    .unwrap();
    let response = pki
        .client(None)
        .get(server.url("/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    server.stop().await.unwrap();

    let http1_only = ServingConfig {
        disable_http2: true,
        ..pki.serving_config()
    };
    let server = start(
        http1_only,
        echo_router(),
        &pki.authentication_flags(&[]),
        &echo_allowed(),
        None,
    )
    .await
    .unwrap();
    let response = pki
        .client(None)
        .get(server.url("/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_11);
    server.stop().await.unwrap();
}

async fn remote_port(client: &reqwest::Client, url: &str) -> Option<u64> {
    let response = client.get(url).send().await.ok()?;
    let body: serde_json::Value = response.json().await.ok()?;
    body["remotePort"].as_u64()
}

#[tokio::test]
async fn serving_certificate_reloads_without_dropping_open_connections() {
    let pki = Pki::new("reload");
    let server = start(
        pki.serving_config(),
        echo_router(),
        &pki.authentication_flags(&[]),
        &echo_allowed(),
        None,
    )
    .await
    .unwrap();
    let url = server.url("/echo");
    let long_lived = pki.client(None);
    let first = long_lived.get(&url).send().await.unwrap();
    assert_eq!(first.version(), http::Version::HTTP_2);
    let port_before = first.json::<serde_json::Value>().await.unwrap()["remotePort"].as_u64();

    let renewed_ca = TestCa::new("renewed-serving-ca").unwrap();
    let renewed = renewed_ca
        .server("localhost", &["localhost"], &[LOCALHOST])
        .unwrap();
    std::fs::write(pki.dir.path("tls.key"), &renewed.key_pem).unwrap();
    std::fs::write(pki.dir.path("tls.crt"), &renewed.cert_pem).unwrap();

    let trusts_renewed = client_trusting(&renewed_ca, None);
    assert!(
        eventually(|| async { remote_port(&trusts_renewed, &url).await.is_some() }).await,
        "new handshakes never got the renewed certificate"
    );
    // New handshakes no longer present the old certificate...
    assert!(pki.client(None).get(&url).send().await.is_err());
    // ...while the HTTP/2 connection opened before the renewal still works.
    assert_eq!(remote_port(&long_lived, &url).await, port_before);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn cert_dir_pair_is_generated_and_served() {
    let pki = Pki::new("certdir");
    let cert_dir = TempDir::new("generated");
    let config = ServingConfig {
        tls_cert_file: None,
        tls_private_key_file: None,
        cert_dir: cert_dir.path("certs"),
        ..pki.serving_config()
    };
    let server = start(
        config,
        echo_router(),
        &pki.authentication_flags(&[]),
        &echo_allowed(),
        None,
    )
    .await
    .unwrap();
    let pem = std::fs::read(cert_dir.path("certs/apiserver.crt")).unwrap();
    assert!(cert_dir.path("certs/apiserver.key").exists());
    let generated_ca = reqwest::Certificate::from_pem_bundle(&pem)
        .unwrap()
        .pop()
        .unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([generated_ca])
        .build()
        .unwrap();
    // The leaf names 127.0.0.1, so verification by IP succeeds.
    let response = client.get(server.url("/echo")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn tls_13_minimum_refuses_tls_12_clients() {
    let pki = Pki::new("tls13");
    let config = ServingConfig {
        tls_min_version: Some("VersionTLS13".into()),
        ..pki.serving_config()
    };
    let server = start(
        config,
        echo_router(),
        &pki.authentication_flags(&[]),
        &echo_allowed(),
        None,
    )
    .await
    .unwrap();
    let tls12_only = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_der(&pki.serving_ca.cert_der).unwrap()])
        .tls_version_max(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    assert!(tls12_only.get(server.url("/echo")).send().await.is_err());
    assert_eq!(
        pki.client(None)
            .get(server.url("/echo"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unservable_tls_settings_are_reported_before_binding() {
    let pki = Pki::new("bad-tls");
    let config = ServingConfig {
        tls_min_version: Some("VersionTLS10".into()),
        tls_cipher_suites: vec![
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA".into(),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
        ],
        ..pki.serving_config()
    };
    let Err(ServeError::Config(errors)) = SecureServer::bind(&config).await else {
        panic!("bind accepted TLS 1.0 and a CBC suite");
    };
    assert_eq!(
        errors.0,
        vec![
            ServingConfigError::UnsupportedTlsVersion {
                name: "VersionTLS10".into(),
                version: "TLS 1.0"
            },
            ServingConfigError::UnsupportedCipherSuite {
                name: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA".into()
            },
        ]
    );
}

#[tokio::test]
async fn restricted_cipher_suites_still_serve() {
    let pki = Pki::new("suites");
    let config = ServingConfig {
        tls_cipher_suites: vec!["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into()],
        ..pki.serving_config()
    };
    let server = start(
        config,
        echo_router(),
        &pki.authentication_flags(&[]),
        &echo_allowed(),
        None,
    )
    .await
    .unwrap();
    let tls12 = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_der(&pki.serving_ca.cert_der).unwrap()])
        .tls_version_max(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    assert_eq!(
        tls12
            .get(server.url("/echo"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn silent_clients_are_dropped_after_the_handshake_deadline() {
    let pki = Pki::new("handshake");
    let config = ServingConfig {
        handshake_timeout: Duration::from_millis(100),
        ..pki.serving_config()
    };
    let server = start(
        config,
        echo_router(),
        &pki.authentication_flags(&[]),
        &echo_allowed(),
        None,
    )
    .await
    .unwrap();
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut buffer = [0u8; 16];
    // Generous bound: we only care that the server hangs up rather than waiting forever.
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buffer)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let pki = Pki::new("graceful");
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (entered_in_handler, release_in_handler) = (entered.clone(), release.clone());
    let router = Router::new().route(
        "/slow",
        get(move || {
            let (entered, release) = (entered_in_handler.clone(), release_in_handler.clone());
            async move {
                entered.notify_one();
                release.notified().await;
                "done"
            }
        }),
    );
    let authz = generic_apiserver::AuthorizationConfig {
        always_allow_paths: vec!["/slow".into()],
        ..Default::default()
    };
    let server = start(
        pki.serving_config(),
        router,
        &pki.authentication_flags(&[]),
        &authz,
        None,
    )
    .await
    .unwrap();
    let client = pki.client(None);
    let in_flight = tokio::spawn(client.get(server.url("/slow")).send());
    entered.notified().await;

    server.shutdown.cancel();
    release.notify_one();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");
    let addr = server.addr;
    server.stop().await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

/// The server closes connections that carry no request for the idle timeout (Go: 90 s), over
/// HTTP/2 and HTTP/1.1 alike; the client's next request comes on a new connection.
#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    for disable_http2 in [false, true] {
        let pki = Pki::new("idle");
        let config = ServingConfig {
            idle_timeout: Duration::from_millis(200),
            disable_http2,
            ..pki.serving_config()
        };
        let server = start(
            config,
            echo_router(),
            &pki.authentication_flags(&[]),
            &echo_allowed(),
            None,
        )
        .await
        .unwrap();
        let client = pki.client(None);
        let url = server.url("/echo");
        let first = remote_port(&client, &url).await.unwrap();
        assert_eq!(
            remote_port(&client, &url).await.unwrap(),
            first,
            "busy connections are reused"
        );
        // Well past the idle timeout, the server has closed the pooled connection.
        assert!(
            eventually(|| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    remote_port(&client, &url)
                        .await
                        .is_some_and(|port| port != first)
                }
            })
            .await,
            "http2 disabled: {disable_http2}"
        );
        server.stop().await.unwrap();
    }
}

/// A response still being produced is not idle, however long it takes.
#[tokio::test]
async fn a_slow_response_is_not_cut_by_the_idle_timeout() {
    let pki = Pki::new("idle-slow");
    let router = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            "done"
        }),
    );
    let authz = generic_apiserver::AuthorizationConfig {
        always_allow_paths: vec!["/slow".into()],
        ..Default::default()
    };
    let config = ServingConfig {
        idle_timeout: Duration::from_millis(100),
        ..pki.serving_config()
    };
    let server = start(config, router, &pki.authentication_flags(&[]), &authz, None)
        .await
        .unwrap();
    let response = pki
        .client(None)
        .get(server.url("/slow"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");
    server.stop().await.unwrap();
}

/// Past the connection cap, new connections are closed on accept; once one closes, the
/// server accepts again.
#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let pki = Pki::new("cap");
    let config = ServingConfig {
        max_connections: 2,
        ..pki.serving_config()
    };
    let server = start(
        config,
        echo_router(),
        &pki.authentication_flags(&[]),
        &echo_allowed(),
        None,
    )
    .await
    .unwrap();
    // Two silent connections hold both slots (until the 10 s handshake deadline).
    let holders = [
        tokio::net::TcpStream::connect(server.addr).await.unwrap(),
        tokio::net::TcpStream::connect(server.addr).await.unwrap(),
    ];
    let mut third = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buffer)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the third connection must be closed by the server, got {read:?}"
    );
    drop(holders);
    let client = pki.client(None);
    let url = server.url("/echo");
    assert!(
        eventually(|| {
            let (client, url) = (client.clone(), url.clone());
            async move { remote_port(&client, &url).await.is_some() }
        })
        .await,
        "a freed slot serves again"
    );
    server.stop().await.unwrap();
}
