//! The typed, validated options the rest of the binary runs on.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use apimachinery::selector::LabelSelector;
use kubelet_scraper::MetricsSource;

use super::parse::RawFlags;
use super::reader::Reader;
use super::spec::{Effect, FLAGS};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct KubeletOptions {
    pub completely_insecure: bool,
    pub certificate_authority: Option<PathBuf>,
    pub certificate_authority_text: Option<String>,
    pub client_certificate: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub insecure_tls: bool,
    pub keep_connections: bool,
    pub max_concurrent_requests: usize,
    pub max_response_bytes: u64,
    pub metrics_source: MetricsSource,
    pub port: u16,
    pub preferred_address_types: Vec<String>,
    pub request_timeout: Duration,
    pub use_node_status_port: bool,
    pub node_selector: LabelSelector,
}

#[derive(Clone, Debug)]
pub struct ServingOptions {
    pub bind_address: IpAddr,
    pub cert_dir: PathBuf,
    pub disable_http2: bool,
    pub http2_max_streams_per_connection: u32,
    pub permit_port_sharing: bool,
    pub secure_port: u16,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_private_key_file: Option<PathBuf>,
    pub tls_cipher_suites: Vec<String>,
    pub tls_min_version: Option<String>,
}

impl ServingOptions {
    /// What `metrics-api` serves with.
    pub fn to_config(&self) -> generic_apiserver::ServingConfig {
        generic_apiserver::ServingConfig {
            bind_address: self.bind_address,
            secure_port: self.secure_port,
            cert_dir: self.cert_dir.clone(),
            tls_cert_file: self.tls_cert_file.clone(),
            tls_private_key_file: self.tls_private_key_file.clone(),
            tls_min_version: self.tls_min_version.clone(),
            tls_cipher_suites: self.tls_cipher_suites.clone(),
            disable_http2: self.disable_http2,
            http2_max_streams_per_connection: self.http2_max_streams_per_connection,
            permit_port_sharing: self.permit_port_sharing,
            ..generic_apiserver::ServingConfig::default()
        }
    }
}

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

#[derive(Clone, Debug)]
pub struct AuthorizationOptions {
    pub always_allow_paths: Vec<String>,
    pub kubeconfig: Option<PathBuf>,
    pub authorized_ttl: Duration,
    pub unauthorized_ttl: Duration,
}

impl AuthorizationOptions {
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

#[derive(Clone, Debug)]
pub struct GenericOptions {
    pub max_requests_inflight: usize,
    pub request_timeout: Duration,
    pub shutdown_delay: Duration,
    pub strict_transport_security_directives: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct LoggingOptions {
    pub format: LogFormat,
    pub verbosity: u8,
    pub split_stream: bool,
}

/// Everything the command line decides.
#[derive(Clone, Debug)]
pub struct Options {
    pub kubeconfig: Option<PathBuf>,
    pub metric_resolution: Duration,
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

impl Options {
    /// Converts and validates; on failure returns every problem found.
    pub fn from_raw(raw: &RawFlags) -> Result<Options, Vec<String>> {
        let mut r = Reader::new(raw);
        let options = Options {
            kubeconfig: r.optional_string("kubeconfig").map(PathBuf::from),
            metric_resolution: r.duration("metric-resolution"),
            show_version: r.bool("version"),
            kubelet: KubeletOptions {
                completely_insecure: r.bool("deprecated-kubelet-completely-insecure"),
                certificate_authority: r
                    .optional_string("kubelet-certificate-authority")
                    .map(PathBuf::from),
                certificate_authority_text: r.optional_string("kubelet-certificate-authority-text"),
                client_certificate: r
                    .optional_string("kubelet-client-certificate")
                    .map(PathBuf::from),
                client_key: r.optional_string("kubelet-client-key").map(PathBuf::from),
                insecure_tls: r.bool("kubelet-insecure-tls"),
                keep_connections: r.bool("kubelet-keep-connections"),
                max_concurrent_requests: r.int("kubelet-max-concurrent-requests", 256),
                max_response_bytes: r.quantity_bytes("kubelet-max-response-bytes"),
                metrics_source: metrics_source(&mut r),
                port: r.int("kubelet-port", 10250),
                preferred_address_types: r.strings("kubelet-preferred-address-types"),
                request_timeout: r.duration("kubelet-request-timeout"),
                use_node_status_port: r.bool("kubelet-use-node-status-port"),
                node_selector: node_selector(&mut r),
            },
            serving: ServingOptions {
                bind_address: r.ip("bind-address", IpAddr::from([0, 0, 0, 0])),
                cert_dir: PathBuf::from(r.string("cert-dir")),
                disable_http2: r.bool("disable-http2-serving"),
                http2_max_streams_per_connection: r.int("http2-max-streams-per-connection", 0),
                permit_port_sharing: r.bool("permit-port-sharing"),
                secure_port: r.int("secure-port", 443),
                tls_cert_file: r.optional_string("tls-cert-file").map(PathBuf::from),
                tls_private_key_file: r.optional_string("tls-private-key-file").map(PathBuf::from),
                tls_cipher_suites: r.strings("tls-cipher-suites"),
                tls_min_version: r.optional_string("tls-min-version"),
            },
            authentication: AuthenticationOptions {
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
            },
            authorization: AuthorizationOptions {
                always_allow_paths: r.strings("authorization-always-allow-paths"),
                kubeconfig: r
                    .optional_string("authorization-kubeconfig")
                    .map(PathBuf::from),
                authorized_ttl: r.duration("authorization-webhook-cache-authorized-ttl"),
                unauthorized_ttl: r.duration("authorization-webhook-cache-unauthorized-ttl"),
            },
            generic: GenericOptions {
                max_requests_inflight: r.int("max-requests-inflight", 400),
                request_timeout: r.duration("request-timeout"),
                shutdown_delay: r.duration("shutdown-delay-duration"),
                strict_transport_security_directives: r
                    .strings("strict-transport-security-directives"),
            },
            logging: LoggingOptions {
                format: log_format(&mut r),
                verbosity: r.int("v", 0),
                split_stream: r.bool("log-json-split-stream") || r.bool("log-text-split-stream"),
            },
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
        errors.extend(options.cross_checks(raw));
        if errors.is_empty() {
            Ok(options)
        } else {
            Err(errors)
        }
    }

    /// Rules that involve more than one flag, or a value's meaning rather than its syntax.
    fn cross_checks(&self, raw: &RawFlags) -> Vec<String> {
        let mut errors = Vec::new();
        let mut check = |failed: bool, message: &str| {
            if failed {
                errors.push(message.to_string());
            }
        };
        let k = &self.kubelet;
        let resolution = self.metric_resolution;
        check(
            resolution < MIN_METRIC_RESOLUTION,
            &format!(
                "--metric-resolution must be at least 10s, got {}",
                go_duration(resolution)
            ),
        );
        check(
            k.request_timeout.is_zero(),
            "--kubelet-request-timeout should be positive",
        );
        // Upstream scrapes within 90% of a resolution; a longer kubelet timeout could never fire.
        check(
            !k.request_timeout.is_zero() && resolution.mul_f64(0.9) < k.request_timeout,
            &format!(
                "--kubelet-request-timeout ({}) must not be longer than 90% of --metric-resolution ({})",
                go_duration(k.request_timeout),
                go_duration(resolution.mul_f64(0.9)),
            ),
        );
        let ca_file = k.certificate_authority.is_some();
        let ca_text = k.certificate_authority_text.is_some();
        let client_cert = k.client_certificate.is_some();
        let client_key = k.client_key.is_some();
        check(
            ca_file && ca_text,
            "cannot use both --kubelet-certificate-authority and --kubelet-certificate-authority-text",
        );
        check(
            ca_text && k.insecure_tls,
            "cannot use both --kubelet-certificate-authority-text and --kubelet-insecure-tls",
        );
        check(
            ca_file && k.insecure_tls,
            "cannot use both --kubelet-certificate-authority and --kubelet-insecure-tls",
        );
        check(
            client_key != client_cert,
            "need both --kubelet-client-key and --kubelet-client-certificate",
        );
        let insecure = k.completely_insecure;
        check(
            client_key && insecure,
            "cannot use both --kubelet-client-key and --deprecated-kubelet-completely-insecure",
        );
        check(
            client_cert && insecure,
            "cannot use both --kubelet-client-certificate and --deprecated-kubelet-completely-insecure",
        );
        check(
            k.insecure_tls && insecure,
            "cannot use both --kubelet-insecure-tls and --deprecated-kubelet-completely-insecure",
        );
        check(
            ca_text && insecure,
            "cannot use both --kubelet-certificate-authority-text and --deprecated-kubelet-completely-insecure",
        );
        check(
            ca_file && insecure,
            "cannot use both --kubelet-certificate-authority and --deprecated-kubelet-completely-insecure",
        );
        check(k.port == 0, "--kubelet-port must be between 1 and 65535");
        check(
            k.max_concurrent_requests == 0,
            "--kubelet-max-concurrent-requests must be at least 1",
        );
        check(
            k.max_response_bytes == 0,
            "--kubelet-max-response-bytes must be positive",
        );
        for kind in &k.preferred_address_types {
            if !kubelet_scraper::NODE_ADDRESS_TYPES.contains(&kind.as_str()) {
                errors.push(format!(
                    "invalid argument \"{kind}\" for \"--kubelet-preferred-address-types\" flag: not a node address type; valid types are {}",
                    kubelet_scraper::NODE_ADDRESS_TYPES.join(", ")
                ));
            }
        }
        // The TLS version and cipher suites are checked here, before anything is read or
        // bound, by the same code that applies them.
        if let Err(tls) = self.serving.to_config().validate() {
            errors.extend(tls.0.iter().map(ToString::to_string));
        }
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
            self.generic.request_timeout.is_zero(),
            "--request-timeout must be positive",
        );
        errors
    }
}

fn node_selector(r: &mut Reader<'_>) -> LabelSelector {
    let text = r.string("node-selector");
    LabelSelector::parse(&text).unwrap_or_else(|error| {
        r.errors.push(format!(
            "invalid argument \"{text}\" for \"--node-selector\" flag: {error}"
        ));
        LabelSelector::default()
    })
}

fn metrics_source(r: &mut Reader<'_>) -> MetricsSource {
    match r.string("kubelet-metrics-source").as_str() {
        "resource" => MetricsSource::Resource,
        "summary" => MetricsSource::Summary,
        "auto" => MetricsSource::Auto,
        other => {
            r.errors.push(format!(
                "invalid argument \"{other}\" for \"--kubelet-metrics-source\" flag: must be one of resource, summary, auto"
            ));
            MetricsSource::Auto
        }
    }
}

fn log_format(r: &mut Reader<'_>) -> LogFormat {
    match r.string("logging-format").as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            r.errors.push(format!(
                "invalid argument \"{other}\" for \"--logging-format\" flag: permitted formats are \"json\", \"text\""
            ));
            LogFormat::Text
        }
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

    fn parse(args: &[&str]) -> Result<Options, Vec<String>> {
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
    fn deprecated_insecure_mode_excludes_all_tls_options() {
        let errors = parse(&[
            "--deprecated-kubelet-completely-insecure",
            "--kubelet-insecure-tls",
            "--kubelet-certificate-authority-text=PEM",
            "--kubelet-client-certificate=/c",
            "--kubelet-client-key=/k",
        ])
        .unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:#?}");
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
