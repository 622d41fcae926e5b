//! A kit for aggregated Kubernetes extension apiservers: HTTPS serving plus the delegated
//! authentication and authorization such a server must put in front of every request, the
//! generic filters, health endpoints and the one parse of each request.
//!
//! It knows no API group: the metrics routes (`metrics-api`) are a plain [`axum::Router`]
//! built on top of it, which this crate wraps:
//!
//! ```text
//!   TLS (rustls, h2 + http/1.1, client cert requested but not required)      serving/
//!     → request info (resource vs non-resource, verb, namespace, name…)      request_info
//!     → authentication: front-proxy headers → x509 → TokenReview → anonymous authn/
//!     → authorization: system:masters → always-allow paths → SAR            authz/
//!     → the wrapped router, with UserInfo + RequestInfo as extensions
//! ```
//!
//! Entry points:
//! - [`ServingConfig`] (flags `--secure-port`, `--tls-*`, `--cert-dir`…) with
//!   [`ServingConfig::validate`] reporting every bad flag at once;
//! - [`DelegatedSecurity::start`] builds the authenticator (CA pools from flags or the
//!   `kube-system/extension-apiserver-authentication` ConfigMap, watched live) and the
//!   authorizer, and [`DelegatedSecurity::protect`] wraps a router;
//! - [`HealthChecks`] serves `/healthz`, `/livez` and `/readyz` with the generic apiserver's
//!   default checks and the ones the server adds;
//! - [`SecureServer`] binds and serves the protected router until a
//!   [`CancellationToken`](tokio_util::sync::CancellationToken) fires.
//!
//! The contract is the Go generic apiserver's (k8s.io/apiserver `pkg/server` and its delegating authentication and authorization);
//! each module says where it departs from it and why.

pub mod authn;
pub mod authz;
mod delegated;
pub mod error;
mod filter;
mod generic_filters;
pub mod health;
mod log_limit;
pub mod metrics;
pub mod percent;
pub mod request_info;
pub mod serving;
mod status_response;

pub use authn::{AuthenticationConfig, RequestHeaderOptions, UserInfo};
pub use authz::AuthorizationConfig;
pub use error::{SecurityError, ServeError, ServingConfigError, ServingConfigErrors};
pub use filter::DelegatedSecurity;
pub use generic_filters::GenericFilters;
pub use health::{Endpoint, HealthCheck, HealthChecks};
pub use metrics::SecurityMetrics;
pub use request_info::RequestInfo;
pub use serving::{PeerInfo, SecureServer, ServingConfig, install_default_crypto_provider};
pub use status_response::status_response;
