//! Kubelet client flags: how kubelets are reached and trusted, and which nodes are scraped.
//!
//! `kube_config::kubelet_client` turns this section into the scraper's `KubeletClientConfig`,
//! as it also needs the API client's credentials.

use std::path::PathBuf;
use std::time::Duration;

use apimachinery::selector::LabelSelector;
use kubelet_scraper::MetricsSource;

use super::super::reader::Reader;

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

impl KubeletOptions {
    pub(super) fn from_flags(r: &mut Reader<'_>) -> Self {
        KubeletOptions {
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
            metrics_source: metrics_source(r),
            port: r.int("kubelet-port", 10250),
            preferred_address_types: r.strings("kubelet-preferred-address-types"),
            request_timeout: r.duration("kubelet-request-timeout"),
            use_node_status_port: r.bool("kubelet-use-node-status-port"),
            node_selector: node_selector(r),
        }
    }

    /// The section's own rules: ways of trusting kubelets that exclude each other, and ranges.
    pub(super) fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let mut check = |failed: bool, message: &str| {
            if failed {
                errors.push(message.to_string());
            }
        };
        check(
            self.request_timeout.is_zero(),
            "--kubelet-request-timeout should be positive",
        );
        let ca_file = self.certificate_authority.is_some();
        let ca_text = self.certificate_authority_text.is_some();
        let client_cert = self.client_certificate.is_some();
        let client_key = self.client_key.is_some();
        check(
            ca_file && ca_text,
            "cannot use both --kubelet-certificate-authority and --kubelet-certificate-authority-text",
        );
        check(
            ca_text && self.insecure_tls,
            "cannot use both --kubelet-certificate-authority-text and --kubelet-insecure-tls",
        );
        check(
            ca_file && self.insecure_tls,
            "cannot use both --kubelet-certificate-authority and --kubelet-insecure-tls",
        );
        check(
            client_key != client_cert,
            "need both --kubelet-client-key and --kubelet-client-certificate",
        );
        let insecure = self.completely_insecure;
        check(
            client_key && insecure,
            "cannot use both --kubelet-client-key and --deprecated-kubelet-completely-insecure",
        );
        check(
            client_cert && insecure,
            "cannot use both --kubelet-client-certificate and --deprecated-kubelet-completely-insecure",
        );
        check(
            self.insecure_tls && insecure,
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
        check(self.port == 0, "--kubelet-port must be between 1 and 65535");
        check(
            self.max_concurrent_requests == 0,
            "--kubelet-max-concurrent-requests must be at least 1",
        );
        check(
            self.max_response_bytes == 0,
            "--kubelet-max-response-bytes must be positive",
        );
        for kind in &self.preferred_address_types {
            if !kubelet_scraper::NODE_ADDRESS_TYPES.contains(&kind.as_str()) {
                errors.push(format!(
                    "invalid argument \"{kind}\" for \"--kubelet-preferred-address-types\" flag: not a node address type; valid types are {}",
                    kubelet_scraper::NODE_ADDRESS_TYPES.join(", ")
                ));
            }
        }
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

#[cfg(test)]
mod tests {
    use super::super::tests::parse;

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
}
