//! Apiserver authentication flags: how callers of the metrics API are identified, by client
//! certificate, front-proxy request headers or delegated token review.

use std::path::PathBuf;
use std::time::Duration;

use super::super::reader::Reader;

#[derive(Clone, Debug)]
pub struct AuthenticationOptions {
    pub kubeconfig: Option<PathBuf>,
    pub skip_lookup: bool,
    pub token_cache_ttl: Duration,
    pub tolerate_lookup_failure: bool,
    pub client_ca_file: Option<PathBuf>,
    pub requestheader_allowed_names: Vec<String>,
    pub requestheader_client_ca_file: Option<PathBuf>,
    pub requestheader_extra_headers_prefix: Vec<String>,
    pub requestheader_group_headers: Vec<String>,
    pub requestheader_uid_headers: Vec<String>,
    pub requestheader_username_headers: Vec<String>,
}

impl AuthenticationOptions {
    pub(super) fn from_flags(r: &mut Reader<'_>) -> Self {
        AuthenticationOptions {
            kubeconfig: r
                .optional_string("authentication-kubeconfig")
                .map(PathBuf::from),
            skip_lookup: r.bool("authentication-skip-lookup"),
            token_cache_ttl: r.duration("authentication-token-webhook-cache-ttl"),
            tolerate_lookup_failure: r.bool("authentication-tolerate-lookup-failure"),
            client_ca_file: r.optional_string("client-ca-file").map(PathBuf::from),
            requestheader_allowed_names: r.strings("requestheader-allowed-names"),
            requestheader_client_ca_file: r
                .optional_string("requestheader-client-ca-file")
                .map(PathBuf::from),
            requestheader_extra_headers_prefix: r.strings("requestheader-extra-headers-prefix"),
            requestheader_group_headers: r.strings("requestheader-group-headers"),
            requestheader_uid_headers: r.strings("requestheader-uid-headers"),
            requestheader_username_headers: r.strings("requestheader-username-headers"),
        }
    }

    /// What `metrics-api`'s delegated authentication runs with.
    pub fn to_config(&self) -> generic_apiserver::AuthenticationConfig {
        generic_apiserver::AuthenticationConfig {
            client_ca_file: self.client_ca_file.clone(),
            request_header: generic_apiserver::RequestHeaderOptions {
                client_ca_file: self.requestheader_client_ca_file.clone(),
                allowed_names: self.requestheader_allowed_names.clone(),
                username_headers: self.requestheader_username_headers.clone(),
                group_headers: self.requestheader_group_headers.clone(),
                extra_headers_prefix: self.requestheader_extra_headers_prefix.clone(),
                uid_headers: self.requestheader_uid_headers.clone(),
            },
            skip_lookup: self.skip_lookup,
            tolerate_lookup_failure: self.tolerate_lookup_failure,
            token_cache_ttl: self.token_cache_ttl,
            ..generic_apiserver::AuthenticationConfig::default()
        }
    }
}
