//! Fake kubelets for the client and cycle tests: axum routers served over TLS by testkit on
//! 127.0.0.1, with certificates from a throwaway CA.

#![allow(dead_code, clippy::unwrap_used)] // shared by several test crates, each using a part

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use kubelet_scraper::{KubeletClientConfig, NodeAddress, NodeTarget};
use testkit::pki::{Issued, TestCa};
use testkit::tls_server::{TestServer, serve_tls};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testkit/fixtures/");

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}{name}")).unwrap()
}

pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A CA and a kubelet serving certificate for 127.0.0.1 and `localhost`.
pub struct Pki {
    pub ca: TestCa,
    pub serving: Issued,
}

impl Pki {
    pub fn new() -> Self {
        Pki::named("kubelet-ca")
    }

    pub fn named(ca_name: &str) -> Self {
        let ca = TestCa::new(ca_name).unwrap();
        let serving = ca.server("worker", &["localhost"], &[LOOPBACK]).unwrap();
        Pki { ca, serving }
    }

    /// Serves `router` with this PKI's serving certificate; `client_ca` asks for client certs.
    pub async fn serve(&self, router: Router, client_ca: bool) -> TestServer {
        serve_with(
            &self.serving,
            client_ca.then(|| self.ca.cert_der.clone()),
            router,
        )
        .await
    }

    /// A client configuration that trusts this CA and reaches nodes on the node-status port.
    pub fn config(&self) -> KubeletClientConfig {
        KubeletClientConfig {
            ca_pem: Some(self.ca.cert_pem.clone().into_bytes()),
            use_node_status_port: true,
            preferred_address_types: vec!["InternalIP".into()],
            request_timeout: Duration::from_secs(10),
            use_env_proxy: false,
            ..KubeletClientConfig::default()
        }
    }
}

pub async fn serve_with(
    serving: &Issued,
    client_ca: Option<rustls::pki_types::CertificateDer<'static>>,
    router: Router,
) -> TestServer {
    serve_tls(
        SocketAddr::new(LOOPBACK, 0),
        vec![serving.cert_der.clone()],
        serving.key(),
        client_ca,
        router,
    )
    .await
    .unwrap()
}

/// A node whose kubelet listens on 127.0.0.1:`port` (its node-status port).
pub fn node(name: &str, port: u16) -> NodeTarget {
    NodeTarget {
        name: name.into(),
        addresses: vec![NodeAddress::new("InternalIP", "127.0.0.1")],
        kubelet_endpoint_port: Some(port),
        metrics_path: None,
    }
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind((LOOPBACK, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

/// A unique path in the temp directory.
pub fn temp_path(name: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "kubelet-scraper-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}
