//! The request chain in front of the metrics routes: request info → authentication →
//! authorization → the wrapped router, which then finds [`UserInfo`] and [`RequestInfo`]
//! in the request extensions.
//!
//! The wrapped router is installed as the *fallback* of an outer router so that every
//! request — unknown paths included — passes the checks first, as in Go, where a 404
//! comes only after authentication and authorization.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use apimachinery::status::Status;
use axum::Router;
use axum::body::Body;
use axum::response::Response;
use futures_util::future::BoxFuture;
use http::Request;
use tokio_util::sync::CancellationToken;
use tower::{Service, ServiceExt};

use crate::authn::{AuthenticationConfig, AuthenticationFailure, Authenticator, UserInfo};
use crate::authz::{AuthorizationConfig, AuthorizationFailure, Authorizer};
use crate::error::SecurityError;
use crate::metrics::SecurityMetrics;
use crate::request_info::RequestInfo;
use crate::serving::PeerInfo;
use crate::status_response::status_response;

/// Authentication plus authorization, ready to protect routers.
#[derive(Debug)]
pub struct DelegatedSecurity {
    authenticator: Authenticator,
    authorizer: Authorizer,
}

impl DelegatedSecurity {
    /// Starts both halves with their own clients (`--authentication-kubeconfig`,
    /// `--authorization-kubeconfig`; usually the same in-cluster client) and registers the
    /// self-metrics into `registry`. Background work (the ConfigMap watch) stops with `shutdown`.
    pub async fn start(
        authentication: &AuthenticationConfig,
        authentication_client: Option<kube::Client>,
        authorization: &AuthorizationConfig,
        authorization_client: Option<kube::Client>,
        registry: &prometheus::Registry,
        shutdown: CancellationToken,
    ) -> Result<Arc<DelegatedSecurity>, SecurityError> {
        let metrics = Arc::new(SecurityMetrics::register(registry)?);
        let authorizer = Authorizer::new(authorization, authorization_client, metrics.clone())?;
        let authenticator =
            Authenticator::start(authentication, authentication_client, metrics, shutdown).await?;
        Ok(Arc::new(DelegatedSecurity {
            authenticator,
            authorizer,
        }))
    }

    /// The authentication half (e.g. to apply a ConfigMap by hand).
    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// Wraps `router` so that every request is authenticated and authorized first.
    pub fn protect(self: &Arc<Self>, router: Router) -> Router {
        Router::new().fallback_service(Protected {
            inner: router,
            security: self.clone(),
        })
    }

    /// Runs the checks; `Err` is the response to send instead of calling the router.
    async fn admit(&self, request: &mut Request<Body>) -> Result<(), Response> {
        let info = RequestInfo::from_parts(request.method(), request.uri()).map_err(|error| {
            status_response(&Status::bad_request(error.to_string()), request.headers())
        })?;
        let chain = request
            .extensions()
            .get::<PeerInfo>()
            .map(|peer| peer.certificates.clone())
            .unwrap_or_default();

        let user = match self
            .authenticator
            .authenticate(request.headers_mut(), &chain)
            .await
        {
            Ok(user) => user,
            Err(AuthenticationFailure::Unauthorized(_)) => {
                return Err(status_response(&Status::unauthorized(), request.headers()));
            }
            Err(AuthenticationFailure::Unavailable(message)) => {
                return Err(status_response(
                    &Status::service_unavailable(message),
                    request.headers(),
                ));
            }
        };
        match self.authorizer.authorize(&user, &info).await {
            Ok(()) => {}
            Err(AuthorizationFailure::Forbidden(reason)) => {
                tracing::debug!(user = %user.name, verb = %info.verb, path = %info.path, "forbidden");
                return Err(status_response(
                    &Status::forbidden(&info.attributes(&user.name), &reason),
                    request.headers(),
                ));
            }
            Err(AuthorizationFailure::Unavailable(message)) => {
                return Err(status_response(
                    &Status::service_unavailable(message),
                    request.headers(),
                ));
            }
        }
        request.extensions_mut().insert::<UserInfo>(user);
        request.extensions_mut().insert::<RequestInfo>(info);
        Ok(())
    }
}

/// The router behind the checks.
#[derive(Clone)]
struct Protected {
    inner: Router,
    security: Arc<DelegatedSecurity>,
}

impl Service<Request<Body>> for Protected {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A Router is always ready; readiness is checked again by `oneshot`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let router = self.inner.clone();
        let security = self.security.clone();
        Box::pin(async move {
            match security.admit(&mut request).await {
                Ok(()) => router.oneshot(request).await,
                Err(refusal) => Ok(refusal),
            }
        })
    }
}
