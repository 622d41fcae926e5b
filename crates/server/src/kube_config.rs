//! Connection settings from kubeconfig files or the pod's service account, for the API server
//! and, as upstream does, as the base of the kubelet client (token, CA, client certificate).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kubelet_scraper::{BearerToken, KubeletClientConfig};
use secrecy::ExposeSecret;

use crate::flags::KubeletOptions;

/// Loads `--kubeconfig` (or another kubeconfig flag), else the in-cluster service account.
pub async fn load(path: Option<&Path>) -> Result<kube::Config> {
    match path {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("unable to read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("unable to use kubeconfig {}", path.display()))
        }
        None => kube::Config::incluster().context(
            "unable to load in-cluster configuration (outside a pod, pass --kubeconfig, \
             --authentication-kubeconfig and --authorization-kubeconfig)",
        ),
    }
}

/// A kubeconfig's base64 `*-data` value, or the file a path value points to.
fn data_or_file(data: Option<&str>, file: Option<&str>, what: &str) -> Result<Option<Vec<u8>>> {
    if let Some(data) = data.filter(|d| !d.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .with_context(|| format!("kubeconfig {what} data is not valid base64"))?;
        return Ok(Some(decoded));
    }
    match file.filter(|f| !f.is_empty()) {
        Some(file) => Ok(Some(read(Path::new(file), what)?)),
        None => Ok(None),
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("unable to read {what} {}", path.display()))
}

/// DER certificates as a PEM bundle.
fn pem_bundle(ders: &[Vec<u8>]) -> Vec<u8> {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut pem = String::new();
    for der in ders {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let encoded = engine.encode(der);
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

/// The kubelet client settings: upstream copies the API client configuration (token, CA,
/// client certificate) and lets the kubelet flags override parts of it.
pub fn kubelet_client(
    flags: &KubeletOptions,
    base: &kube::Config,
    request_timeout: std::time::Duration,
    pool_idle_timeout: std::time::Duration,
) -> Result<KubeletClientConfig> {
    let mut config = KubeletClientConfig {
        default_port: flags.port,
        use_node_status_port: flags.use_node_status_port,
        preferred_address_types: flags.preferred_address_types.clone(),
        request_timeout,
        max_body_bytes: usize::try_from(flags.max_response_bytes).unwrap_or(usize::MAX),
        source: flags.metrics_source,
        max_concurrent: flags.max_concurrent_requests,
        keep_connections: flags.keep_connections,
        pool_idle_timeout,
        user_agent: format!(
            "metrics-server/v{} ({}/{}) metrics-server-rs",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            go_arch()
        ),
        ..KubeletClientConfig::default()
    };
    if flags.completely_insecure {
        // Never leak credentials to a plain-HTTP endpoint.
        config.scheme_insecure_http = true;
        return Ok(config);
    }

    let auth = &base.auth_info;
    config.bearer_token = match (&auth.token, &auth.token_file) {
        (Some(token), _) => BearerToken::Static(token.expose_secret().to_string()),
        (None, Some(file)) => BearerToken::File(PathBuf::from(file)),
        (None, None) => BearerToken::None,
    };

    config.ca_pem = if flags.insecure_tls {
        config.insecure_skip_tls_verify = true;
        None
    } else if let Some(text) = &flags.certificate_authority_text {
        Some(text.clone().into_bytes())
    } else if let Some(file) = &flags.certificate_authority {
        Some(read(file, "--kubelet-certificate-authority")?)
    } else if let Some(file) = &base.root_cert_file {
        Some(read(file, "the cluster CA")?)
    } else {
        base.root_cert.as_deref().map(pem_bundle)
    };
    if config.ca_pem.is_none() && !config.insecure_skip_tls_verify {
        bail!(
            "no CA to verify kubelet serving certificates: the kubeconfig has none; pass \
             --kubelet-certificate-authority, or --kubelet-insecure-tls for test clusters"
        );
    }

    match (&flags.client_certificate, &flags.client_key) {
        (Some(cert), Some(key)) => {
            config.client_cert_pem = Some(read(cert, "--kubelet-client-certificate")?);
            config.client_key_pem = Some(read(key, "--kubelet-client-key")?);
        }
        _ => {
            config.client_cert_pem = data_or_file(
                auth.client_certificate_data.as_deref(),
                auth.client_certificate.as_deref(),
                "client certificate",
            )?;
            config.client_key_pem = data_or_file(
                auth.client_key_data.as_ref().map(|key| key.expose_secret()),
                auth.client_key.as_deref(),
                "client key",
            )?;
            if config.client_cert_pem.is_none() || config.client_key_pem.is_none() {
                config.client_cert_pem = None;
                config.client_key_pem = None;
            }
        }
    }
    Ok(config)
}

/// Go's name for this architecture, as kubelets see it in user agents.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{ParseOutcome, parse_args};

    fn kubelet_flags(args: &[&str]) -> KubeletOptions {
        match parse_args(std::iter::once("metrics-server").chain(args.iter().copied())) {
            Ok(options) => options.kubelet,
            Err(ParseOutcome::Errors(errors)) => panic!("{errors:?}"),
            Err(ParseOutcome::Help(_)) => panic!("help"),
        }
    }

    fn base_config() -> kube::Config {
        let mut config = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
        config.root_cert = Some(vec![vec![1, 2, 3]]);
        config.auth_info.token = Some("sa-token".to_string().into());
        config
    }

    fn build(args: &[&str], base: &kube::Config) -> Result<KubeletClientConfig> {
        kubelet_client(
            &kubelet_flags(args),
            base,
            std::time::Duration::from_secs(10),
            std::time::Duration::from_secs(300),
        )
    }

    #[test]
    fn the_api_credentials_are_the_kubelet_defaults() {
        let config = build(&[], &base_config()).unwrap();
        assert!(matches!(config.bearer_token, BearerToken::Static(ref t) if t == "sa-token"));
        let ca = String::from_utf8(config.ca_pem.unwrap()).unwrap();
        assert_eq!(
            ca,
            "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n"
        );
        assert!(!config.insecure_skip_tls_verify);
        assert_eq!(config.default_port, 10250);
    }

    #[test]
    fn connections_are_kept_only_when_asked() {
        assert!(!build(&[], &base_config()).unwrap().keep_connections);
        let kept = build(&["--kubelet-keep-connections"], &base_config()).unwrap();
        assert!(kept.keep_connections);
    }

    #[test]
    fn insecure_tls_drops_the_ca_but_keeps_the_token() {
        let config = build(&["--kubelet-insecure-tls"], &base_config()).unwrap();
        assert!(config.insecure_skip_tls_verify);
        assert!(config.ca_pem.is_none());
        assert!(matches!(config.bearer_token, BearerToken::Static(_)));
    }

    #[test]
    fn completely_insecure_sends_no_credentials() {
        let config = build(
            &[
                "--deprecated-kubelet-completely-insecure",
                "--kubelet-port=10255",
            ],
            &base_config(),
        )
        .unwrap();
        assert!(config.scheme_insecure_http);
        assert!(matches!(config.bearer_token, BearerToken::None));
        assert!(config.ca_pem.is_none() && config.client_cert_pem.is_none());
        assert_eq!(config.default_port, 10255);
    }

    #[test]
    fn ca_text_flag_replaces_the_cluster_ca() {
        let config = build(
            &["--kubelet-certificate-authority-text=PEM"],
            &base_config(),
        )
        .unwrap();
        assert_eq!(config.ca_pem.unwrap(), b"PEM");
    }

    #[test]
    fn no_ca_anywhere_is_a_clear_error() {
        let mut base = base_config();
        base.root_cert = None;
        let error = build(&[], &base).unwrap_err().to_string();
        assert!(error.contains("--kubelet-insecure-tls"), "{error}");
    }

    #[test]
    fn kubeconfig_client_certificates_are_used_when_flags_do_not_say() {
        let mut base = base_config();
        let engine = base64::engine::general_purpose::STANDARD;
        base.auth_info.client_certificate_data = Some(engine.encode("CERT"));
        base.auth_info.client_key_data = Some(engine.encode("KEY").into());
        let config = build(&[], &base).unwrap();
        assert_eq!(config.client_cert_pem.unwrap(), b"CERT");
        assert_eq!(config.client_key_pem.unwrap(), b"KEY");
    }
}
