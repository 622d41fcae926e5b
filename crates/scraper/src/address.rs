//! Where a node's kubelet is reached: which of its addresses, which port, which path.

use std::net::Ipv6Addr;

use url::Url;

use crate::error::ScrapeError;

/// The node annotation that overrides the resource-metrics path per node.
pub const RESOURCE_METRICS_PATH_ANNOTATION: &str = "metrics.k8s.io/resource-metrics-path";

/// One node to scrape, as the binary builds it from a Node object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeTarget {
    /// The Node object name; batches and metrics are keyed by it.
    pub name: String,
    /// `status.addresses`, in the node's order.
    pub addresses: Vec<NodeAddress>,
    /// `status.daemonEndpoints.kubeletEndpoint.Port`.
    pub kubelet_endpoint_port: Option<u16>,
    /// The [`RESOURCE_METRICS_PATH_ANNOTATION`] value.
    pub metrics_path: Option<String>,
}

/// One entry of `status.addresses`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddress {
    /// `InternalIP`, `ExternalIP`, `Hostname`, `InternalDNS`, `ExternalDNS`.
    pub kind: String,
    pub address: String,
}

impl NodeAddress {
    pub fn new(kind: impl Into<String>, address: impl Into<String>) -> Self {
        NodeAddress {
            kind: kind.into(),
            address: address.into(),
        }
    }
}

/// The two kubelet endpoints metrics-server knows how to decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /metrics/resource`, Prometheus text.
    Resource,
    /// `GET /stats/summary?only_cpu_and_memory=true`, JSON.
    Summary,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Resource => "resource",
            Endpoint::Summary => "summary",
        }
    }
}

/// For each preferred type in order, the first address of that type (upstream's rule; unknown
/// types simply never match).
pub fn select_address<'a>(
    node: &'a NodeTarget,
    preferred_types: &[String],
) -> Result<&'a str, ScrapeError> {
    preferred_types
        .iter()
        .find_map(|kind| node.addresses.iter().find(|a| &a.kind == kind))
        .map(|a| a.address.as_str())
        .ok_or_else(|| ScrapeError::NoAddress {
            types: preferred_types.to_vec(),
        })
}

/// The node-status port when asked for and non-zero, else the default port.
pub fn select_port(node: &NodeTarget, use_node_status_port: bool, default_port: u16) -> u16 {
    match node.kubelet_endpoint_port {
        Some(port) if use_node_status_port && port != 0 => port,
        _ => default_port,
    }
}

/// Builds the URL of `endpoint` on `host:port`. The host is set through the URL parser, never
/// by string concatenation, so an address such as `a/b@c` is rejected instead of redirecting
/// the request; IPv6 literals get their brackets.
pub fn endpoint_url(
    scheme_is_http: bool,
    host: &str,
    port: u16,
    endpoint: Endpoint,
    resource_path_override: Option<&str>,
) -> Result<Url, ScrapeError> {
    let invalid = |reason: String| ScrapeError::InvalidAddress {
        address: host.to_owned(),
        reason,
    };
    let base = if scheme_is_http {
        "http://kubelet.invalid"
    } else {
        "https://kubelet.invalid"
    };
    let mut url = Url::parse(base).map_err(|e| invalid(e.to_string()))?;
    let bracketed;
    let host_for_url = match host.parse::<Ipv6Addr>() {
        Ok(_) => {
            bracketed = format!("[{host}]");
            bracketed.as_str()
        }
        Err(_) => host,
    };
    let bracketed_ipv6 = host_for_url.starts_with('[');
    if host_for_url.is_empty()
        || (!bracketed_ipv6 && host_for_url.contains(['/', '@', '?', '#', ':']))
    {
        return Err(invalid("not a host name or IP address".to_owned()));
    }
    url.set_host(Some(host_for_url))
        .map_err(|e| invalid(e.to_string()))?;
    url.set_port(Some(port))
        .map_err(|()| invalid("the URL cannot carry a port".to_owned()))?;
    match endpoint {
        Endpoint::Resource => url.set_path(resource_path_override.unwrap_or("/metrics/resource")),
        Endpoint::Summary => {
            url.set_path("/stats/summary");
            url.set_query(Some("only_cpu_and_memory=true"));
        }
    }
    Ok(url)
}

/// The kubelet authorizes `/stats/*` as `nodes/stats`, `/metrics/*` as `nodes/metrics` and
/// anything else as `nodes/proxy`; naming the right one makes a 403 actionable.
pub(crate) fn kubelet_subresource(path: &str) -> &'static str {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if under("/stats") {
        "nodes/stats"
    } else if under("/metrics") {
        "nodes/metrics"
    } else {
        "nodes/proxy"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(addresses: &[(&str, &str)]) -> NodeTarget {
        NodeTarget {
            name: "n".into(),
            addresses: addresses
                .iter()
                .map(|(k, a)| NodeAddress::new(*k, *a))
                .collect(),
            ..NodeTarget::default()
        }
    }

    fn types(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn preferred_type_order_wins_over_address_order() {
        let n = node(&[
            ("Hostname", "worker-1"),
            ("InternalIP", "10.0.0.5"),
            ("InternalIP", "10.0.0.6"),
            ("ExternalIP", "1.2.3.4"),
        ]);
        assert_eq!(
            select_address(&n, &types(&["InternalIP", "Hostname"])).unwrap(),
            "10.0.0.5"
        );
        assert_eq!(
            select_address(&n, &types(&["ExternalDNS", "ExternalIP"])).unwrap(),
            "1.2.3.4"
        );
        assert_eq!(
            select_address(&n, &types(&["Bogus", "Hostname"])).unwrap(),
            "worker-1"
        );
        let err = select_address(&n, &types(&["InternalDNS", "ExternalDNS"])).unwrap_err();
        assert!(
            matches!(err, ScrapeError::NoAddress { types } if types == ["InternalDNS", "ExternalDNS"])
        );
    }

    #[test]
    fn node_status_port_only_when_enabled_and_non_zero() {
        let mut n = node(&[]);
        n.kubelet_endpoint_port = Some(10255);
        assert_eq!(select_port(&n, true, 10250), 10255);
        assert_eq!(select_port(&n, false, 10250), 10250);
        n.kubelet_endpoint_port = Some(0);
        assert_eq!(select_port(&n, true, 10250), 10250);
        n.kubelet_endpoint_port = None;
        assert_eq!(select_port(&n, true, 10250), 10250);
    }

    #[test]
    fn urls_for_each_endpoint_and_address_kind() {
        let url = |host, endpoint, path| {
            endpoint_url(false, host, 10250, endpoint, path)
                .unwrap()
                .to_string()
        };
        assert_eq!(
            url("10.0.0.5", Endpoint::Resource, None),
            "https://10.0.0.5:10250/metrics/resource"
        );
        assert_eq!(
            url("fd00::5", Endpoint::Resource, None),
            "https://[fd00::5]:10250/metrics/resource"
        );
        assert_eq!(
            url("worker-1", Endpoint::Summary, None),
            "https://worker-1:10250/stats/summary?only_cpu_and_memory=true"
        );
        assert_eq!(
            url("worker-1", Endpoint::Resource, Some("/custom/path")),
            "https://worker-1:10250/custom/path"
        );
        // A '?' in the annotation is part of the path, as Go's url.URL{Path: …} treats it.
        assert_eq!(
            url("worker-1", Endpoint::Resource, Some("/a?b")),
            "https://worker-1:10250/a%3Fb"
        );
        assert_eq!(
            endpoint_url(true, "10.0.0.5", 10255, Endpoint::Resource, None)
                .unwrap()
                .to_string(),
            "http://10.0.0.5:10255/metrics/resource"
        );
    }

    #[test]
    fn hostile_addresses_are_rejected() {
        for host in [
            "",
            "evil.com/x",
            "user@evil.com",
            "a:1",
            "a b",
            "[::1",
            "x?y",
        ] {
            let err = endpoint_url(false, host, 10250, Endpoint::Resource, None);
            assert!(
                matches!(err, Err(ScrapeError::InvalidAddress { .. })),
                "{host:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn subresources_follow_the_kubelet_authorizer() {
        assert_eq!(kubelet_subresource("/metrics/resource"), "nodes/metrics");
        assert_eq!(kubelet_subresource("/stats/summary"), "nodes/stats");
        assert_eq!(kubelet_subresource("/statsx"), "nodes/proxy");
        assert_eq!(kubelet_subresource("/custom"), "nodes/proxy");
    }
}
