//! The typed, validated options the rest of the binary runs on.
//!
//! One section per file, as upstream's `cmd/metrics-server/app/options/`: each holds its
//! fields, how they are read from the flags, its own validation and its conversion into what
//! its crate needs. This file assembles the sections and holds the rules that span them.

mod authentication;
mod authorization;
mod generic;
mod kubelet_client;
mod logging;
mod serving;

use std::path::PathBuf;
use std::time::Duration;

use super::parse::RawFlags;
use super::reader::Reader;
use super::spec::{Effect, FLAGS};

pub use authentication::AuthenticationOptions;
pub use authorization::AuthorizationOptions;
pub use generic::GenericOptions;
pub use kubelet_client::KubeletOptions;
pub use logging::{LogFormat, LoggingOptions};
pub use serving::ServingOptions;

/// Everything the command line decides.
#[derive(Clone, Debug)]
pub struct Options {
    pub kubeconfig: Option<PathBuf>,
    pub metric_resolution: Duration,
    /// `--node-scrape-events`.
    pub node_scrape_events: bool,
    /// `--usage-window`: how far back CPU rates reach; zero for upstream's last two scrapes.
    pub usage_window: Duration,
    pub show_version: bool,
    pub kubelet: KubeletOptions,
    pub serving: ServingOptions,
    pub authentication: AuthenticationOptions,
    pub authorization: AuthorizationOptions,
    pub generic: GenericOptions,
    pub logging: LoggingOptions,
}

/// Upstream refuses resolutions below this: the kubelet itself samples about every 10-15 s.
const MIN_METRIC_RESOLUTION: Duration = Duration::from_secs(10);

/// The longest `--usage-window`: an average over longer hides the changes an autoscaler exists
/// to follow, and the store keeps every scrape in the window for every node and container.
const MAX_USAGE_WINDOW: Duration = Duration::from_secs(600);

impl Options {
    /// Converts and validates; on failure returns every problem found.
    pub fn from_raw(raw: &RawFlags) -> Result<Options, Vec<String>> {
        let mut r = Reader::new(raw);
        // Sections are read in this order, so their conversion errors are reported in it.
        let options = Options {
            kubeconfig: r.optional_string("kubeconfig").map(PathBuf::from),
            metric_resolution: r.duration("metric-resolution"),
            node_scrape_events: r.bool("node-scrape-events"),
            usage_window: r.duration("usage-window"),
            show_version: r.bool("version"),
            kubelet: KubeletOptions::from_flags(&mut r),
            serving: ServingOptions::from_flags(&mut r),
            authentication: AuthenticationOptions::from_flags(&mut r),
            authorization: AuthorizationOptions::from_flags(&mut r),
            generic: GenericOptions::from_flags(&mut r),
            logging: LoggingOptions::from_flags(&mut r),
        };
        // Flags we accept without using still have to be well-formed, as upstream checks them.
        for spec in FLAGS
            .iter()
            .filter(|spec| matches!(spec.effect, Effect::Ignored | Effect::Unsupported))
        {
            r.check_kind(spec.name);
        }
        let mut errors = r.errors;
        errors.extend(unsupported_flags_in_use(raw));
        errors.extend(options.validate(raw));
        if errors.is_empty() {
            Ok(options)
        } else {
            Err(errors)
        }
    }

    /// Rules that involve more than one flag, or a value's meaning rather than its syntax: the
    /// ones that span sections, then each section's own.
    fn validate(&self, raw: &RawFlags) -> Vec<String> {
        let mut errors = Vec::new();
        let resolution = self.metric_resolution;
        if resolution < MIN_METRIC_RESOLUTION {
            errors.push(format!(
                "--metric-resolution must be at least 10s, got {}",
                go_duration(resolution)
            ));
        }
        // A window shorter than the resolution would hold a single older scrape: upstream's rate
        // under another name.
        let window = self.usage_window;
        if !window.is_zero() && !(resolution..=MAX_USAGE_WINDOW).contains(&window) {
            errors.push(format!(
                "--usage-window must be 0 (off) or between --metric-resolution ({}) and {}, got {}",
                go_duration(resolution),
                go_duration(MAX_USAGE_WINDOW),
                go_duration(window),
            ));
        }
        // Upstream scrapes within 90% of a resolution; a longer kubelet timeout could never fire.
        // A zero timeout is the kubelet section's own error, so at most one of the two is reported.
        let kubelet_timeout = self.kubelet.request_timeout;
        if !kubelet_timeout.is_zero() && resolution.mul_f64(0.9) < kubelet_timeout {
            errors.push(format!(
                "--kubelet-request-timeout ({}) must not be longer than 90% of --metric-resolution ({})",
                go_duration(kubelet_timeout),
                go_duration(resolution.mul_f64(0.9)),
            ));
        }
        errors.extend(self.kubelet.validate());
        errors.extend(self.serving.validate());
        errors.extend(self.generic.validate(raw));
        errors
    }
}

/// Refuses flags whose silent non-effect would weaken what the operator asked for.
fn unsupported_flags_in_use(raw: &RawFlags) -> Vec<String> {
    FLAGS
        .iter()
        .filter(|spec| spec.effect == Effect::Unsupported)
        .filter(|spec| {
            raw.get(spec.name)
                .is_some_and(|values| values.iter().any(|v| !v.is_empty()))
        })
        .map(|spec| {
            format!(
                "--{} is not supported by metrics-server-rs: {}",
                spec.name, spec.help
            )
        })
        .collect()
}

fn go_duration(duration: Duration) -> String {
    apimachinery::duration::format_go_duration(
        i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::super::{ParseOutcome, parse_args};
    use super::*;
    use kubelet_scraper::MetricsSource;

    /// Parses `args` as the command line after the program name; each section's tests use it.
    pub(super) fn parse(args: &[&str]) -> Result<Options, Vec<String>> {
        match parse_args(std::iter::once("metrics-server").chain(args.iter().copied())) {
            Ok(options) => Ok(options),
            Err(ParseOutcome::Errors(errors)) => Err(errors),
            Err(ParseOutcome::Help(_)) => panic!("unexpected help"),
        }
    }

    #[test]
    fn defaults_match_upstream() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.metric_resolution, Duration::from_secs(60));
        assert_eq!(o.kubelet.port, 10250);
        assert_eq!(o.kubelet.request_timeout, Duration::from_secs(10));
        assert_eq!(
            o.kubelet.preferred_address_types,
            [
                "Hostname",
                "InternalDNS",
                "InternalIP",
                "ExternalDNS",
                "ExternalIP"
            ]
        );
        assert_eq!(o.serving.secure_port, 443);
        assert_eq!(
            o.serving.cert_dir,
            PathBuf::from("apiserver.local.config/certificates")
        );
        assert_eq!(
            o.authorization.always_allow_paths,
            ["/healthz", "/readyz", "/livez"]
        );
        assert_eq!(
            o.authentication.requestheader_username_headers,
            ["x-remote-user"]
        );
        assert_eq!(o.authentication.token_cache_ttl, Duration::from_secs(10));
        assert_eq!(o.generic.max_requests_inflight, 400);
        assert_eq!(o.kubelet.metrics_source, MetricsSource::Auto);
        assert_eq!(o.kubelet.max_response_bytes, 64 * 1024 * 1024);
        assert_eq!(o.logging.verbosity, 0);
    }

    #[test]
    fn the_upstream_deployment_args_parse() {
        let o = parse(&[
            "--cert-dir=/tmp",
            "--secure-port=10250",
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            "--kubelet-use-node-status-port",
            "--metric-resolution=15s",
            "--kubelet-insecure-tls",
            "--v=4",
            "--node-selector=metrics-server-skip!=true",
        ])
        .unwrap();
        assert_eq!(o.serving.secure_port, 10250);
        assert_eq!(o.metric_resolution, Duration::from_secs(15));
        assert!(o.kubelet.use_node_status_port && o.kubelet.insecure_tls);
        assert_eq!(
            o.kubelet.preferred_address_types,
            ["InternalIP", "ExternalIP", "Hostname"]
        );
        assert_eq!(o.logging.verbosity, 4);
    }

    #[test]
    fn every_bad_flag_is_reported_at_once() {
        let errors = parse(&[
            "--metric-resolution=5s",
            "--kubelet-port=http",
            "--kubelet-insecure-tls",
            "--kubelet-certificate-authority=/ca.crt",
            "--kubelet-client-key=/k",
            "--node-selector=a in (",
            "--tls-cert-file=/c",
            "--tls-min-version=VersionTLS99",
            "--tls-cipher-suites=TLS_NOT_A_SUITE",
            "--kubelet-preferred-address-types=InternalIP,InternalIp",
            "--logging-format=xml",
            "--audit-log-path=/var/log/audit",
            "--kubelet-request-timeout=1x",
        ])
        .unwrap_err();
        let all = errors.join("\n");
        for expected in [
            "--metric-resolution must be at least 10s, got 5s",
            "invalid argument \"http\" for \"--kubelet-port\" flag",
            "cannot use both --kubelet-certificate-authority and --kubelet-insecure-tls",
            "need both --kubelet-client-key and --kubelet-client-certificate",
            "\"--node-selector\" flag",
            "--tls-cert-file requires --tls-private-key-file",
            "--tls-min-version=VersionTLS99: unknown TLS version",
            "--tls-cipher-suites: unknown cipher suite TLS_NOT_A_SUITE",
            "invalid argument \"InternalIp\" for \"--kubelet-preferred-address-types\" flag",
            "\"--logging-format\" flag",
            "--audit-log-path is not supported",
            "invalid argument \"1x\" for \"--kubelet-request-timeout\" flag",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
    }

    #[test]
    fn kubelet_timeout_must_fit_in_the_resolution() {
        let errors =
            parse(&["--metric-resolution=10s", "--kubelet-request-timeout=10s"]).unwrap_err();
        assert_eq!(
            errors,
            [
                "--kubelet-request-timeout (10s) must not be longer than 90% of --metric-resolution (9s)"
            ]
        );
        assert!(parse(&["--metric-resolution=15s", "--kubelet-request-timeout=13s"]).is_ok());
    }

    #[test]
    fn usage_window_is_off_by_default_and_else_between_the_resolution_and_ten_minutes() {
        assert_eq!(parse(&[]).unwrap().usage_window, Duration::ZERO);
        assert_eq!(
            parse(&["--usage-window=0"]).unwrap().usage_window,
            Duration::ZERO
        );
        for (args, window) in [
            (&["--usage-window=1m"][..], 60),
            (&["--metric-resolution=15s", "--usage-window=15s"], 15),
            (&["--metric-resolution=15s", "--usage-window=2m"], 120),
            (&["--usage-window=10m"], 600),
        ] {
            let options = parse(args).unwrap();
            assert_eq!(
                options.usage_window,
                Duration::from_secs(window),
                "{args:?}"
            );
        }
        assert_eq!(
            parse(&["--usage-window=30s"]).unwrap_err(),
            [
                "--usage-window must be 0 (off) or between --metric-resolution (1m0s) and 10m0s, got 30s"
            ]
        );
        assert_eq!(
            parse(&["--metric-resolution=15s", "--usage-window=10m1s"]).unwrap_err(),
            [
                "--usage-window must be 0 (off) or between --metric-resolution (15s) and 10m0s, got 10m1s"
            ]
        );
        let errors = parse(&["--usage-window=-1m"]).unwrap_err();
        assert_eq!(
            errors,
            ["invalid argument \"-1m\" for \"--usage-window\" flag: must not be negative"]
        );
        // Reported with every other bad flag.
        let errors = parse(&["--metric-resolution=5s", "--usage-window=1s"]).unwrap_err();
        assert!(
            errors[0].starts_with("--metric-resolution must be at least 10s")
                && errors[1].starts_with("--usage-window must be 0 (off) or between"),
            "{errors:#?}"
        );
    }

    #[test]
    fn ignored_flags_are_still_type_checked() {
        let errors = parse(&[
            "--audit-log-maxage=many",
            "--profiling=false",
            "--goaway-chance=0.5",
        ])
        .unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].contains("--audit-log-maxage"));
        assert!(errors[1].contains("--goaway-chance"));
    }
}
