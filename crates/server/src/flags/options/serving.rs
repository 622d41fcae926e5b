//! Apiserver secure serving flags: the address, port, certificates and TLS policy the metrics
//! API is served with.

use std::net::IpAddr;
use std::path::PathBuf;

use super::super::reader::Reader;

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
    pub(super) fn from_flags(r: &mut Reader<'_>) -> Self {
        ServingOptions {
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
        }
    }

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

    /// The TLS version and cipher suites are checked here, before anything is read or bound,
    /// by the same code that applies them.
    pub(super) fn validate(&self) -> Vec<String> {
        match self.to_config().validate() {
            Ok(()) => Vec::new(),
            Err(tls) => tls.0.iter().map(ToString::to_string).collect(),
        }
    }
}
