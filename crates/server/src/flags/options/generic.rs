//! Generic flags: the apiserver's request limits, shutdown delay and HSTS header, which
//! `app.rs` hands to the generic filters and the signal handler.

use std::time::Duration;

use super::super::parse::RawFlags;
use super::super::reader::Reader;

#[derive(Clone, Debug)]
pub struct GenericOptions {
    pub max_requests_inflight: usize,
    pub request_timeout: Duration,
    pub shutdown_delay: Duration,
    pub strict_transport_security_directives: Vec<String>,
}

impl GenericOptions {
    pub(super) fn from_flags(r: &mut Reader<'_>) -> Self {
        GenericOptions {
            max_requests_inflight: r.int("max-requests-inflight", 400),
            request_timeout: r.duration("request-timeout"),
            shutdown_delay: r.duration("shutdown-delay-duration"),
            strict_transport_security_directives: r.strings("strict-transport-security-directives"),
        }
    }

    /// The section's own rules. `--goaway-chance` is accepted without being applied, so it is
    /// checked from the raw value, as upstream checks it.
    pub(super) fn validate(&self, raw: &RawFlags) -> Vec<String> {
        let mut errors = Vec::new();
        let mut check = |failed: bool, message: &str| {
            if failed {
                errors.push(message.to_string());
            }
        };
        let goaway = raw
            .get("goaway-chance")
            .and_then(|v| v.last())
            .and_then(|v| v.parse::<f64>().ok());
        check(
            goaway.is_some_and(|chance| !(0.0..=0.02).contains(&chance)),
            "--goaway-chance can not be less than 0 or greater than 0.02",
        );
        check(
            self.request_timeout.is_zero(),
            "--request-timeout must be positive",
        );
        errors
    }
}
