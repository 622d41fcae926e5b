//! Every command-line flag the Go metrics-server accepts, plus ours, in one table: the parser,
//! `--help` and README's flag table are all generated from it, so they cannot disagree.

/// The `--help` section a flag is listed under, in upstream's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    MetricsServer,
    Generic,
    KubeletClient,
    SecureServing,
    Authentication,
    Authorization,
    AuditLog,
    Features,
    Logging,
}

impl Section {
    pub const ALL: [Section; 9] = [
        Section::MetricsServer,
        Section::Generic,
        Section::KubeletClient,
        Section::SecureServing,
        Section::Authentication,
        Section::Authorization,
        Section::AuditLog,
        Section::Features,
        Section::Logging,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Section::MetricsServer => "Metrics server flags",
            Section::Generic => "Generic flags",
            Section::KubeletClient => "Kubelet client flags",
            Section::SecureServing => "Apiserver secure serving flags",
            Section::Authentication => "Apiserver authentication flags",
            Section::Authorization => "Apiserver authorization flags",
            Section::AuditLog => "Apiserver audit log flags",
            Section::Features => "Features flags",
            Section::Logging => "Logging flags",
        }
    }
}

/// How a flag's value is written, named as pflag names its types in `--help`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    String,
    Int,
    Float,
    Duration,
    /// Comma-separated, and repeatable (each use appends).
    Strings,
    Ip,
    /// klog verbosity.
    Level,
    /// A Kubernetes quantity such as `64Mi`.
    Quantity,
    /// pflag's free-form value types that we accept without interpreting.
    Opaque(&'static str),
}

impl Kind {
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Bool => "",
            Kind::String => "string",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Duration => "duration",
            Kind::Strings => "strings",
            Kind::Ip => "ip",
            Kind::Level => "Level",
            Kind::Quantity => "quantity",
            Kind::Opaque(name) => name,
        }
    }
}

/// What the flag does in this implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Implemented with upstream's meaning.
    Honoured,
    /// Accepted so upstream manifests run unchanged; it changes nothing (upstream ignores some of these too).
    Ignored,
    /// Accepted, but setting it to a non-default value is refused with a clear error, because
    /// silently ignoring it would weaken what the operator asked for.
    Unsupported,
    /// Only in metrics-server-rs.
    Extension,
}

#[derive(Clone, Copy, Debug)]
pub struct FlagSpec {
    pub name: &'static str,
    pub short: Option<char>,
    pub section: Section,
    pub kind: Kind,
    /// The default as pflag prints it; empty for none.
    pub default: &'static str,
    pub effect: Effect,
    pub help: &'static str,
}

const fn flag(
    section: Section,
    name: &'static str,
    kind: Kind,
    default: &'static str,
    effect: Effect,
    help: &'static str,
) -> FlagSpec {
    FlagSpec {
        name,
        short: None,
        section,
        kind,
        default,
        effect,
        help,
    }
}

const fn short(spec: FlagSpec, short: char) -> FlagSpec {
    FlagSpec {
        short: Some(short),
        ..spec
    }
}

use Effect::{Extension, Honoured, Ignored, Unsupported};
use Kind::*;
use Section::*;

pub const DEFAULT_ADDRESS_TYPES: &str = "Hostname,InternalDNS,InternalIP,ExternalDNS,ExternalIP";

/// The flags, grouped by section; within a section, alphabetical as pflag sorts them.
pub static FLAGS: &[FlagSpec] = &[
    // Metrics server
    flag(
        MetricsServer,
        "kubeconfig",
        String,
        "",
        Honoured,
        "The path to the kubeconfig used to connect to the Kubernetes API server and the Kubelets (defaults to in-cluster config)",
    ),
    flag(
        MetricsServer,
        "metric-resolution",
        Duration,
        "1m0s",
        Honoured,
        "The resolution at which metrics-server will retain metrics, must set value at least 10s.",
    ),
    flag(
        MetricsServer,
        "node-scrape-events",
        Bool,
        "true",
        Extension,
        "Record a Kubernetes Event on a Node when its scrapes start failing (Warning FailedScrape, naming the cause) and when they recover (Normal ScrapeRecovered), so `kubectl describe node` says why `kubectl top` shows <unknown>. Needs create/patch on events.k8s.io events.",
    ),
    flag(
        MetricsServer,
        "usage-window",
        Duration,
        "0s",
        Extension,
        "Serve CPU as the average over this window instead of between the last two scrapes: every scrape of a node or container within the window is kept, and the served window is the distance to the oldest (at most 41 scrapes, so at most 10m at a 15s --metric-resolution). Use it for steadier CPU where the HorizontalPodAutoscaler flaps on bursty workloads, at the cost of reacting more slowly to real changes. Costs 16 bytes per node and container for each older scrape kept (128 bytes at 2m with 15s). Memory and swap stay the newest values. 0 keeps upstream's two-scrape rate; otherwise between --metric-resolution and 10m.",
    ),
    flag(MetricsServer, "version", Bool, "", Honoured, "Show version"),
    // Generic
    flag(
        Generic,
        "advertise-address",
        Ip,
        "",
        Ignored,
        "The IP address on which to advertise the apiserver to members of the cluster. Unused: metrics-server is reached through its Service.",
    ),
    flag(
        Generic,
        "cors-allowed-origins",
        Strings,
        "",
        Unsupported,
        "List of allowed origins for CORS, comma separated. Not supported: CORS is never needed to reach the metrics API.",
    ),
    flag(
        Generic,
        "emulated-version",
        Strings,
        "",
        Ignored,
        "Kubernetes compatibility-version machinery; no effect on metrics-server.",
    ),
    flag(
        Generic,
        "emulation-forward-compatible",
        Bool,
        "",
        Ignored,
        "Kubernetes compatibility-version machinery; no effect on metrics-server.",
    ),
    flag(
        Generic,
        "external-hostname",
        String,
        "",
        Ignored,
        "The hostname to use when generating externalized URLs; metrics-server generates none.",
    ),
    flag(
        Generic,
        "feature-gates",
        Opaque("mapStringBool"),
        "",
        Ignored,
        "Kubernetes apiserver feature gates; none changes metrics-server's behaviour.",
    ),
    flag(
        Generic,
        "goaway-chance",
        Float,
        "",
        Ignored,
        "Probability of sending an HTTP/2 GOAWAY to rebalance clients (0 to 0.02). Accepted and validated, not applied.",
    ),
    flag(
        Generic,
        "livez-grace-period",
        Duration,
        "",
        Ignored,
        "Grace period for boot-sequence livez checks; metrics-server has none.",
    ),
    flag(
        Generic,
        "max-mutating-requests-inflight",
        Int,
        "200",
        Ignored,
        "Limit on mutating requests in flight; metrics-server serves no mutating requests.",
    ),
    flag(
        Generic,
        "max-requests-inflight",
        Int,
        "400",
        Honoured,
        "The maximum number of requests in flight at a given time. When exceeded, requests are answered 429 Too Many Requests. Zero means no limit.",
    ),
    flag(
        Generic,
        "min-compatibility-version",
        Strings,
        "",
        Ignored,
        "Kubernetes compatibility-version machinery; no effect on metrics-server.",
    ),
    flag(
        Generic,
        "min-request-timeout",
        Int,
        "1800",
        Ignored,
        "Watch timeout floor; metrics-server serves no watches.",
    ),
    flag(
        Generic,
        "request-timeout",
        Duration,
        "1m0s",
        Honoured,
        "The longest a request may take before it is answered 504 Gateway Timeout.",
    ),
    flag(
        Generic,
        "runtime-config-emulation-forward-compatible",
        Bool,
        "",
        Ignored,
        "Kubernetes compatibility-version machinery; no effect on metrics-server.",
    ),
    flag(
        Generic,
        "shutdown-delay-duration",
        Duration,
        "",
        Honoured,
        "After SIGTERM, /readyz fails at once while requests are still served for this long, so endpoints can drain.",
    ),
    flag(
        Generic,
        "shutdown-send-retry-after",
        Bool,
        "",
        Ignored,
        "While draining, answer 429 with Retry-After. Accepted, not applied.",
    ),
    flag(
        Generic,
        "shutdown-watch-termination-grace-period",
        Duration,
        "",
        Ignored,
        "Watch drain window; metrics-server serves no watches.",
    ),
    flag(
        Generic,
        "storage-initialization-timeout",
        Duration,
        "1m0s",
        Ignored,
        "Unused: metrics-server has no storage backend.",
    ),
    flag(
        Generic,
        "strict-transport-security-directives",
        Strings,
        "",
        Honoured,
        "Directives for the Strict-Transport-Security response header, comma separated, e.g. 'max-age=31536000,includeSubDomains'.",
    ),
    // Kubelet client
    flag(
        KubeletClient,
        "deprecated-kubelet-completely-insecure",
        Bool,
        "",
        Honoured,
        "DEPRECATED: Do not use any encryption, authorization, or authentication when communicating with the Kubelet. This is rarely the right option, since it leaves kubelet communication completely insecure. If you encounter auth errors, make sure you've enabled token webhook auth on the Kubelet, and if you're in a test cluster with self-signed Kubelet certificates, consider using kubelet-insecure-tls instead.",
    ),
    flag(
        KubeletClient,
        "kubelet-certificate-authority",
        String,
        "",
        Honoured,
        "Path to the CA to use to validate the Kubelet's serving certificates.",
    ),
    flag(
        KubeletClient,
        "kubelet-certificate-authority-text",
        String,
        "",
        Honoured,
        "CA text to use to validate the Kubelet's serving certificates.",
    ),
    flag(
        KubeletClient,
        "kubelet-client-certificate",
        String,
        "",
        Honoured,
        "Path to a client cert file for TLS.",
    ),
    flag(
        KubeletClient,
        "kubelet-client-key",
        String,
        "",
        Honoured,
        "Path to a client key file for TLS.",
    ),
    flag(
        KubeletClient,
        "kubelet-insecure-tls",
        Bool,
        "",
        Honoured,
        "Do not verify CA of serving certificates presented by Kubelets. For testing purposes only.",
    ),
    flag(
        KubeletClient,
        "kubelet-keep-connections",
        Bool,
        "",
        Extension,
        "Keep each kubelet connection open for the next scrape. Saves a TCP and TLS handshake per node and scrape (about 0.25 ms of CPU, a third of a scrape cycle's) but holds about 37 KiB per node while idle; by default each scrape opens a connection and resumes the node's TLS session.",
    ),
    flag(
        KubeletClient,
        "kubelet-max-concurrent-requests",
        Int,
        "256",
        Extension,
        "The most kubelet scrapes in flight at once; the others wait their turn within the cycle.",
    ),
    flag(
        KubeletClient,
        "kubelet-max-response-bytes",
        Quantity,
        "64Mi",
        Extension,
        "The largest kubelet response accepted; a larger one fails that node's scrape instead of exhausting memory.",
    ),
    flag(
        KubeletClient,
        "kubelet-metrics-source",
        String,
        "auto",
        Extension,
        "Where to read kubelet metrics: 'resource' (/metrics/resource), 'summary' (/stats/summary) or 'auto' (resource, falling back to summary for kubelets that answer 404).",
    ),
    flag(
        KubeletClient,
        "kubelet-port",
        Int,
        "10250",
        Honoured,
        "The port to use to connect to Kubelets.",
    ),
    flag(
        KubeletClient,
        "kubelet-preferred-address-types",
        Strings,
        DEFAULT_ADDRESS_TYPES,
        Honoured,
        "The priority of node address types to use when determining which address to use to connect to a particular node",
    ),
    flag(
        KubeletClient,
        "kubelet-request-timeout",
        Duration,
        "10s",
        Honoured,
        "The length of time to wait before giving up on a single request to Kubelet. Non-zero values should contain a corresponding time unit (e.g. 1s, 2m, 3h).",
    ),
    flag(
        KubeletClient,
        "kubelet-use-node-status-port",
        Bool,
        "",
        Honoured,
        "Use the port in the node status. Takes precedence over --kubelet-port flag.",
    ),
    short(
        flag(
            KubeletClient,
            "node-selector",
            String,
            "",
            Honoured,
            "Selector (label query) to filter on, not including uninitialized ones, supports '=', '==', and '!='.(e.g. -l key1=value1,key2=value2).",
        ),
        'l',
    ),
    // Secure serving
    flag(
        SecureServing,
        "bind-address",
        Ip,
        "0.0.0.0",
        Honoured,
        "The IP address on which to listen for the --secure-port port. If blank or an unspecified address (0.0.0.0 or ::), all interfaces will be used.",
    ),
    flag(
        SecureServing,
        "cert-dir",
        String,
        "apiserver.local.config/certificates",
        Honoured,
        "The directory where the TLS certs are located. If --tls-cert-file and --tls-private-key-file are provided, this flag will be ignored.",
    ),
    flag(
        SecureServing,
        "disable-http2-serving",
        Bool,
        "",
        Honoured,
        "If true, HTTP2 serving will be disabled.",
    ),
    flag(
        SecureServing,
        "http2-max-streams-per-connection",
        Int,
        "",
        Honoured,
        "The limit that the server gives to clients for the maximum number of streams in an HTTP/2 connection. Zero means the library default.",
    ),
    flag(
        SecureServing,
        "permit-address-sharing",
        Bool,
        "",
        Ignored,
        "SO_REUSEADDR is always used when binding the port, so this changes nothing.",
    ),
    flag(
        SecureServing,
        "permit-port-sharing",
        Bool,
        "",
        Honoured,
        "If true, SO_REUSEPORT will be used when binding the port, which allows more than one instance to bind on the same address and port.",
    ),
    flag(
        SecureServing,
        "secure-port",
        Int,
        "443",
        Honoured,
        "The port on which to serve HTTPS with authentication and authorization. If 0, don't serve HTTPS at all.",
    ),
    flag(
        SecureServing,
        "tls-cert-file",
        String,
        "",
        Honoured,
        "File containing the default x509 Certificate for HTTPS (CA cert, if any, concatenated after server cert). Reloaded when it changes. If not provided, a self-signed certificate and key are generated and saved to --cert-dir.",
    ),
    flag(
        SecureServing,
        "tls-cipher-suites",
        Strings,
        "",
        Honoured,
        "Comma-separated list of cipher suites for the server, by their Go names. Names this server cannot honour are rejected.",
    ),
    flag(
        SecureServing,
        "tls-curve-preferences",
        Opaque("int32Slice"),
        "",
        Ignored,
        "Go curve IDs; the TLS library's preferences are used.",
    ),
    flag(
        SecureServing,
        "tls-min-version",
        String,
        "",
        Honoured,
        "Minimum TLS version supported. Possible values: VersionTLS12, VersionTLS13 (VersionTLS10 and VersionTLS11 are refused).",
    ),
    flag(
        SecureServing,
        "tls-private-key-file",
        String,
        "",
        Honoured,
        "File containing the default x509 private key matching --tls-cert-file. Reloaded when it changes.",
    ),
    flag(
        SecureServing,
        "tls-sni-cert-key",
        Opaque("namedCertKey"),
        "",
        Unsupported,
        "SNI certificate/key pairs. Not supported: use --tls-cert-file.",
    ),
    // Authentication
    flag(
        Authentication,
        "authentication-kubeconfig",
        String,
        "",
        Honoured,
        "kubeconfig file pointing at the 'core' kubernetes server with enough rights to create tokenreviews.authentication.k8s.io (defaults to --kubeconfig, else in-cluster config).",
    ),
    flag(
        Authentication,
        "authentication-skip-lookup",
        Bool,
        "",
        Honoured,
        "If false, the authentication-kubeconfig will be used to lookup missing authentication configuration from the cluster.",
    ),
    flag(
        Authentication,
        "authentication-token-webhook-cache-ttl",
        Duration,
        "10s",
        Honoured,
        "The duration to cache responses from the webhook token authenticator.",
    ),
    flag(
        Authentication,
        "authentication-tolerate-lookup-failure",
        Bool,
        "",
        Honoured,
        "If true, failures to look up missing authentication configuration from the cluster are not considered fatal. Note that this can result in authentication that treats all requests as anonymous.",
    ),
    flag(
        Authentication,
        "client-ca-file",
        String,
        "",
        Honoured,
        "If set, any request presenting a client certificate signed by one of the authorities in the client-ca-file is authenticated with an identity corresponding to the CommonName of the client certificate.",
    ),
    flag(
        Authentication,
        "requestheader-allowed-names",
        Strings,
        "",
        Honoured,
        "List of client certificate common names to allow to provide usernames in headers specified by --requestheader-username-headers. If empty, any client certificate validated by the authorities in --requestheader-client-ca-file is allowed.",
    ),
    flag(
        Authentication,
        "requestheader-client-ca-file",
        String,
        "",
        Honoured,
        "Root certificate bundle to use to verify client certificates on incoming requests before trusting usernames in headers specified by --requestheader-username-headers.",
    ),
    flag(
        Authentication,
        "requestheader-extra-headers-prefix",
        Strings,
        "x-remote-extra-",
        Honoured,
        "List of request header prefixes to inspect. X-Remote-Extra- is suggested.",
    ),
    flag(
        Authentication,
        "requestheader-group-headers",
        Strings,
        "x-remote-group",
        Honoured,
        "List of request headers to inspect for groups. X-Remote-Group is suggested.",
    ),
    flag(
        Authentication,
        "requestheader-uid-headers",
        Strings,
        "",
        Honoured,
        "List of request headers to inspect for UIDs. X-Remote-Uid is suggested.",
    ),
    flag(
        Authentication,
        "requestheader-username-headers",
        Strings,
        "x-remote-user",
        Honoured,
        "List of request headers to inspect for usernames. X-Remote-User is common.",
    ),
    // Authorization
    flag(
        Authorization,
        "authorization-always-allow-paths",
        Strings,
        "/healthz,/readyz,/livez",
        Honoured,
        "A list of HTTP paths to skip during authorization, i.e. these are authorized without contacting the 'core' kubernetes server.",
    ),
    flag(
        Authorization,
        "authorization-kubeconfig",
        String,
        "",
        Honoured,
        "kubeconfig file pointing at the 'core' kubernetes server with enough rights to create subjectaccessreviews.authorization.k8s.io (defaults to --kubeconfig, else in-cluster config).",
    ),
    flag(
        Authorization,
        "authorization-webhook-cache-authorized-ttl",
        Duration,
        "10s",
        Honoured,
        "The duration to cache 'authorized' responses from the webhook authorizer.",
    ),
    flag(
        Authorization,
        "authorization-webhook-cache-unauthorized-ttl",
        Duration,
        "10s",
        Honoured,
        "The duration to cache 'unauthorized' responses from the webhook authorizer.",
    ),
    // Audit log: accepted so upstream configurations parse; audit logging itself is not implemented.
    flag(
        AuditLog,
        "audit-log-batch-buffer-size",
        Int,
        "10000",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-log-batch-max-size",
        Int,
        "1",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-log-batch-max-wait",
        Duration,
        "",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-log-batch-throttle-burst",
        Int,
        "",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-log-batch-throttle-enable",
        Bool,
        "",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-log-batch-throttle-qps",
        Float,
        "",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-log-compress",
        Bool,
        "",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-log-format",
        String,
        "json",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-log-maxage",
        Int,
        "366",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-log-maxbackup",
        Int,
        "100",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-log-maxsize",
        Int,
        "100",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-log-mode",
        String,
        "blocking",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-log-path",
        String,
        "",
        Unsupported,
        "Audit logging is not implemented; setting a path is refused rather than silently dropping the audit trail.",
    ),
    flag(
        AuditLog,
        "audit-log-truncate-enabled",
        Bool,
        "",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-log-truncate-max-batch-size",
        Int,
        "10485760",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-log-truncate-max-event-size",
        Int,
        "102400",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-log-version",
        String,
        "audit.k8s.io/v1",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-policy-file",
        String,
        "",
        Unsupported,
        "Audit logging is not implemented; setting a policy is refused rather than silently dropping the audit trail.",
    ),
    flag(
        AuditLog,
        "audit-webhook-batch-buffer-size",
        Int,
        "10000",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-webhook-batch-max-size",
        Int,
        "400",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-webhook-batch-max-wait",
        Duration,
        "30s",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-webhook-batch-throttle-burst",
        Int,
        "15",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-webhook-batch-throttle-enable",
        Bool,
        "true",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-webhook-batch-throttle-qps",
        Float,
        "10",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-webhook-config-file",
        String,
        "",
        Unsupported,
        "Audit logging is not implemented; setting a webhook is refused rather than silently dropping the audit trail.",
    ),
    flag(
        AuditLog,
        "audit-webhook-initial-backoff",
        Duration,
        "10s",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-webhook-mode",
        String,
        "batch",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-webhook-truncate-enabled",
        Bool,
        "",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-webhook-truncate-max-batch-size",
        Int,
        "10485760",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-webhook-truncate-max-event-size",
        Int,
        "102400",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    flag(
        AuditLog,
        "audit-webhook-version",
        String,
        "audit.k8s.io/v1",
        Ignored,
        "Audit logging is not implemented; accepted for compatibility.",
    ),
    // Features (upstream never applies these either)
    flag(
        Features,
        "contention-profiling",
        Bool,
        "",
        Ignored,
        "Enable block profiling, if profiling is enabled. No effect (as upstream).",
    ),
    flag(
        Features,
        "debug-socket-path",
        String,
        "",
        Ignored,
        "Unprotected profiling socket. No effect (as upstream).",
    ),
    flag(
        Features,
        "enable-priority-and-fairness",
        Bool,
        "true",
        Ignored,
        "API Priority and Fairness. No effect (as upstream); --max-requests-inflight applies.",
    ),
    flag(
        Features,
        "profiling",
        Bool,
        "true",
        Ignored,
        "Enable profiling via web interface host:port/debug/pprof/. No profiling endpoints are served.",
    ),
    // Logging
    flag(
        Logging,
        "log-flush-frequency",
        Duration,
        "5s",
        Ignored,
        "Maximum number of seconds between log flushes; logs are written as they happen.",
    ),
    flag(
        Logging,
        "log-json-info-buffer-size",
        Quantity,
        "",
        Ignored,
        "[Alpha] Info-message buffering in JSON format; not applied.",
    ),
    flag(
        Logging,
        "log-json-split-stream",
        Bool,
        "",
        Honoured,
        "[Alpha] In JSON format, write error messages to stderr and info messages to stdout.",
    ),
    flag(
        Logging,
        "log-text-info-buffer-size",
        Quantity,
        "",
        Ignored,
        "[Alpha] Info-message buffering in text format; not applied.",
    ),
    flag(
        Logging,
        "log-text-split-stream",
        Bool,
        "",
        Honoured,
        "[Alpha] In text format, write error messages to stderr and info messages to stdout.",
    ),
    flag(
        Logging,
        "logging-format",
        String,
        "text",
        Honoured,
        "Sets the log format. Permitted formats: \"json\", \"text\".",
    ),
    short(
        flag(
            Logging,
            "v",
            Level,
            "",
            Honoured,
            "number for the log level verbosity",
        ),
        'v',
    ),
    flag(
        Logging,
        "vmodule",
        Opaque("pattern=N,..."),
        "",
        Ignored,
        "comma-separated list of pattern=N settings for file-filtered logging; not applied.",
    ),
];

pub fn find(name: &str) -> Option<&'static FlagSpec> {
    FLAGS.iter().find(|spec| spec.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = FLAGS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn every_flag_the_upstream_manifests_and_chart_use_is_present() {
        for name in [
            "cert-dir",
            "secure-port",
            "kubelet-preferred-address-types",
            "kubelet-use-node-status-port",
            "metric-resolution",
            "kubelet-insecure-tls",
            "node-selector",
            "authorization-always-allow-paths",
            "tls-cert-file",
            "tls-private-key-file",
            "requestheader-client-ca-file",
            "v",
        ] {
            assert!(find(name).is_some(), "{name}");
        }
    }
}
