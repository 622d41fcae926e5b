//! Typed errors: why one node could not be scraped ([`ScrapeError`], with a metric-friendly
//! [`reason`](ScrapeError::reason) and a message that tells an operator what to change), and
//! why the kubelet client could not be built ([`ClientBuildError`]).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::decode::DecodeError;

/// Why scraping one node failed.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error(
        "no address matched types [{}]: the node has no status.addresses entry of these types; \
         adjust --kubelet-preferred-address-types",
        types.join(",")
    )]
    NoAddress { types: Vec<String> },

    #[error("node address {address:?} cannot be used in a URL: {reason}")]
    InvalidAddress { address: String, reason: String },

    #[error(
        "could not resolve {host}: {detail}; the name is not resolvable from metrics-server's pod, \
         prefer InternalIP in --kubelet-preferred-address-types"
    )]
    Dns { host: String, detail: String },

    #[error(
        "connection to {url} refused: nothing listens there; check the kubelet port \
         (--kubelet-port, --kubelet-use-node-status-port) and that the kubelet is running"
    )]
    ConnectionRefused { url: String },

    #[error(
        "could not connect to {url} within {after:?}: a firewall, security group or CNI problem \
         likely drops traffic from metrics-server to the kubelet port"
    )]
    ConnectTimeout { url: String, after: Duration },

    #[error("could not connect to {url}: {detail}")]
    Connect { url: String, detail: String },

    #[error("the kubelet at {url} did not answer within {after:?} (--kubelet-request-timeout)")]
    RequestTimeout { url: String, after: Duration },

    #[error(
        "the scrape did not finish before the end of the scrape cycle (--metric-resolution); \
         the kubelet or the network is too slow"
    )]
    DeadlineExceeded,

    #[error("TLS handshake with {url} failed: {problem}")]
    Tls { url: String, problem: TlsProblem },

    #[error(
        "the kubelet at {url} rejected metrics-server's credentials (401 Unauthorized{}): it could not \
         authenticate the bearer token or client certificate; check that kubelet webhook \
         authentication is enabled and the token or client CA is valid",
        body_suffix(body)
    )]
    Unauthorized { url: String, body: String },

    #[error(
        "the kubelet at {url} denied access (403 Forbidden{}): grant get on {subresource} to \
         metrics-server's service account (ClusterRole system:metrics-server)",
        body_suffix(body)
    )]
    Forbidden {
        url: String,
        subresource: &'static str,
        body: String,
    },

    #[error(
        "{url} answered 404 Not Found: the kubelet does not serve this path; check the node \
         annotation metrics.k8s.io/resource-metrics-path and the kubelet version"
    )]
    NotFound { url: String },

    #[error("request to {url} failed, status: \"{status}\"{}", body_suffix(body))]
    Status {
        url: String,
        status: http::StatusCode,
        body: String,
    },

    #[error("the response of {url} is larger than the {limit}-byte limit")]
    BodyTooLarge { url: String, limit: usize },

    #[error("reading the response of {url} failed: {detail}")]
    Body { url: String, detail: String },

    #[error("request to {url} failed: {detail}")]
    Transport { url: String, detail: String },

    #[error("could not decode the response of {url}: {source}")]
    Decode {
        url: String,
        #[source]
        source: DecodeError,
    },

    #[error("internal error while scraping: {detail}")]
    Internal { detail: String },
}

fn body_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

impl ScrapeError {
    /// A short, stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            ScrapeError::NoAddress { .. } => "no_address",
            ScrapeError::InvalidAddress { .. } => "invalid_address",
            ScrapeError::Dns { .. } => "dns",
            ScrapeError::ConnectionRefused { .. } => "connection_refused",
            ScrapeError::ConnectTimeout { .. } => "connect_timeout",
            ScrapeError::Connect { .. } => "connect",
            ScrapeError::RequestTimeout { .. } => "request_timeout",
            ScrapeError::DeadlineExceeded => "deadline_exceeded",
            ScrapeError::Tls { problem, .. } => problem.reason(),
            ScrapeError::Unauthorized { .. } => "unauthorized",
            ScrapeError::Forbidden { .. } => "forbidden",
            ScrapeError::NotFound { .. } => "not_found",
            ScrapeError::Status { .. } => "http_status",
            ScrapeError::BodyTooLarge { .. } => "body_too_large",
            ScrapeError::Body { .. } => "body",
            ScrapeError::Transport { .. } => "transport",
            ScrapeError::Decode { .. } => "decode",
            ScrapeError::Internal { .. } => "internal",
        }
    }

    /// Whether the node ran out of time (connecting, answering, or the whole cycle).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            ScrapeError::ConnectTimeout { .. }
                | ScrapeError::RequestTimeout { .. }
                | ScrapeError::DeadlineExceeded
        )
    }
}

/// What went wrong in a TLS handshake with a kubelet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsProblem {
    /// The serving certificate does not chain to a trusted CA.
    UnknownAuthority,
    /// The certificate does not name the address that was dialled.
    NameMismatch {
        host: String,
        presented: Vec<String>,
    },
    Expired,
    NotYetValid,
    /// The kubelet aborted with `internal_error`: typically it has no serving certificate yet.
    KubeletHasNoCertificate,
    /// The kubelet refused our client certificate.
    ClientCertificateRejected {
        alert: String,
    },
    Other(String),
}

impl TlsProblem {
    fn reason(&self) -> &'static str {
        match self {
            TlsProblem::UnknownAuthority => "tls_unknown_authority",
            TlsProblem::NameMismatch { .. } => "tls_name_mismatch",
            TlsProblem::Expired => "tls_expired",
            TlsProblem::NotYetValid => "tls_not_yet_valid",
            TlsProblem::KubeletHasNoCertificate => "tls_no_serving_certificate",
            TlsProblem::ClientCertificateRejected { .. } => "tls_client_certificate_rejected",
            TlsProblem::Other(_) => "tls",
        }
    }
}

const TLS_REMEDIES: &str = "use kubelet serving certificates signed by the cluster CA (serverTLSBootstrap: true), \
     pass the CA that signs them with --kubelet-certificate-authority, or skip verification with \
     --kubelet-insecure-tls (insecure)";

impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsProblem::UnknownAuthority => write!(
                f,
                "x509: certificate signed by unknown authority: the kubelet's serving certificate is not \
                 signed by a CA metrics-server trusts; {TLS_REMEDIES}"
            ),
            TlsProblem::NameMismatch { host, presented } => {
                write!(f, "x509: the kubelet certificate is not valid for {host}")?;
                if !presented.is_empty() {
                    write!(f, " (it names {})", presented.join(", "))?;
                }
                write!(
                    f,
                    "; pick an address type the certificate names with --kubelet-preferred-address-types, or {TLS_REMEDIES}"
                )
            }
            TlsProblem::Expired => write!(
                f,
                "x509: the kubelet's serving certificate has expired; enable kubelet certificate rotation \
                 (serverTLSBootstrap: true) or renew it"
            ),
            TlsProblem::NotYetValid => write!(
                f,
                "x509: the kubelet's serving certificate is not valid yet; check the clocks of the node and of metrics-server"
            ),
            TlsProblem::KubeletHasNoCertificate => write!(
                f,
                "remote error: tls: internal error: the kubelet has no serving certificate yet; with \
                 serverTLSBootstrap its certificate signing request may be waiting for approval (kubectl get csr)"
            ),
            TlsProblem::ClientCertificateRejected { alert } => write!(
                f,
                "the kubelet rejected the client certificate ({alert}); check --kubelet-client-certificate \
                 against the kubelet's authentication.x509.clientCAFile"
            ),
            TlsProblem::Other(detail) => f.write_str(detail),
        }
    }
}

/// Why the kubelet client could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error(
        "no CA to verify kubelet serving certificates: pass --kubelet-certificate-authority, use a \
         kubeconfig with a CA, or --kubelet-insecure-tls (insecure)"
    )]
    NoTrustAnchors,
    #[error("could not read the {what} PEM: {detail}")]
    Pem { what: &'static str, detail: String },
    #[error("the {what} PEM holds no certificate")]
    NoCertificates { what: &'static str },
    #[error(
        "a kubelet client certificate needs a key, and a key needs a certificate: give both or neither"
    )]
    IncompleteClientIdentity,
    #[error("TLS configuration rejected: {0}")]
    Tls(#[from] rustls::Error),
    #[error("could not read the bearer token file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the bearer token contains characters not allowed in an HTTP header")]
    InvalidToken,
    #[error("the user agent contains characters not allowed in an HTTP header")]
    InvalidUserAgent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_remedy() {
        let err = ScrapeError::Tls {
            url: "https://10.0.0.5:10250/metrics/resource".into(),
            problem: TlsProblem::NameMismatch {
                host: "10.0.0.5".into(),
                presented: vec!["worker-1".into()],
            },
        };
        let text = err.to_string();
        assert!(
            text.contains("not valid for 10.0.0.5 (it names worker-1)"),
            "{text}"
        );
        assert!(
            text.contains("serverTLSBootstrap") && text.contains("--kubelet-insecure-tls"),
            "{text}"
        );
        assert_eq!(err.reason(), "tls_name_mismatch");

        let err = ScrapeError::Forbidden {
            url: "u".into(),
            subresource: "nodes/metrics",
            body: "Forbidden (user=x, verb=get, resource=nodes, subresource=metrics)".into(),
        };
        assert_eq!(
            err.to_string(),
            "the kubelet at u denied access (403 Forbidden: Forbidden (user=x, verb=get, resource=nodes, \
             subresource=metrics)): grant get on nodes/metrics to metrics-server's service account (ClusterRole system:metrics-server)"
        );
        let err = ScrapeError::NoAddress {
            types: vec!["InternalIP".into(), "Hostname".into()],
        };
        assert!(
            err.to_string()
                .starts_with("no address matched types [InternalIP,Hostname]")
        );
    }
}
