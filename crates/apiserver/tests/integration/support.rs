//! Shared test fixtures: throwaway PKI on disk, a fake kube-apiserver (TokenReview,
//! SubjectAccessReview and the authentication ConfigMap with list+watch) served over
//! real TLS, the secure server under test, and reqwest clients.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use generic_apiserver::{
    AuthenticationConfig, AuthorizationConfig, DelegatedSecurity, PeerInfo, RequestInfo,
    SecureServer, ServeError, ServingConfig, UserInfo,
};
use http::StatusCode;
use serde_json::{Value, json};
use testkit::pki::{Issued, TestCa};
use testkit::tls_server::{TestServer, serve_tls};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A directory removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let unique = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "metrics-api-it-{name}-{}-{unique}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The CAs of a test cluster, with the serving pair and CA bundles written to disk.
pub struct Pki {
    pub serving_ca: TestCa,
    pub client_ca: TestCa,
    pub front_proxy_ca: TestCa,
    pub dir: TempDir,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        testkit::init();
        let pki = Pki {
            serving_ca: TestCa::new("serving-ca").unwrap(),
            client_ca: TestCa::new("kubernetes").unwrap(),
            front_proxy_ca: TestCa::new("front-proxy-ca").unwrap(),
            dir: TempDir::new(name),
        };
        let serving = pki
            .serving_ca
            .server("localhost", &["localhost"], &[LOCALHOST])
            .unwrap();
        std::fs::write(pki.dir.path("tls.crt"), &serving.cert_pem).unwrap();
        std::fs::write(pki.dir.path("tls.key"), &serving.key_pem).unwrap();
        std::fs::write(pki.dir.path("client-ca.crt"), &pki.client_ca.cert_pem).unwrap();
        std::fs::write(
            pki.dir.path("front-proxy-ca.crt"),
            &pki.front_proxy_ca.cert_pem,
        )
        .unwrap();
        pki
    }

    pub fn serving_config(&self) -> ServingConfig {
        ServingConfig {
            bind_address: LOCALHOST,
            secure_port: 0,
            tls_cert_file: Some(self.dir.path("tls.crt")),
            tls_private_key_file: Some(self.dir.path("tls.key")),
            cert_reload_interval: Duration::from_millis(50),
            shutdown_timeout: Duration::from_secs(5),
            ..ServingConfig::default()
        }
    }

    /// Flags trusting this PKI's client CA and front-proxy CA (CN `front-proxy-client`).
    pub fn authentication_flags(&self, allowed_names: &[&str]) -> AuthenticationConfig {
        let mut config = AuthenticationConfig {
            client_ca_file: Some(self.dir.path("client-ca.crt")),
            skip_lookup: true,
            ..AuthenticationConfig::default()
        };
        config.request_header.client_ca_file = Some(self.dir.path("front-proxy-ca.crt"));
        config.request_header.allowed_names = allowed_names.iter().map(|s| s.to_string()).collect();
        config
    }

    /// A reqwest client trusting the serving CA, optionally presenting `identity`.
    pub fn client(&self, identity: Option<&Issued>) -> reqwest::Client {
        client_trusting(&self.serving_ca, identity)
    }
}

pub fn client_trusting(ca: &TestCa, identity: Option<&Issued>) -> reqwest::Client {
    testkit::init();
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_der(&ca.cert_der).unwrap()]);
    if let Some(identity) = identity {
        builder = builder
            .identity(reqwest::Identity::from_pem(identity.identity_pem().as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// The secure server under test.
pub struct Running {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub registry: prometheus::Registry,
    task: JoinHandle<Result<(), ServeError>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    /// Stops the server and waits for `serve` to return.
    pub async fn stop(self) -> Result<(), ServeError> {
        self.shutdown.cancel();
        self.task.await.unwrap()
    }
}

/// Starts delegated security with `authn`/`authz` and a fake apiserver client (if any),
/// then serves `router` behind it.
pub async fn start(
    serving: ServingConfig,
    router: Router,
    authn: &AuthenticationConfig,
    authz: &AuthorizationConfig,
    client: Option<kube::Client>,
) -> Result<Running> {
    let shutdown = CancellationToken::new();
    let registry = prometheus::Registry::new();
    let security = DelegatedSecurity::start(
        authn,
        client.clone(),
        authz,
        client,
        &registry,
        shutdown.clone(),
    )
    .await?;
    let server = SecureServer::bind(&serving).await?;
    let addr = server.local_addr();
    let task = tokio::spawn(server.serve(security.protect(router), shutdown.clone()));
    Ok(Running {
        addr,
        shutdown,
        registry,
        task,
    })
}

/// Authorization that lets everything under `/echo` through without a review.
pub fn echo_allowed() -> AuthorizationConfig {
    AuthorizationConfig {
        always_allow_paths: vec!["/echo*".into(), "/healthz".into()],
        ..AuthorizationConfig::default()
    }
}

/// Answers every request with what the security layer established about it.
pub fn echo_router() -> Router {
    async fn echo(
        Extension(user): Extension<UserInfo>,
        Extension(info): Extension<RequestInfo>,
        Extension(peer): Extension<PeerInfo>,
        headers: http::HeaderMap,
    ) -> Json<Value> {
        let identity_headers: Vec<&str> = headers
            .keys()
            .map(|name| name.as_str())
            .filter(|name| name.starts_with("x-remote-") || *name == "authorization")
            .collect();
        Json(json!({
            "user": {"name": user.name, "uid": user.uid, "groups": user.groups, "extra": user.extra},
            "info": {"verb": info.verb, "resource": info.resource, "name": info.name, "namespace": info.namespace, "path": info.path},
            "identityHeaders": identity_headers,
            "remotePort": peer.remote_addr.port(),
        }))
    }
    Router::new().fallback(echo)
}

/// Test-controlled behaviour of the fake kube-apiserver.
#[derive(Default)]
pub struct FakeApiserver {
    /// token → `status.user` of an authenticated TokenReview; other tokens are rejected.
    pub tokens: Mutex<HashMap<String, Value>>,
    /// Users whose SubjectAccessReviews are allowed.
    pub allowed_users: Mutex<HashSet<String>>,
    /// When set, every review is answered with this HTTP status.
    pub fail_with: Mutex<Option<StatusCode>>,
    pub token_reviews: AtomicUsize,
    pub access_reviews: AtomicUsize,
    pub last_access_review: Mutex<Option<Value>>,
    /// The authentication ConfigMap, if it exists.
    pub configmap: Mutex<Option<Value>>,
    pub configmap_events: Mutex<Option<broadcast::Sender<Value>>>,
    resource_version: AtomicUsize,
}

impl FakeApiserver {
    pub fn new() -> Arc<FakeApiserver> {
        let fake = FakeApiserver::default();
        *fake.configmap_events.lock().unwrap() = Some(broadcast::channel(16).0);
        Arc::new(fake)
    }

    pub fn allow_token(&self, token: &str, user: Value) {
        self.tokens.lock().unwrap().insert(token.to_owned(), user);
    }

    pub fn allow_user(&self, user: &str) {
        self.allowed_users.lock().unwrap().insert(user.to_owned());
    }

    /// Replaces the ConfigMap and tells watchers.
    pub fn set_configmap(&self, data: Value) {
        let version = self.resource_version.fetch_add(1, Ordering::SeqCst) + 1;
        let configmap = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "extension-apiserver-authentication",
                "namespace": "kube-system",
                "resourceVersion": version.to_string(),
            },
            "data": data,
        });
        *self.configmap.lock().unwrap() = Some(configmap.clone());
        if let Some(events) = self.configmap_events.lock().unwrap().as_ref() {
            let _ = events.send(json!({"type": "MODIFIED", "object": configmap}));
        }
    }

    fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(
                "/apis/authentication.k8s.io/v1/tokenreviews",
                post(token_review),
            )
            .route(
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                post(access_review),
            )
            .route(
                "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication",
                get(get_configmap),
            )
            .route(
                "/api/v1/namespaces/kube-system/configmaps",
                get(list_or_watch_configmaps),
            )
            .with_state(self.clone())
    }

    /// Serves the fake over TLS and returns it with a kube client pointing at it.
    pub async fn serve(self: &Arc<Self>, pki: &Pki) -> Result<(TestServer, kube::Client)> {
        let cert = pki
            .serving_ca
            .server("localhost", &["localhost"], &[LOCALHOST])?;
        let server = serve_tls(
            SocketAddr::new(LOCALHOST, 0),
            vec![cert.cert_der.clone()],
            cert.key(),
            None,
            self.router(),
        )
        .await?;
        let client = kube_client(&server.url(), pki)?;
        Ok((server, client))
    }
}

/// A kube client for `url` that trusts the PKI's serving CA.
pub fn kube_client(url: &str, pki: &Pki) -> Result<kube::Client> {
    let mut config = kube::Config::new(url.parse().context("apiserver url")?);
    config.root_cert = Some(vec![pki.serving_ca.cert_der.to_vec()]);
    config.connect_timeout = Some(Duration::from_secs(5));
    Ok(kube::Client::try_from(config)?)
}

fn status(code: StatusCode, message: &str) -> Response {
    let reason = match code {
        StatusCode::NOT_FOUND => "NotFound",
        _ => "InternalError",
    };
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code.as_u16()});
    (code, Json(body)).into_response()
}

async fn token_review(
    State(fake): State<Arc<FakeApiserver>>,
    Json(mut review): Json<Value>,
) -> Response {
    fake.token_reviews.fetch_add(1, Ordering::SeqCst);
    if let Some(code) = *fake.fail_with.lock().unwrap() {
        return status(code, "etcdserver: request timed out");
    }
    let token = review["spec"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    review["status"] = match fake.tokens.lock().unwrap().get(&token) {
        Some(user) => {
            json!({"authenticated": true, "user": user, "audiences": ["https://kubernetes.default.svc"]})
        }
        None => json!({"user": {}, "error": "[invalid bearer token, token lookup failed]"}),
    };
    (StatusCode::CREATED, Json(review)).into_response()
}

async fn access_review(
    State(fake): State<Arc<FakeApiserver>>,
    Json(mut review): Json<Value>,
) -> Response {
    fake.access_reviews.fetch_add(1, Ordering::SeqCst);
    *fake.last_access_review.lock().unwrap() = Some(review.clone());
    if let Some(code) = *fake.fail_with.lock().unwrap() {
        return status(code, "etcdserver: request timed out");
    }
    let user = review["spec"]["user"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    review["status"] = if fake.allowed_users.lock().unwrap().contains(&user) {
        json!({"allowed": true, "reason": "RBAC: allowed by ClusterRoleBinding \"test\""})
    } else {
        json!({"allowed": false})
    };
    (StatusCode::CREATED, Json(review)).into_response()
}

async fn get_configmap(State(fake): State<Arc<FakeApiserver>>) -> Response {
    match fake.configmap.lock().unwrap().clone() {
        Some(configmap) => Json(configmap).into_response(),
        None => status(
            StatusCode::NOT_FOUND,
            "configmaps \"extension-apiserver-authentication\" not found",
        ),
    }
}

async fn list_or_watch_configmaps(
    State(fake): State<Arc<FakeApiserver>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let watching = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    if !watching {
        let items: Vec<Value> = fake.configmap.lock().unwrap().iter().cloned().collect();
        let version = fake.resource_version.load(Ordering::SeqCst).to_string();
        return Json(json!({
            "apiVersion": "v1",
            "kind": "ConfigMapList",
            "metadata": {"resourceVersion": version},
            "items": items,
        }))
        .into_response();
    }
    let Some(events) = fake
        .configmap_events
        .lock()
        .unwrap()
        .as_ref()
        .map(|s| s.subscribe())
    else {
        return status(StatusCode::INTERNAL_SERVER_ERROR, "no event channel");
    };
    // Like a real apiserver, replay what changed after the resourceVersion the client
    // listed at (subscribing first, so nothing falls in between).
    let since: usize = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let missed = fake.configmap.lock().unwrap().clone().filter(|configmap| {
        configmap["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|version| version > since)
    });
    let replay = missed.map(|configmap| json!({"type": "MODIFIED", "object": configmap}));
    let lines = futures_util::stream::unfold((replay, events), |(replay, mut events)| async move {
        if let Some(event) = replay {
            let mut line = serde_json::to_vec(&event).unwrap_or_default();
            line.push(b'\n');
            return Some((
                Ok::<_, std::convert::Infallible>(Bytes::from(line)),
                (None, events),
            ));
        }
        loop {
            match events.recv().await {
                Ok(event) => {
                    let mut line = serde_json::to_vec(&event).unwrap_or_default();
                    line.push(b'\n');
                    return Some((Ok(Bytes::from(line)), (None, events)));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Response::builder()
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(lines))
        .unwrap()
}

/// Polls `check` until it returns true (at most ~10 s); for waiting on background reloads,
/// not for timing assertions.
pub async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Reads a fixture as JSON.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/../testkit/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}
