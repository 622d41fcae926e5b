//! Apiserver authorization flags: which paths need no authorization, and how long delegated
//! authorization decisions are cached.

use std::path::PathBuf;
use std::time::Duration;

use super::super::reader::Reader;

#[derive(Clone, Debug)]
pub struct AuthorizationOptions {
    pub always_allow_paths: Vec<String>,
    pub kubeconfig: Option<PathBuf>,
    pub authorized_ttl: Duration,
    pub unauthorized_ttl: Duration,
}

impl AuthorizationOptions {
    pub(super) fn from_flags(r: &mut Reader<'_>) -> Self {
        AuthorizationOptions {
            always_allow_paths: r.strings("authorization-always-allow-paths"),
            kubeconfig: r
                .optional_string("authorization-kubeconfig")
                .map(PathBuf::from),
            authorized_ttl: r.duration("authorization-webhook-cache-authorized-ttl"),
            unauthorized_ttl: r.duration("authorization-webhook-cache-unauthorized-ttl"),
        }
    }

    /// What `metrics-api`'s delegated authorization runs with.
    pub fn to_config(&self) -> generic_apiserver::AuthorizationConfig {
        generic_apiserver::AuthorizationConfig {
            always_allow_paths: self.always_allow_paths.clone(),
            allowed_cache_ttl: self.authorized_ttl,
            denied_cache_ttl: self.unauthorized_ttl,
            ..generic_apiserver::AuthorizationConfig::default()
        }
    }
}
