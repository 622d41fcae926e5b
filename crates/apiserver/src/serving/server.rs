//! The accept loop: a cap on open connections, TLS handshakes (each with a deadline, none
//! blocking the loop), one hyper-util `auto` connection per client (HTTP/2 or HTTP/1.1) closed
//! once idle, the peer's certificate chain attached to every request, and a graceful drain on
//! shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use rustls::ServerConfig;
use rustls::pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::certificate::{CertKeyFiles, ReloadingCertificate};
use super::client_cert::RequestClientCert;
use super::{PeerInfo, ServingConfig, self_signed};
use crate::error::ServeError;
use crate::log_limit::LogLimiter;

/// Binds like Go's listener: SO_REUSEADDR always, SO_REUSEPORT when asked.
fn listen(address: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if reuse_port {
        socket.set_reuseport(true)?;
    }
    socket.bind(address)?;
    socket.listen(1024)
}

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// hyper's slow-header protection for HTTP/1.1.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP/2 pings on a connection that has been quiet this long, and how long the answer may
/// take: a peer that vanished (a restarted aggregator's node) is found and its streams freed.
const HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const HTTP2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Go's apiserver limit on request header bytes (`MaxHeaderBytes`), for HTTP/2 header lists.
const MAX_HEADER_LIST_BYTES: u32 = 1024 * 1024;

/// A bound HTTPS listener, ready to serve.
pub struct SecureServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<ConnectionSettings>,
    connection_slots: Arc<Semaphore>,
    certificate: Arc<ReloadingCertificate>,
    cert_files: CertKeyFiles,
    cert_reload_interval: Duration,
    shutdown_timeout: Duration,
}

/// What every connection task needs.
struct ConnectionSettings {
    acceptor: TlsAcceptor,
    http: Builder<TokioExecutor>,
    handshake_timeout: Duration,
    idle_timeout: Duration,
}

impl std::fmt::Debug for SecureServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureServer")
            .field("local_addr", &self.local_addr)
            .field("cert_files", &self.cert_files)
            .finish_non_exhaustive()
    }
}

impl SecureServer {
    /// Validates `config`, loads (or creates, in `--cert-dir`) the serving certificate and
    /// binds the listening socket.
    pub async fn bind(config: &ServingConfig) -> Result<SecureServer, ServeError> {
        let tls = config.tls_settings()?;
        let cert_files = match (&config.tls_cert_file, &config.tls_private_key_file) {
            (Some(cert), Some(key)) => CertKeyFiles {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => self_signed::ensure_pair(&config.cert_dir)?,
        };
        let certificate = Arc::new(ReloadingCertificate::load(
            cert_files.clone(),
            tls.provider.clone(),
        )?);

        let mut server_config = ServerConfig::builder_with_provider(tls.provider.clone())
            .with_protocol_versions(tls.versions)?
            .with_client_cert_verifier(Arc::new(RequestClientCert::new(&tls.provider)))
            .with_cert_resolver(certificate.clone());
        server_config.alpn_protocols = if config.disable_http2 {
            vec![b"http/1.1".to_vec()]
        } else {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        };

        let mut http = Builder::new(TokioExecutor::new());
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        http.http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(HTTP2_KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(HTTP2_KEEP_ALIVE_TIMEOUT)
            .max_header_list_size(MAX_HEADER_LIST_BYTES);
        if config.http2_max_streams_per_connection > 0 {
            http.http2()
                .max_concurrent_streams(config.http2_max_streams_per_connection);
        }
        if config.disable_http2 {
            http = http.http1_only();
        }

        let address = config.socket_addr();
        let listener = listen(address, config.permit_port_sharing)
            .map_err(|source| ServeError::Bind { address, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { address, source })?;
        Ok(SecureServer {
            listener,
            local_addr,
            shared: Arc::new(ConnectionSettings {
                acceptor: TlsAcceptor::from(Arc::new(server_config)),
                http,
                handshake_timeout: config.handshake_timeout,
                idle_timeout: config.idle_timeout,
            }),
            connection_slots: Arc::new(Semaphore::new(config.max_connections.max(1))),
            certificate,
            cert_files,
            cert_reload_interval: config.cert_reload_interval,
            shutdown_timeout: config.shutdown_timeout,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The serving certificate file in use (the generated one with `--cert-dir`).
    pub fn cert_file(&self) -> &Path {
        &self.cert_files.cert
    }

    /// Serves `app` until `shutdown` fires, then stops accepting, lets open connections
    /// finish for up to the shutdown timeout and closes whatever is left.
    pub async fn serve(self, app: Router, shutdown: CancellationToken) -> Result<(), ServeError> {
        let reload = tokio::spawn(
            self.certificate
                .clone()
                .poll(self.cert_reload_interval, shutdown.child_token()),
        );
        let mut connections = JoinSet::new();
        let refused_log = LogLimiter::new();
        tracing::info!(address = %self.local_addr, "serving securely");
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                // Reap finished connection tasks so the set does not grow forever.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, remote_addr)) => {
                        let Ok(slot) = self.connection_slots.clone().try_acquire_owned() else {
                            // Closed at once: the client sees a reset instead of waiting in
                            // the backlog, and nothing is spent on a handshake.
                            drop(tcp);
                            if let Some(suppressed) = refused_log.admit() {
                                tracing::warn!(%remote_addr, suppressed, open = connections.len(), "connection refused: too many open connections");
                            }
                            continue;
                        };
                        connections.spawn(serve_connection(
                            tcp,
                            remote_addr,
                            self.shared.clone(),
                            app.clone(),
                            shutdown.clone(),
                            slot,
                        ));
                    }
                    Err(error) => {
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    }
                },
            }
        }
        drop(self.listener);
        // Every connection task has seen `shutdown` and is finishing its requests (HTTP/2:
        // GOAWAY, HTTP/1.1: close after the current response).
        tracing::info!(
            open = connections.len(),
            "shutting down: draining connections"
        );
        let drained = tokio::time::timeout(self.shutdown_timeout, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(timeout = ?self.shutdown_timeout, open = connections.len(), "closing connections still open after the shutdown timeout");
        }
        connections.shutdown().await;
        // The reload task ends with `shutdown`; a panic inside it is not worth failing over.
        let _ = reload.await;
        Ok(())
    }
}

/// What a connection is doing, for the idle timeout: requests in flight (until their response
/// body is written) and when the last one began or ended.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened`.
    last_change_ms: AtomicU64,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_change_ms: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_change_ms.store(ms, Ordering::Relaxed);
    }

    fn begin(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        RequestGuard(self.clone())
    }

    /// When the connection becomes idle for `timeout`, or `None` while a request is open.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        (self.in_flight.load(Ordering::Relaxed) == 0).then(|| {
            self.opened
                + Duration::from_millis(self.last_change_ms.load(Ordering::Relaxed))
                + timeout
        })
    }
}

/// Ends a request's activity when dropped (with its response body).
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve_connection(
    tcp: TcpStream,
    remote_addr: SocketAddr,
    shared: Arc<ConnectionSettings>,
    app: Router,
    shutdown: CancellationToken,
    _slot: OwnedSemaphorePermit,
) {
    // Small request/response exchanges: do not wait to coalesce packets.
    let _ = tcp.set_nodelay(true);
    let handshake = tokio::time::timeout(shared.handshake_timeout, shared.acceptor.accept(tcp));
    let tls = tokio::select! {
        () = shutdown.cancelled() => return,
        result = handshake => match result {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => {
                tracing::debug!(%remote_addr, %error, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%remote_addr, "TLS handshake timed out");
                return;
            }
        },
    };
    if shutdown.is_cancelled() {
        return;
    }
    let peer = PeerInfo {
        remote_addr,
        certificates: tls
            .get_ref()
            .1
            .peer_certificates()
            .map(Arc::<[CertificateDer<'static>]>::from)
            .unwrap_or_else(|| Arc::from(Vec::new())),
    };
    let activity = Activity::new();
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            request.extensions_mut().insert(peer.clone());
            let guard = activity.begin();
            let answer = app.clone().oneshot(request);
            async move {
                let response = answer.await?;
                // The request stays in flight until its body has been written (a long list,
                // a watch), so a connection is never idle while it is still sending.
                Ok::<_, std::convert::Infallible>(response.map(move |body| {
                    Body::new(body.map_frame(move |frame| {
                        let _ = &guard;
                        frame
                    }))
                }))
            }
        })
    };
    let mut connection = pin!(
        shared
            .http
            .serve_connection_with_upgrades(TokioIo::new(tls), service)
    );
    let idle_check = tokio::time::sleep(shared.idle_timeout);
    let mut idle_check = pin!(idle_check);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%remote_addr, %error, "connection ended with an error");
                }
                return;
            }
            () = shutdown.cancelled(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            () = &mut idle_check, if !closing => {
                match activity.idle_deadline(shared.idle_timeout) {
                    Some(deadline) if deadline <= Instant::now() => {
                        tracing::debug!(%remote_addr, "closing an idle connection");
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    Some(deadline) => idle_check.as_mut().reset(deadline),
                    // Busy: look again one timeout from now.
                    None => idle_check.as_mut().reset(Instant::now() + shared.idle_timeout),
                }
            }
        }
    }
}
