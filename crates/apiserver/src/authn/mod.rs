//! Delegated authentication, in the Go generic apiserver's order (k8s.io/apiserver `pkg/server/options/authentication.go`):
//!
//! 1. front proxy: a client certificate from the request-header CA (CN allowed) plus
//!    `X-Remote-*` headers (`request_header`);
//! 2. a client certificate from the client CA (`x509`);
//! 3. a bearer token, checked by TokenReview (`token`);
//! 4. otherwise anonymous.
//!
//! The first success wins and gains `system:authenticated`. A credential that was
//! presented but rejected by every method gives 401; a TokenReview that could not be
//! completed gives 503 (never an allow, never cached). CA pools and header names come from
//! flags or the `extension-apiserver-authentication` ConfigMap, which is watched so
//! rotations apply without a restart (`trust`).

mod ca_pool;
mod request_header;
mod token;
mod trust;
mod user;
mod x509;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use rustls::pki_types::CertificateDer;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::ca_pool::CaPool;
use self::request_header::{HeaderNames, RequestHeaderTrust};
use self::token::{TokenAuthenticator, TokenSettings};
pub use self::trust::{CONFIGMAP_NAME, CONFIGMAP_NAMESPACE};
use self::trust::{TrustSnapshot, TrustStore};
pub use self::user::{
    ANONYMOUS_USER, AUTHENTICATED_GROUP, CREDENTIAL_ID_KEY, UNAUTHENTICATED_GROUP, UserInfo,
};
use crate::delegated::DelegatedCheckError;
use crate::error::SecurityError;
use crate::log_limit::LogLimiter;
use crate::metrics::{AuthnResult, SecurityMetrics};

/// Front-proxy flags (`--requestheader-*`). They apply only when `client_ca_file` is set;
/// otherwise the whole block comes from the ConfigMap, as in Go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeaderOptions {
    /// `--requestheader-client-ca-file`.
    pub client_ca_file: Option<PathBuf>,
    /// `--requestheader-allowed-names`; empty accepts any CN the CA signed.
    pub allowed_names: Vec<String>,
    /// `--requestheader-username-headers`.
    pub username_headers: Vec<String>,
    /// `--requestheader-group-headers`.
    pub group_headers: Vec<String>,
    /// `--requestheader-extra-headers-prefix`.
    pub extra_headers_prefix: Vec<String>,
    /// `--requestheader-uid-headers`.
    pub uid_headers: Vec<String>,
}

impl Default for RequestHeaderOptions {
    fn default() -> Self {
        RequestHeaderOptions {
            client_ca_file: None,
            allowed_names: Vec::new(),
            username_headers: vec!["x-remote-user".to_owned()],
            group_headers: vec!["x-remote-group".to_owned()],
            extra_headers_prefix: vec!["x-remote-extra-".to_owned()],
            uid_headers: Vec::new(),
        }
    }
}

/// Delegated authentication settings (`DelegatingAuthenticationOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationConfig {
    /// `--client-ca-file`.
    pub client_ca_file: Option<PathBuf>,
    /// `--requestheader-*`.
    pub request_header: RequestHeaderOptions,
    /// `--authentication-skip-lookup`: never read the ConfigMap.
    pub skip_lookup: bool,
    /// `--authentication-tolerate-lookup-failure`: start even if the ConfigMap cannot be read.
    pub tolerate_lookup_failure: bool,
    /// `--authentication-token-webhook-cache-ttl` (10 s); zero disables the cache.
    pub token_cache_ttl: Duration,
    /// Most TokenReview answers kept at once.
    pub token_cache_capacity: u64,
    /// Deadline of each TokenReview and of the start-up ConfigMap read (10 s, as Go).
    pub webhook_timeout: Duration,
    /// Whether requests without credentials become `system:anonymous` (Go's default) or 401.
    pub anonymous: bool,
}

impl Default for AuthenticationConfig {
    fn default() -> Self {
        AuthenticationConfig {
            client_ca_file: None,
            request_header: RequestHeaderOptions::default(),
            skip_lookup: false,
            tolerate_lookup_failure: false,
            token_cache_ttl: Duration::from_secs(10),
            token_cache_capacity: 10_000,
            webhook_timeout: Duration::from_secs(10),
            anonymous: true,
        }
    }
}

/// What one authenticator made of a request.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// This method does not apply (no certificate, no token, no user header...).
    NotApplicable,
    /// A user was established.
    Authenticated(UserInfo),
    /// A credential was presented and is not valid; the reason is only logged.
    Rejected(String),
    /// The method could not reach a verdict.
    Unavailable(DelegatedCheckError),
}

/// Why a request has no user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthenticationFailure {
    /// Presented credentials were rejected (401). The reason is for logs, not for the client.
    Unauthorized(String),
    /// A delegated check could not be completed (503, retry later).
    Unavailable(String),
}

/// The authentication chain.
#[derive(Debug)]
pub struct Authenticator {
    trust: Arc<TrustStore>,
    tokens: Option<TokenAuthenticator>,
    anonymous: bool,
    metrics: Arc<SecurityMetrics>,
    /// Anyone can make authentication fail at will; its log lines are rate-limited.
    failure_log: LogLimiter,
}

impl Authenticator {
    /// Loads flag-given CAs, reads the ConfigMap once (failing unless
    /// `tolerate_lookup_failure`), then watches it until `shutdown`. `client` (from
    /// `--authentication-kubeconfig`) serves TokenReviews and the ConfigMap; without one,
    /// only flag-given certificates and anonymous requests work, as in Go.
    pub async fn start(
        config: &AuthenticationConfig,
        client: Option<kube::Client>,
        metrics: Arc<SecurityMetrics>,
        shutdown: CancellationToken,
    ) -> Result<Authenticator, SecurityError> {
        let lookup = !config.skip_lookup && client.is_some();
        if !config.skip_lookup && client.is_none() {
            tracing::warn!(
                "no kube-apiserver client: configmap/{CONFIGMAP_NAME} in {CONFIGMAP_NAMESPACE} will not be read and bearer tokens cannot be checked"
            );
        }
        let trust = Arc::new(TrustStore::new(flag_trust(config)?, lookup));
        if let Some(client) = client.as_ref().filter(|_| trust.wants_configmap()) {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), CONFIGMAP_NAMESPACE);
            initial_lookup(&trust, &api, config).await?;
            let updates =
                kube::runtime::watcher::watch_object(api, CONFIGMAP_NAME).default_backoff();
            let watched = trust.clone();
            let stop = shutdown.child_token();
            tokio::spawn(async move { watched.follow_configmap(updates, stop).await });
        }
        let tokens = client.map(|client| {
            let settings = TokenSettings {
                cache_ttl: config.token_cache_ttl,
                cache_capacity: config.token_cache_capacity,
                timeout: config.webhook_timeout,
            };
            TokenAuthenticator::new(client, settings, metrics.clone())
        });
        Ok(Authenticator {
            trust,
            tokens,
            anonymous: config.anonymous,
            metrics,
            failure_log: LogLimiter::new(),
        })
    }

    /// Authenticates a request that arrived with the TLS peer chain `peer_chain`, removing
    /// the identity headers (always) and a successfully used bearer token.
    pub async fn authenticate(
        &self,
        headers: &mut HeaderMap,
        peer_chain: &[CertificateDer<'static>],
    ) -> Result<UserInfo, AuthenticationFailure> {
        let started = Instant::now();
        let outcome = self.run_chain(headers, peer_chain).await;
        let result = match &outcome {
            Ok(_) => AuthnResult::Success,
            Err(AuthenticationFailure::Unauthorized(_)) => AuthnResult::Failure,
            Err(AuthenticationFailure::Unavailable(_)) => AuthnResult::Error,
        };
        self.metrics.authentication(result, started.elapsed());
        outcome
    }

    async fn run_chain(
        &self,
        headers: &mut HeaderMap,
        chain: &[CertificateDer<'static>],
    ) -> Result<UserInfo, AuthenticationFailure> {
        let trust = self.trust.snapshot();
        let mut failures = Failures::default();

        let front_proxy =
            request_header::authenticate(trust.request_header.as_ref(), chain, headers);
        // From here on no code can see identity headers, trusted or forged.
        request_header::strip_identity_headers(trust.request_header.as_ref(), headers);
        if let Some(user) = failures.note(front_proxy) {
            return Ok(user.with_authenticated_group());
        }
        if let Some(user) = failures.note(x509::authenticate(trust.client_ca.as_ref(), chain)) {
            return Ok(user.with_authenticated_group());
        }
        if let Some(tokens) = &self.tokens
            && let Some(user) = failures.note(tokens.authenticate(headers).await)
        {
            return Ok(user.with_authenticated_group());
        }
        if let Some(error) = failures.unavailable {
            if let Some(suppressed) = self.failure_log.admit() {
                tracing::warn!(%error, suppressed, "a TokenReview could not be completed");
            }
            // The caller is not authenticated: the kube-apiserver's own words (which can name
            // its storage, its webhooks, its addresses) stay in our log.
            return Err(AuthenticationFailure::Unavailable(
                "authentication could not be completed: the TokenReview failed; retry the request"
                    .to_owned(),
            ));
        }
        if let Some(reason) = failures.rejected {
            // Upstream logs this as an error; it is how a wrong front-proxy CA (APIService
            // FailedDiscoveryCheck with 401) shows up in the logs.
            if let Some(suppressed) = self.failure_log.admit() {
                tracing::warn!(%reason, suppressed, "unable to authenticate the request");
            }
            return Err(AuthenticationFailure::Unauthorized(reason));
        }
        if self.anonymous {
            Ok(UserInfo::anonymous())
        } else {
            Err(AuthenticationFailure::Unauthorized(
                "no credentials".to_owned(),
            ))
        }
    }

    /// Applies a new version of the authentication ConfigMap (also done by the watcher).
    pub fn apply_configmap(&self, configmap: &ConfigMap) {
        self.trust.apply_configmap(configmap);
    }
}

/// The first rejection and the first unavailable check seen along the chain.
#[derive(Default)]
struct Failures {
    rejected: Option<String>,
    unavailable: Option<DelegatedCheckError>,
}

impl Failures {
    fn note(&mut self, attempt: Attempt) -> Option<UserInfo> {
        match attempt {
            Attempt::Authenticated(user) => return Some(user),
            Attempt::Rejected(reason) => {
                self.rejected.get_or_insert(reason);
            }
            Attempt::Unavailable(error) => {
                self.unavailable.get_or_insert(error);
            }
            Attempt::NotApplicable => {}
        }
        None
    }
}

/// The parts of the trust that flags provide.
fn flag_trust(config: &AuthenticationConfig) -> Result<TrustSnapshot, SecurityError> {
    let client_ca = match &config.client_ca_file {
        Some(path) => Some(
            CaPool::from_file(path).map_err(|source| SecurityError::CaFile {
                flag: "--client-ca-file",
                source,
            })?,
        ),
        None => None,
    };
    let options = &config.request_header;
    let request_header = match &options.client_ca_file {
        Some(path) => {
            let ca = CaPool::from_file(path).map_err(|source| SecurityError::CaFile {
                flag: "--requestheader-client-ca-file",
                source,
            })?;
            let names = HeaderNames {
                allowed_names: options.allowed_names.clone(),
                username: options.username_headers.clone(),
                uid: options.uid_headers.clone(),
                group: options.group_headers.clone(),
                extra_prefix: options.extra_headers_prefix.clone(),
            };
            check_header_flags(options)?;
            Some(
                RequestHeaderTrust::new(ca, names).map_err(|name| SecurityError::HeaderName {
                    flag: "--requestheader-*-headers",
                    name,
                })?,
            )
        }
        None => None,
    };
    Ok(TrustSnapshot {
        client_ca,
        request_header,
    })
}

/// Names the exact flag of an invalid header name.
fn check_header_flags(options: &RequestHeaderOptions) -> Result<(), SecurityError> {
    for (flag, names) in [
        (
            "--requestheader-username-headers",
            &options.username_headers,
        ),
        ("--requestheader-group-headers", &options.group_headers),
        ("--requestheader-uid-headers", &options.uid_headers),
    ] {
        request_header::header_names(names)
            .map_err(|name| SecurityError::HeaderName { flag, name })?;
    }
    Ok(())
}

async fn initial_lookup(
    trust: &TrustStore,
    api: &Api<ConfigMap>,
    config: &AuthenticationConfig,
) -> Result<(), SecurityError> {
    let lookup = tokio::time::timeout(config.webhook_timeout, api.get_opt(CONFIGMAP_NAME)).await;
    let failure = match lookup {
        Ok(Ok(Some(configmap))) => {
            trust.apply_configmap(&configmap);
            return Ok(());
        }
        Ok(Ok(None)) => {
            // Go treats a missing ConfigMap as "nothing configured yet"; the watch picks it up later.
            tracing::warn!(
                "configmap/{CONFIGMAP_NAME} in {CONFIGMAP_NAMESPACE} does not exist (yet)"
            );
            return Ok(());
        }
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("no answer within {:?}", config.webhook_timeout),
    };
    if config.tolerate_lookup_failure {
        tracing::warn!(
            error = %failure,
            "unable to read configmap/{CONFIGMAP_NAME} in {CONFIGMAP_NAMESPACE}; continuing without it (will keep watching)"
        );
        Ok(())
    } else {
        Err(SecurityError::ConfigMapLookup(failure))
    }
}
