//! Delegated authorization (k8s.io/apiserver `pkg/server/options/authorization.go`), in the Go delegating authorizer's order:
//! privileged groups (`system:masters`) → always-allow paths → SubjectAccessReview.
//!
//! A SubjectAccessReview that cannot be completed is never an allow: the request gets a
//! 503 and the next request asks again.

mod always_allow;
mod sar;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use self::always_allow::AlwaysAllowPaths;
use self::sar::{AccessReviewer, ReviewSettings, Verdict};
use crate::authn::UserInfo;
use crate::error::SecurityError;
use crate::metrics::{AuthzDecision, AuthzSource, SecurityMetrics};
use crate::request_info::RequestInfo;

/// Delegated authorization settings (`DelegatingAuthorizationOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationConfig {
    /// `--authorization-always-allow-paths` (default `/healthz`, `/readyz`, `/livez`).
    pub always_allow_paths: Vec<String>,
    /// Groups allowed everything without a review (Go hard-codes `system:masters`).
    pub always_allow_groups: Vec<String>,
    /// `--authorization-webhook-cache-authorized-ttl` (10 s).
    pub allowed_cache_ttl: Duration,
    /// `--authorization-webhook-cache-unauthorized-ttl` (10 s).
    pub denied_cache_ttl: Duration,
    /// Most SubjectAccessReview answers kept at once.
    pub cache_capacity: u64,
    /// Deadline of each SubjectAccessReview (10 s, as Go).
    pub webhook_timeout: Duration,
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        AuthorizationConfig {
            always_allow_paths: ["/healthz", "/readyz", "/livez"]
                .map(str::to_owned)
                .to_vec(),
            always_allow_groups: vec!["system:masters".to_owned()],
            allowed_cache_ttl: Duration::from_secs(10),
            denied_cache_ttl: Duration::from_secs(10),
            cache_capacity: 10_000,
            webhook_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a request may not proceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationFailure {
    /// Denied (403); the reason (often empty) is appended to the message.
    Forbidden(String),
    /// The SubjectAccessReview could not be completed (503, retry later).
    Unavailable(String),
}

/// The authorizer chain.
#[derive(Debug)]
pub struct Authorizer {
    groups: Vec<String>,
    paths: AlwaysAllowPaths,
    reviewer: Option<AccessReviewer>,
    metrics: Arc<SecurityMetrics>,
}

impl Authorizer {
    /// Builds the chain. Without `client` (`--authorization-kubeconfig`), whatever the
    /// groups and paths do not allow is denied, as in Go.
    pub fn new(
        config: &AuthorizationConfig,
        client: Option<kube::Client>,
        metrics: Arc<SecurityMetrics>,
    ) -> Result<Authorizer, SecurityError> {
        if client.is_none() {
            tracing::warn!(
                "no kube-apiserver client: requests not always allowed will be forbidden"
            );
        }
        let settings = ReviewSettings {
            allowed_ttl: config.allowed_cache_ttl,
            denied_ttl: config.denied_cache_ttl,
            cache_capacity: config.cache_capacity,
            timeout: config.webhook_timeout,
        };
        Ok(Authorizer {
            groups: config.always_allow_groups.clone(),
            paths: AlwaysAllowPaths::new(&config.always_allow_paths)?,
            reviewer: client.map(|client| AccessReviewer::new(client, settings, metrics.clone())),
            metrics,
        })
    }

    /// Decides whether `user` may make `request`.
    pub async fn authorize(
        &self,
        user: &UserInfo,
        request: &RequestInfo,
    ) -> Result<(), AuthorizationFailure> {
        let started = Instant::now();
        let (source, outcome) = self.decide(user, request).await;
        let decision = match &outcome {
            Ok(()) => AuthzDecision::Allowed,
            Err(AuthorizationFailure::Forbidden(_)) => AuthzDecision::Denied,
            Err(AuthorizationFailure::Unavailable(_)) => AuthzDecision::Error,
        };
        self.metrics
            .authorization(source, decision, started.elapsed());
        outcome
    }

    async fn decide(
        &self,
        user: &UserInfo,
        request: &RequestInfo,
    ) -> (AuthzSource, Result<(), AuthorizationFailure>) {
        if user.groups.iter().any(|group| self.groups.contains(group)) {
            return (AuthzSource::PrivilegedGroup, Ok(()));
        }
        if !request.is_resource_request && self.paths.allows(&request.path) {
            return (AuthzSource::AlwaysAllowPath, Ok(()));
        }
        let Some(reviewer) = &self.reviewer else {
            return (
                AuthzSource::Webhook,
                Err(AuthorizationFailure::Forbidden(String::new())),
            );
        };
        let outcome = match reviewer.review(user, request).await {
            Ok(Verdict::Allowed) => Ok(()),
            Ok(Verdict::Denied(reason)) => Err(AuthorizationFailure::Forbidden(reason)),
            Err(error) => {
                tracing::warn!(%error, user = %user.name, path = %request.path, "a SubjectAccessReview could not be completed");
                Err(AuthorizationFailure::Unavailable(format!(
                    "authorization could not be completed: the SubjectAccessReview failed ({error}); retry the request"
                )))
            }
        };
        (AuthzSource::Webhook, outcome)
    }
}

#[cfg(test)]
mod tests {
    use http::{Method, Uri};

    use super::*;

    fn authorizer(config: &AuthorizationConfig) -> Authorizer {
        let metrics = Arc::new(SecurityMetrics::register(&prometheus::Registry::new()).unwrap());
        Authorizer::new(config, None, metrics).unwrap()
    }

    fn request(uri: &str) -> RequestInfo {
        RequestInfo::from_parts(&Method::GET, &uri.parse::<Uri>().unwrap()).unwrap()
    }

    fn user(groups: &[&str]) -> UserInfo {
        UserInfo {
            name: "someone".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..UserInfo::default()
        }
    }

    #[tokio::test]
    async fn masters_and_health_paths_need_no_review() {
        let authz = authorizer(&AuthorizationConfig::default());
        assert_eq!(
            authz
                .authorize(
                    &user(&["system:masters"]),
                    &request("/apis/metrics.k8s.io/v1beta1/nodes")
                )
                .await,
            Ok(())
        );
        assert_eq!(
            authz
                .authorize(&UserInfo::anonymous(), &request("/healthz"))
                .await,
            Ok(())
        );
        assert_eq!(
            authz
                .authorize(&UserInfo::anonymous(), &request("/livez?verbose"))
                .await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn without_a_client_everything_else_is_forbidden() {
        let authz = authorizer(&AuthorizationConfig::default());
        assert_eq!(
            authz
                .authorize(&user(&["system:authenticated"]), &request("/readyz/ping"))
                .await,
            Err(AuthorizationFailure::Forbidden(String::new()))
        );
        assert!(
            authz
                .authorize(&user(&[]), &request("/apis/metrics.k8s.io/v1beta1/nodes"))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn always_allow_paths_never_cover_resource_requests() {
        let config = AuthorizationConfig {
            always_allow_paths: vec!["/apis/*".into()],
            ..AuthorizationConfig::default()
        };
        let authz = authorizer(&config);
        assert_eq!(
            authz
                .authorize(&user(&[]), &request("/apis/metrics.k8s.io/v1beta1"))
                .await,
            Ok(())
        );
        assert!(
            authz
                .authorize(&user(&[]), &request("/apis/metrics.k8s.io/v1beta1/nodes"))
                .await
                .is_err()
        );
    }

    #[test]
    fn bad_always_allow_path_is_a_setup_error() {
        let config = AuthorizationConfig {
            always_allow_paths: vec!["/a*b".into()],
            ..AuthorizationConfig::default()
        };
        let metrics = Arc::new(SecurityMetrics::register(&prometheus::Registry::new()).unwrap());
        assert!(matches!(
            Authorizer::new(&config, None, metrics),
            Err(SecurityError::AlwaysAllowPath(_))
        ));
    }
}
