//! Self-metrics of the security layer, named after the Go apiserver's so existing
//! dashboards keep working (`prometheus` crate, Go-compatible text format).
//!
//! None of these start with `metrics_server_`: upstream's e2e asserts that exactly six
//! families carry that prefix, and they belong to the scraper and the store.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Outcome label of an authentication attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthnResult {
    /// A user was established (anonymous included).
    Success,
    /// Credentials were presented and rejected (401).
    Failure,
    /// A delegated check could not be completed (503).
    Error,
}

impl AuthnResult {
    fn label(self) -> &'static str {
        match self {
            AuthnResult::Success => "success",
            AuthnResult::Failure => "failure",
            AuthnResult::Error => "error",
        }
    }
}

/// Which part of the authorizer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthzSource {
    /// `system:masters` and friends.
    PrivilegedGroup,
    /// `--authorization-always-allow-paths`.
    AlwaysAllowPath,
    /// SubjectAccessReview (cached or not).
    Webhook,
}

impl AuthzSource {
    fn label(self) -> &'static str {
        match self {
            AuthzSource::PrivilegedGroup => "PrivilegedGroups",
            AuthzSource::AlwaysAllowPath => "AlwaysAllowPaths",
            AuthzSource::Webhook => "Webhook",
        }
    }
}

/// Authorization outcome label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthzDecision {
    /// The request may proceed.
    Allowed,
    /// 403.
    Denied,
    /// The decision could not be made (503).
    Error,
}

impl AuthzDecision {
    fn label(self) -> &'static str {
        match self {
            AuthzDecision::Allowed => "allowed",
            AuthzDecision::Denied => "denied",
            AuthzDecision::Error => "error",
        }
    }
}

/// Which delegated review a request to the kube-apiserver was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Review {
    /// TokenReview.
    Token,
    /// SubjectAccessReview.
    Access,
}

/// The metric families; cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct SecurityMetrics {
    authn_attempts: IntCounterVec,
    authn_duration: HistogramVec,
    authz_decisions: IntCounterVec,
    authz_duration: HistogramVec,
    delegated_authn_requests: IntCounterVec,
    delegated_authn_duration: HistogramVec,
    delegated_authz_requests: IntCounterVec,
    delegated_authz_duration: HistogramVec,
    token_cache_requests: IntCounterVec,
    authz_cache_requests: IntCounterVec,
}

/// Go's `authentication_duration_seconds` buckets: exponential from 1 ms, factor 2, 15 buckets.
fn latency_buckets() -> Vec<f64> {
    std::iter::successors(Some(0.001_f64), |b| Some(b * 2.0))
        .take(15)
        .collect()
}

/// Go's delegated webhook request duration buckets.
const WEBHOOK_BUCKETS: [f64; 8] = [0.25, 0.5, 0.7, 1.0, 1.5, 3.0, 5.0, 10.0];

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let metric = IntCounterVec::new(Opts::new(name, format!("[ALPHA] {help}")), labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> prometheus::Result<HistogramVec> {
    let metric = HistogramVec::new(
        HistogramOpts::new(name, format!("[ALPHA] {help}")).buckets(buckets),
        labels,
    )?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

impl SecurityMetrics {
    /// Creates the families and registers them into `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<SecurityMetrics> {
        Ok(SecurityMetrics {
            authn_attempts: counter(
                registry,
                "authentication_attempts",
                "Counter of authenticated attempts.",
                &["result"],
            )?,
            authn_duration: histogram(
                registry,
                "authentication_duration_seconds",
                "Authentication duration in seconds broken out by result.",
                &["result"],
                latency_buckets(),
            )?,
            authz_decisions: counter(
                registry,
                "apiserver_authorization_decisions_total",
                "Total number of terminal decisions made by an authorizer split by authorizer type and decision.",
                &["type", "decision"],
            )?,
            authz_duration: histogram(
                registry,
                "authorization_duration_seconds",
                "Authorization duration in seconds broken out by decision.",
                &["decision"],
                latency_buckets(),
            )?,
            delegated_authn_requests: counter(
                registry,
                "apiserver_delegated_authn_request_total",
                "Number of HTTP requests partitioned by status code.",
                &["code"],
            )?,
            delegated_authn_duration: histogram(
                registry,
                "apiserver_delegated_authn_request_duration_seconds",
                "Request latency in seconds. Broken down by status code.",
                &["code"],
                WEBHOOK_BUCKETS.to_vec(),
            )?,
            delegated_authz_requests: counter(
                registry,
                "apiserver_delegated_authz_request_total",
                "Number of HTTP requests partitioned by status code.",
                &["code"],
            )?,
            delegated_authz_duration: histogram(
                registry,
                "apiserver_delegated_authz_request_duration_seconds",
                "Request latency in seconds. Broken down by status code.",
                &["code"],
                WEBHOOK_BUCKETS.to_vec(),
            )?,
            token_cache_requests: counter(
                registry,
                "authentication_token_cache_request_total",
                "Total number of TokenReview cache lookups by hit or miss.",
                &["status"],
            )?,
            authz_cache_requests: counter(
                registry,
                "authorization_webhook_cache_request_total",
                "Total number of SubjectAccessReview cache lookups by hit or miss.",
                &["status"],
            )?,
        })
    }

    pub(crate) fn authentication(&self, result: AuthnResult, elapsed: Duration) {
        self.authn_attempts
            .with_label_values(&[result.label()])
            .inc();
        self.authn_duration
            .with_label_values(&[result.label()])
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn authorization(
        &self,
        source: AuthzSource,
        decision: AuthzDecision,
        elapsed: Duration,
    ) {
        self.authz_decisions
            .with_label_values(&[source.label(), decision.label()])
            .inc();
        self.authz_duration
            .with_label_values(&[decision.label()])
            .observe(elapsed.as_secs_f64());
    }

    /// `code` is the HTTP status, or `<error>` when no response arrived (Go's label).
    pub(crate) fn delegated_request(&self, review: Review, code: &str, elapsed: Duration) {
        let (count, duration) = match review {
            Review::Token => (
                &self.delegated_authn_requests,
                &self.delegated_authn_duration,
            ),
            Review::Access => (
                &self.delegated_authz_requests,
                &self.delegated_authz_duration,
            ),
        };
        count.with_label_values(&[code]).inc();
        duration
            .with_label_values(&[code])
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn cache_lookup(&self, review: Review, hit: bool) {
        let family = match review {
            Review::Token => &self.token_cache_requests,
            Review::Access => &self.authz_cache_requests,
        };
        family
            .with_label_values(&[if hit { "hit" } else { "miss" }])
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_go_named_families_without_the_reserved_prefix() {
        let registry = Registry::new();
        let metrics = SecurityMetrics::register(&registry).unwrap();
        metrics.authentication(AuthnResult::Success, Duration::from_millis(3));
        metrics.authorization(
            AuthzSource::Webhook,
            AuthzDecision::Denied,
            Duration::from_millis(3),
        );
        metrics.delegated_request(Review::Token, "201", Duration::from_millis(3));
        metrics.delegated_request(Review::Access, "<error>", Duration::from_millis(3));
        metrics.cache_lookup(Review::Token, true);
        metrics.cache_lookup(Review::Access, false);
        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        for expected in [
            "authentication_attempts",
            "authentication_duration_seconds",
            "apiserver_authorization_decisions_total",
            "authorization_duration_seconds",
            "apiserver_delegated_authn_request_total",
            "apiserver_delegated_authn_request_duration_seconds",
            "apiserver_delegated_authz_request_total",
            "apiserver_delegated_authz_request_duration_seconds",
            "authentication_token_cache_request_total",
            "authorization_webhook_cache_request_total",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} missing from {names:?}"
            );
        }
        assert!(names.iter().all(|n| !n.starts_with("metrics_server_")));
    }

    #[test]
    fn registering_twice_in_one_registry_fails_instead_of_panicking() {
        let registry = Registry::new();
        SecurityMetrics::register(&registry).unwrap();
        assert!(SecurityMetrics::register(&registry).is_err());
    }

    #[test]
    fn latency_buckets_match_go() {
        let buckets = latency_buckets();
        assert_eq!(buckets.len(), 15);
        assert_eq!(buckets[0], 0.001);
        assert_eq!(buckets[14], 0.001 * 16384.0);
    }
}
