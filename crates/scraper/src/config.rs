//! How to reach kubelets: the options metrics-server's kubelet flags and kubeconfig provide.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Upstream's default `--kubelet-preferred-address-types`.
pub const DEFAULT_PREFERRED_ADDRESS_TYPES: [&str; 5] = [
    "Hostname",
    "InternalDNS",
    "InternalIP",
    "ExternalDNS",
    "ExternalIP",
];

/// Every node address type Kubernetes defines (`core/v1` `NodeAddressType`): the values
/// `--kubelet-preferred-address-types` accepts.
pub const NODE_ADDRESS_TYPES: [&str; 5] = [
    "Hostname",
    "InternalIP",
    "ExternalIP",
    "InternalDNS",
    "ExternalDNS",
];

/// Default response size limit: a kubelet with 110 pods writes well under 1 MiB of
/// `/metrics/resource` and a few MiB of full `/stats/summary`; 64 MiB leaves room for nodes
/// packed with thousands of containers while bounding what a broken or hostile endpoint can
/// make us buffer.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Which kubelet endpoint to read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetricsSource {
    /// `/metrics/resource` (kubelet 1.18+), what upstream metrics-server ≥ v0.6 reads.
    #[default]
    Resource,
    /// `/stats/summary?only_cpu_and_memory=true`, what metrics-server ≤ v0.5 read.
    Summary,
    /// `/metrics/resource`, falling back per node to the summary when the kubelet answers 404,
    /// and trying `/metrics/resource` again every [`AUTO_REPROBE_INTERVAL`](crate::AUTO_REPROBE_INTERVAL) scrapes.
    Auto,
}

/// Where the bearer token sent to kubelets comes from.
#[derive(Clone, Default)]
pub enum BearerToken {
    #[default]
    None,
    /// A fixed token (kubeconfig `token`).
    Static(String),
    /// A token file (kubeconfig `tokenFile`, the in-cluster service-account token). It is
    /// re-read whenever its modification time or size changes, checked once per scrape cycle,
    /// because projected service-account tokens are rotated on disk.
    File(PathBuf),
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BearerToken::None => f.write_str("None"),
            BearerToken::Static(_) => f.write_str("Static(<redacted>)"),
            BearerToken::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// Everything the kubelet client and the scrape cycle need.
#[derive(Clone)]
pub struct KubeletClientConfig {
    /// `--deprecated-kubelet-completely-insecure`: plain `http`, no token, no client certificate.
    pub scheme_insecure_http: bool,
    /// `--kubelet-insecure-tls`: do not verify kubelet serving certificates.
    pub insecure_skip_tls_verify: bool,
    /// PEM bundle of the CA(s) that sign kubelet serving certificates
    /// (`--kubelet-certificate-authority`, else the kubeconfig's CA). Required unless one of
    /// the two insecure modes is on: kubelet certificates are never signed by public CAs.
    pub ca_pem: Option<Vec<u8>>,
    /// `--kubelet-client-certificate` (PEM chain); needs `client_key_pem`.
    pub client_cert_pem: Option<Vec<u8>>,
    /// `--kubelet-client-key` (PEM).
    pub client_key_pem: Option<Vec<u8>>,
    /// Sent as `Authorization: Bearer …` (also alongside a client certificate, as upstream does).
    pub bearer_token: BearerToken,
    /// `--kubelet-port`.
    pub default_port: u16,
    /// `--kubelet-use-node-status-port`: prefer the port the node reports.
    pub use_node_status_port: bool,
    /// `--kubelet-preferred-address-types`, in priority order.
    pub preferred_address_types: Vec<String>,
    /// `--kubelet-request-timeout`: bound on one request, from connecting to the last body byte.
    pub request_timeout: Duration,
    /// Bound on establishing a connection (TCP and TLS); capped at `request_timeout`.
    pub connect_timeout: Duration,
    /// Largest response body accepted; see [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    pub user_agent: String,
    pub source: MetricsSource,
    /// Most kubelet requests in flight at once (upstream has no bound).
    pub max_concurrent: usize,
    /// Whether a kubelet connection is kept open for the next cycle. Kept connections save a
    /// TCP and TLS handshake per node and cycle but hold tens of KiB of buffers each while
    /// idle; closed ones are resumed (TLS session tickets), so a scrape costs a short
    /// handshake instead. At thousands of nodes the buffers dominate the process's memory.
    pub keep_connections: bool,
    /// How long an idle kubelet connection is kept when `keep_connections` is on. Keep it
    /// above the metric resolution so each cycle reuses the previous cycle's connections.
    pub pool_idle_timeout: Duration,
    /// Honour `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` as Go's transport does.
    pub use_env_proxy: bool,
}

impl Default for KubeletClientConfig {
    fn default() -> Self {
        KubeletClientConfig {
            scheme_insecure_http: false,
            insecure_skip_tls_verify: false,
            ca_pem: None,
            client_cert_pem: None,
            client_key_pem: None,
            bearer_token: BearerToken::None,
            default_port: 10250,
            use_node_status_port: false,
            preferred_address_types: DEFAULT_PREFERRED_ADDRESS_TYPES
                .iter()
                .map(|t| t.to_string())
                .collect(),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            user_agent: concat!("metrics-server-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
            source: MetricsSource::Resource,
            max_concurrent: 256,
            keep_connections: false,
            pool_idle_timeout: Duration::from_secs(300),
            use_env_proxy: true,
        }
    }
}

impl fmt::Debug for KubeletClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeletClientConfig")
            .field("scheme_insecure_http", &self.scheme_insecure_http)
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<set>"))
            .field(
                "client_cert_pem",
                &self.client_cert_pem.as_ref().map(|_| "<set>"),
            )
            .field(
                "client_key_pem",
                &self.client_key_pem.as_ref().map(|_| "<redacted>"),
            )
            .field("bearer_token", &self.bearer_token)
            .field("default_port", &self.default_port)
            .field("use_node_status_port", &self.use_node_status_port)
            .field("preferred_address_types", &self.preferred_address_types)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("user_agent", &self.user_agent)
            .field("source", &self.source)
            .field("max_concurrent", &self.max_concurrent)
            .field("keep_connections", &self.keep_connections)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("use_env_proxy", &self.use_env_proxy)
            .finish()
    }
}
