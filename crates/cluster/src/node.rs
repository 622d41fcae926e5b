//! The parts of a Node the scraper and the API need.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use crate::Labels;

/// The node annotation that overrides the kubelet path scraped for resource metrics.
pub const RESOURCE_METRICS_PATH_ANNOTATION: &str = "metrics.k8s.io/resource-metrics-path";

/// One entry of `status.addresses`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddress {
    /// `InternalIP`, `ExternalIP`, `Hostname`, `InternalDNS` or `ExternalDNS`.
    pub kind: String,
    pub address: String,
}

/// A Node as metrics-server sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    /// `metadata.uid`: events about the node name it, so `kubectl describe node` finds them.
    pub uid: Option<String>,
    pub labels: Labels,
    /// In the order the Node status lists them; address selection takes the first of each type.
    pub addresses: Vec<NodeAddress>,
    /// `status.daemonEndpoints.kubeletEndpoint.Port`, when set to a usable port.
    pub kubelet_port: Option<u16>,
    /// The `metrics.k8s.io/resource-metrics-path` annotation, when present.
    pub metrics_path: Option<String>,
    /// Whether the Ready condition is True; scrape failures of unready nodes are expected noise.
    pub ready: bool,
}

impl NodeInfo {
    /// Extracts what we keep from a Node; `None` for a nameless object.
    pub fn from_node(node: &Node) -> Option<NodeInfo> {
        let name = node.metadata.name.clone()?;
        let labels = Arc::new(node.metadata.labels.clone().unwrap_or_default());
        let metrics_path = node
            .metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(RESOURCE_METRICS_PATH_ANNOTATION))
            .cloned();
        let status = node.status.as_ref();
        let addresses = status
            .and_then(|status| status.addresses.as_ref())
            .map(|addresses| {
                addresses
                    .iter()
                    .map(|a| NodeAddress {
                        kind: a.type_.clone(),
                        address: a.address.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let kubelet_port = status
            .and_then(|status| status.daemon_endpoints.as_ref())
            .and_then(|endpoints| endpoints.kubelet_endpoint.as_ref())
            .and_then(|endpoint| u16::try_from(endpoint.port).ok())
            .filter(|port| *port != 0);
        let ready = status
            .and_then(|status| status.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            });
        Some(NodeInfo {
            uid: node.metadata.uid.clone(),
            name,
            labels,
            addresses,
            kubelet_port,
            metrics_path,
            ready,
        })
    }

    /// Labels as a plain map, for selector matching.
    pub fn label_map(&self) -> &BTreeMap<String, String> {
        &self.labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_json() -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "worker-1", "labels": {"kubernetes.io/os": "linux"},
                         "annotations": {"metrics.k8s.io/resource-metrics-path": "/custom"}},
            "status": {
                "addresses": [{"type": "Hostname", "address": "worker-1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10255}},
                "conditions": [{"type": "Ready", "status": "True"}]
            }
        })
    }

    #[test]
    fn keeps_what_scraping_and_serving_need() {
        let node: Node = serde_json::from_value(node_json()).unwrap();
        let info = NodeInfo::from_node(&node).unwrap();
        assert_eq!(info.name, "worker-1");
        assert_eq!(
            info.labels.get("kubernetes.io/os").map(String::as_str),
            Some("linux")
        );
        assert_eq!(
            info.addresses[1],
            NodeAddress {
                kind: "InternalIP".into(),
                address: "10.0.0.5".into()
            }
        );
        assert_eq!(info.kubelet_port, Some(10255));
        assert_eq!(info.metrics_path.as_deref(), Some("/custom"));
        assert!(info.ready);
    }

    #[test]
    fn zero_or_out_of_range_status_port_is_ignored() {
        for port in [0, -1, 70000] {
            let mut json = node_json();
            json["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] = port.into();
            let node: Node = serde_json::from_value(json).unwrap();
            assert_eq!(
                NodeInfo::from_node(&node).unwrap().kubelet_port,
                None,
                "port {port}"
            );
        }
    }

    #[test]
    fn node_without_status_is_not_ready_and_has_no_addresses() {
        let node: Node =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "n"}})).unwrap();
        let info = NodeInfo::from_node(&node).unwrap();
        assert!(!info.ready);
        assert!(info.addresses.is_empty());
        assert!(info.labels.is_empty());
    }
}
