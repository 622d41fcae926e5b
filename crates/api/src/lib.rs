//! The HTTP face of metrics-server: HTTPS serving plus the delegated authentication and
//! authorization an aggregated Kubernetes apiserver must put in front of every request.
//!
//! Requests travel kubelet → scraper → store → **this crate**. The metrics routes themselves
//! (discovery, nodes, pods, health, `/metrics`) are plain [`axum::Router`]s built elsewhere
//! (`routes/`); this crate wraps them:
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
mod log_limit;
pub mod metrics;
mod percent;
pub mod request_info;
pub mod routes;
pub mod serving;

pub use authn::{AuthenticationConfig, RequestHeaderOptions, UserInfo};
pub use authz::AuthorizationConfig;
pub use error::{SecurityError, ServeError, ServingConfigError, ServingConfigErrors};
pub use filter::DelegatedSecurity;
pub use generic_filters::GenericFilters;
pub use metrics::SecurityMetrics;
pub use request_info::RequestInfo;
pub use serving::{PeerInfo, SecureServer, ServingConfig, install_default_crypto_provider};
