//! The client must build (and fail only with typed errors) when the caller never installed a
//! process-wide rustls crypto provider. Its own test binary, so nothing else installs one.

#![allow(clippy::unwrap_used)] // a test crate: a failed unwrap is a failed test

use kubelet_scraper::{KubeletClient, KubeletClientConfig, NodeAddress, NodeTarget, ScrapeError};
use testkit::pki::TestCa;

#[tokio::test]
async fn builds_and_connects_without_a_process_default_provider() {
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
    let ca = TestCa::new("kubelet-ca").unwrap();
    let verifying = KubeletClientConfig {
        ca_pem: Some(ca.cert_pem.into_bytes()),
        use_env_proxy: false,
        ..Default::default()
    };
    let insecure = KubeletClientConfig {
        insecure_skip_tls_verify: true,
        use_env_proxy: false,
        ..Default::default()
    };
    let plain = KubeletClientConfig {
        scheme_insecure_http: true,
        use_env_proxy: false,
        ..Default::default()
    };

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node = NodeTarget {
        name: "n".into(),
        addresses: vec![NodeAddress::new("InternalIP", "127.0.0.1")],
        kubelet_endpoint_port: None,
        metrics_path: None,
    };
    for config in [verifying, insecure, plain] {
        let client = KubeletClient::new(&KubeletClientConfig {
            default_port: port,
            preferred_address_types: vec!["InternalIP".into()],
            ..config
        })
        .unwrap();
        assert!(matches!(
            client.scrape(&node).await,
            Err(ScrapeError::ConnectionRefused { .. })
        ));
    }
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
}
