//! The kubelet HTTP client: one hyper client for every node (a connection per scrape that
//! resumes the node's TLS session, or pooled connections with `keep_connections`), requests
//! bounded in time and size, failures classified into [`ScrapeError`]s.
//!
//! hyper directly rather than reqwest: a kept connection's read buffer is a knob reqwest does
//! not expose, and it decides what an idle connection costs (see [`READ_BUFFER_BYTES`]).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::io;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, USER_AGENT};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use metric_store::Timestamp;
use rustls::{AlertDescription, CertificateError};
use url::Url;

use crate::address::{
    Endpoint, NodeTarget, endpoint_url, kubelet_subresource, select_address, select_port,
};
use crate::auth::{TokenSource, tls_config};
use crate::config::{KubeletClientConfig, MetricsSource};
use crate::connect::{ConnectTimedOut, DnsFailed, KubeletConnector};
use crate::decode::{DecodeError, KubeletMetrics, decode_resource, decode_summary};
use crate::error::{ClientBuildError, ScrapeError, TlsProblem};

/// In [`MetricsSource::Auto`], a node that fell back to `/stats/summary` is probed on
/// `/metrics/resource` again every this many scrapes (a kubelet upgrade brings it back).
pub const AUTO_REPROBE_INTERVAL: u32 = 10;

type Response = http::Response<Incoming>;

/// Each connection reads into a buffer of exactly this size. hyper's default grows the buffer
/// with the reads (to 64 KiB and more for a 22 KB kubelet body) and keeps it while the
/// connection idles, which made a kept connection cost about 68 KiB. A body takes a few more
/// reads this way, which costs next to nothing.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// promhttp answers `*/*` with the 0.0.4 text format, just as it answers upstream's Go request,
/// which sends no `Accept`.
const ACCEPT_ANY: HeaderValue = HeaderValue::from_static("*/*");

/// How much of an error response body is kept for the message (the kubelet's 401/403 bodies
/// are one short line).
const ERROR_BODY_SNIPPET_BYTES: usize = 512;

/// Bodies up to this size are decoded on the scrape thread (a real node's body is a few tens of
/// KiB and decodes in well under a millisecond, cheaper than a thread hand-off); larger ones
/// go to the blocking pool.
const DECODE_INLINE_BYTES: usize = 256 * 1024;

fn decode(
    endpoint: Endpoint,
    body: &[u8],
    scrape_start: Timestamp,
) -> Result<KubeletMetrics, DecodeError> {
    match endpoint {
        Endpoint::Resource => decode_resource(body, scrape_start).map_err(DecodeError::from),
        Endpoint::Summary => decode_summary(body).map_err(DecodeError::from),
    }
}

/// What one node's kubelet returned, decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapedNode {
    /// The endpoint that answered (differs from the configured one after an `Auto` fallback).
    pub endpoint: Endpoint,
    pub metrics: KubeletMetrics,
}

/// Fetches and decodes kubelet metrics.
#[derive(Debug)]
pub struct KubeletClient {
    http: Client<KubeletConnector, Empty<Bytes>>,
    user_agent: HeaderValue,
    token: TokenSource,
    scheme_is_http: bool,
    default_port: u16,
    use_node_status_port: bool,
    preferred_address_types: Vec<String>,
    request_timeout: Duration,
    connect_timeout: Duration,
    max_body_bytes: usize,
    source: MetricsSource,
    /// `Auto` mode: nodes currently read through the summary, with the scrapes since the last
    /// probe of `/metrics/resource`.
    summary_fallback: Mutex<HashMap<String, u32>>,
}

impl KubeletClient {
    /// Builds the client. Does not need a process-wide rustls provider.
    pub fn new(config: &KubeletClientConfig) -> Result<Self, ClientBuildError> {
        let connect_timeout = config.connect_timeout.min(config.request_timeout);
        let connector =
            KubeletConnector::new(tls_config(config)?, connect_timeout, config.use_env_proxy);
        // HTTP/1.1 only (the TLS config offers nothing else): the kubelet speaks both, and one
        // HTTP/1.1 exchange per scrape costs less memory and CPU than an HTTP/2 connection's
        // state; there is nothing to multiplex. Redirects are never followed (hyper does not):
        // following one could carry the token elsewhere.
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(if config.keep_connections {
                usize::MAX
            } else {
                0
            })
            .http1_read_buf_exact_size(READ_BUFFER_BYTES)
            .build(connector);
        let user_agent = HeaderValue::from_str(&config.user_agent)
            .map_err(|_| ClientBuildError::InvalidUserAgent)?;
        Ok(KubeletClient {
            http,
            user_agent,
            token: if config.scheme_insecure_http {
                TokenSource::None
            } else {
                TokenSource::new(&config.bearer_token)?
            },
            scheme_is_http: config.scheme_insecure_http,
            default_port: config.default_port,
            use_node_status_port: config.use_node_status_port,
            preferred_address_types: config.preferred_address_types.clone(),
            request_timeout: config.request_timeout,
            connect_timeout,
            max_body_bytes: config.max_body_bytes,
            source: config.source,
            summary_fallback: Mutex::new(HashMap::new()),
        })
    }

    /// Re-reads the bearer token file if it changed; returns whether it did. Cheap (one
    /// `stat`), meant to run once per scrape cycle.
    pub fn refresh_credentials(&self) -> Result<bool, ClientBuildError> {
        self.token.refresh()
    }

    /// Drops what the client remembers about a node that left the cluster.
    pub fn forget_node(&self, node: &str) {
        self.summary_fallback
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(node);
    }

    /// Scrapes one node: picks its address and port, fetches the configured endpoint (each
    /// request bounded by the request timeout) and decodes it.
    pub async fn scrape(&self, node: &NodeTarget) -> Result<ScrapedNode, ScrapeError> {
        let host = select_address(node, &self.preferred_address_types)?;
        let port = select_port(node, self.use_node_status_port, self.default_port);
        let url = |endpoint| {
            endpoint_url(
                self.scheme_is_http,
                host,
                port,
                endpoint,
                node.metrics_path.as_deref(),
            )
        };
        match self.source {
            MetricsSource::Resource => {
                self.fetch(url(Endpoint::Resource)?, Endpoint::Resource)
                    .await
            }
            MetricsSource::Summary => self.fetch(url(Endpoint::Summary)?, Endpoint::Summary).await,
            MetricsSource::Auto => {
                if self.stay_on_summary(&node.name) {
                    return self.fetch(url(Endpoint::Summary)?, Endpoint::Summary).await;
                }
                match self
                    .fetch(url(Endpoint::Resource)?, Endpoint::Resource)
                    .await
                {
                    Err(ScrapeError::NotFound { .. }) => {
                        self.summary_fallback
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert(node.name.clone(), 1);
                        self.fetch(url(Endpoint::Summary)?, Endpoint::Summary).await
                    }
                    result => {
                        if result.is_ok() {
                            self.forget_node(&node.name);
                        }
                        result
                    }
                }
            }
        }
    }

    /// Whether an `Auto` node keeps using the summary this time (counting the scrape) or is due
    /// a probe of `/metrics/resource`.
    fn stay_on_summary(&self, node: &str) -> bool {
        let mut fallback = self
            .summary_fallback
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match fallback.get_mut(node) {
            Some(scrapes) if *scrapes < AUTO_REPROBE_INTERVAL => {
                *scrapes += 1;
                true
            }
            _ => false,
        }
    }

    async fn fetch(&self, url: Url, endpoint: Endpoint) -> Result<ScrapedNode, ScrapeError> {
        match tokio::time::timeout(self.request_timeout, self.fetch_unbounded(&url, endpoint)).await
        {
            Ok(result) => result,
            Err(_) => Err(ScrapeError::RequestTimeout {
                url: url.into(),
                after: self.request_timeout,
            }),
        }
    }

    /// The URL's text is copied into errors only: a successful scrape borrows it.
    async fn fetch_unbounded(
        &self,
        url: &Url,
        endpoint: Endpoint,
    ) -> Result<ScrapedNode, ScrapeError> {
        let url_text = url.as_str();
        let uri: Uri = url_text.parse().map_err(|e| ScrapeError::Internal {
            detail: format!("kubelet URL {url_text}: {e}"),
        })?;
        let mut request = Request::get(uri)
            .header(ACCEPT, ACCEPT_ANY)
            .header(USER_AGENT, self.user_agent.clone());
        if let Some(token) = self.token.header() {
            request = request.header(AUTHORIZATION, token);
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| ScrapeError::Internal {
                detail: format!("request to {url_text}: {e}"),
            })?;
        // Samples without their own timestamp are dated to just before the request, as upstream.
        let scrape_start = Timestamp::now();
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| self.classify(&e, url))?;

        let status = response.status();
        if status != StatusCode::OK {
            let body = error_snippet(response).await;
            let url_text = url_text.to_owned();
            return Err(match status {
                StatusCode::UNAUTHORIZED => ScrapeError::Unauthorized {
                    url: url_text,
                    body,
                },
                StatusCode::FORBIDDEN => ScrapeError::Forbidden {
                    url: url_text,
                    subresource: kubelet_subresource(url.path()),
                    body,
                },
                StatusCode::NOT_FOUND => ScrapeError::NotFound { url: url_text },
                status => ScrapeError::Status {
                    url: url_text,
                    status,
                    body,
                },
            });
        }

        let body = self.read_body(response, url_text).await?;
        let metrics = if body.len() <= DECODE_INLINE_BYTES {
            decode(endpoint, &body, scrape_start)
        } else {
            // Off the scrape thread, so one large body does not hold up every other node's
            // I/O; still inside the request timeout, which covers decoding too.
            tokio::task::spawn_blocking(move || decode(endpoint, &body, scrape_start))
                .await
                .map_err(|join_error| ScrapeError::Internal {
                    detail: format!("decoding {url_text}: {join_error}"),
                })?
        }
        .map_err(|source| ScrapeError::Decode {
            url: url_text.to_owned(),
            source,
        })?;
        Ok(ScrapedNode { endpoint, metrics })
    }

    /// Reads the body chunk by chunk and gives up as soon as it passes the size limit.
    async fn read_body(&self, response: Response, url: &str) -> Result<Vec<u8>, ScrapeError> {
        let limit = self.max_body_bytes;
        let too_large = || ScrapeError::BodyTooLarge {
            url: url.to_owned(),
            limit,
        };
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(too_large());
        }
        // Trust a declared length only so far: it is a hint for the first allocation.
        let initial = declared.map_or(64 * 1024, |length| length.min(4 * 1024 * 1024) as usize);
        let mut body = Vec::with_capacity(initial);
        let mut incoming = response.into_body();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| body_error(&e, url))?;
            // Trailers (never sent by a kubelet) carry no data.
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Maps a failure to send the request (or get the response head) to what an operator can
    /// act on.
    fn classify(&self, error: &hyper_util::client::legacy::Error, kubelet: &Url) -> ScrapeError {
        let url = kubelet.to_string();
        let host = || kubelet.host_str().unwrap_or_default().to_owned();
        if let Some(tls) = find_in_chain::<rustls::Error>(error) {
            return ScrapeError::Tls {
                url,
                problem: tls_problem(tls, host()),
            };
        }
        if find_in_chain::<DnsFailed>(error).is_some() {
            return ScrapeError::Dns {
                host: host(),
                detail: chain_text(error),
            };
        }
        if find_in_chain::<io::Error>(error)
            .is_some_and(|e| e.kind() == io::ErrorKind::ConnectionRefused)
        {
            return ScrapeError::ConnectionRefused { url };
        }
        if find_in_chain::<ConnectTimedOut>(error).is_some() {
            return ScrapeError::ConnectTimeout {
                url,
                after: self.connect_timeout,
            };
        }
        if error.is_connect() {
            return ScrapeError::Connect {
                url,
                detail: chain_text(error),
            };
        }
        ScrapeError::Transport {
            url,
            detail: chain_text(error),
        }
    }
}

/// A failure while reading the body: TLS problems keep their diagnosis, the rest is a broken
/// body.
fn body_error(error: &hyper::Error, url: &str) -> ScrapeError {
    match find_in_chain::<rustls::Error>(error) {
        Some(tls) => ScrapeError::Tls {
            url: url.to_owned(),
            problem: tls_problem(tls, String::new()),
        },
        None => ScrapeError::Body {
            url: url.to_owned(),
            detail: chain_text(error),
        },
    }
}

fn tls_problem(error: &rustls::Error, host: String) -> TlsProblem {
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            // A CA with the same name but another key (a rebuilt cluster's "kubernetes" CA, say)
            // fails as a bad signature; Go reports both as "signed by unknown authority".
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                TlsProblem::UnknownAuthority
            }
            CertificateError::NotValidForName => TlsProblem::NameMismatch {
                host,
                presented: Vec::new(),
            },
            CertificateError::NotValidForNameContext { presented, .. } => {
                TlsProblem::NameMismatch {
                    host,
                    presented: presented.iter().map(|name| plain_name(name)).collect(),
                }
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsProblem::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsProblem::NotYetValid
            }
            other => TlsProblem::Other(format!("invalid kubelet certificate: {other:?}")),
        },
        rustls::Error::AlertReceived(AlertDescription::InternalError) => {
            TlsProblem::KubeletHasNoCertificate
        }
        rustls::Error::AlertReceived(
            alert @ (AlertDescription::BadCertificate
            | AlertDescription::CertificateRequired
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::AccessDenied),
        ) => TlsProblem::ClientCertificateRejected {
            alert: format!("{alert:?}"),
        },
        other => TlsProblem::Other(other.to_string()),
    }
}

/// rustls describes certificate names as `DnsName("worker-1")` or `IpAddress(10.0.0.5)`;
/// operators want just the name.
fn plain_name(presented: &str) -> String {
    let inner = ["DnsName(", "IpAddress("]
        .iter()
        .find_map(|prefix| presented.strip_prefix(prefix)?.strip_suffix(')'))
        .unwrap_or(presented);
    inner.trim_matches('"').to_owned()
}

/// Finds an error of type `T` anywhere in the chain. `io::Error` hides its payload from
/// `source()`, so wrapped payloads are searched explicitly (TLS errors travel that way).
fn find_in_chain<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut current = Some(error);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = err.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            let inner: &(dyn StdError + 'static) = inner;
            if let Some(found) = find_in_chain::<T>(inner) {
                return Some(found);
            }
        }
        current = err.source();
    }
    None
}

/// The messages of an error and its causes, without repeats.
fn chain_text(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    parts.join(": ")
}

/// The start of an error body, on one line, for the message (bounded in size and made safe to
/// log).
async fn error_snippet(response: Response) -> String {
    let mut bytes = Vec::new();
    let mut incoming = response.into_body();
    while bytes.len() < ERROR_BODY_SNIPPET_BYTES {
        match incoming.frame().await {
            Some(Ok(frame)) => {
                if let Some(chunk) = frame.data_ref() {
                    bytes.extend_from_slice(chunk);
                }
            }
            _ => break,
        }
    }
    bytes.truncate(ERROR_BODY_SNIPPET_BYTES);
    let text = String::from_utf8_lossy(&bytes);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one_line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_are_shown_plainly() {
        assert_eq!(plain_name(r#"DnsName("worker-1")"#), "worker-1");
        assert_eq!(plain_name("IpAddress(10.0.0.5)"), "10.0.0.5");
        assert_eq!(plain_name("something else"), "something else");
    }
}
