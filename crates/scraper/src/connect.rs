//! How the scraper reaches a kubelet: resolve the name (rarely: nodes are usually addressed by
//! IP), open TCP directly or through the environment's proxy (`HTTPS_PROXY`, `NO_PROXY`, as Go's
//! transport does), then TLS; all of it bounded by the connect timeout. Failures carry typed
//! markers ([`DnsFailed`], [`ConnectTimedOut`]) so the client can tell an operator which step
//! failed without reading error text.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tower::Service;

type BoxError = Box<dyn StdError + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// The kubelet's host name did not resolve.
#[derive(Debug)]
pub(crate) struct DnsFailed(pub(crate) std::io::Error);

impl fmt::Display for DnsFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "resolving the kubelet's host name: {}", self.0)
    }
}

impl StdError for DnsFailed {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

/// TCP and TLS together took longer than the connect timeout.
#[derive(Debug)]
pub(crate) struct ConnectTimedOut;

impl fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connect timeout")
    }
}

impl StdError for ConnectTimedOut {}

/// Name resolution with its failures marked as [`DnsFailed`].
#[derive(Clone, Debug)]
pub(crate) struct Resolver(GaiResolver);

impl Service<Name> for Resolver {
    type Response = <GaiResolver as Service<Name>>::Response;
    type Error = DnsFailed;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx).map_err(DnsFailed)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolving = self.0.call(name);
        Box::pin(async move { resolving.await.map_err(DnsFailed) })
    }
}

/// Opens the TCP stream: directly, or through a `CONNECT` tunnel when the environment names a
/// proxy for the kubelet's URL.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    direct: HttpConnector<Resolver>,
    proxies: Option<Arc<Matcher>>,
}

impl Service<Uri> for Route {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        match self.proxies.as_ref().and_then(|m| m.intercept(&dst)) {
            Some(proxy) => {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), self.direct.clone());
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                Box::pin(async move { tunnel.call(dst).await.map_err(Into::into) })
            }
            None => {
                let mut direct = self.direct.clone();
                Box::pin(async move { direct.call(dst).await.map_err(Into::into) })
            }
        }
    }
}

/// TCP (or the tunnel) plus TLS, bounded as a whole by the connect timeout.
#[derive(Clone, Debug)]
pub(crate) struct KubeletConnector {
    https: HttpsConnector<Route>,
    timeout: Duration,
}

impl KubeletConnector {
    /// `proxy_from_env` honours `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (and their lower-case
    /// forms) as read at start.
    pub(crate) fn new(tls: ClientConfig, timeout: Duration, proxy_from_env: bool) -> Self {
        let mut direct = HttpConnector::new_with_resolver(Resolver(GaiResolver::new()));
        // The scheme is the TLS layer's business; this one only opens TCP.
        direct.enforce_http(false);
        direct.set_nodelay(true);
        direct.set_keepalive(Some(Duration::from_secs(30)));
        let route = Route {
            direct,
            proxies: proxy_from_env.then(|| Arc::new(Matcher::from_env())),
        };
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(route);
        KubeletConnector { https, timeout }
    }
}

impl Service<Uri> for KubeletConnector {
    type Response = <HttpsConnector<Route> as Service<Uri>>::Response;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.https.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = self.https.call(dst);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(result) => result,
                Err(_) => Err(Box::new(ConnectTimedOut) as BoxError),
            }
        })
    }
}
