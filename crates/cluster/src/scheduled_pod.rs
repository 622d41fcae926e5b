//! The slice of a Pod the pod watch decodes: its metadata and the node it is bound to.
//!
//! A metadata-only watch (what upstream uses) cannot say which node a pod runs on, and the
//! full `k8s_openapi` Pod would decode every container spec and status only to drop them.
//! This type reads `metadata` and `spec.nodeName`; serde skips every other field without
//! building it.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::NamespaceResourceScope;
use serde::Deserialize;

/// A Pod as the watch decodes it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ScheduledPod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ScheduledPodSpec,
}

/// The one field of a `PodSpec` metrics-server needs.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ScheduledPodSpec {
    /// The Node the scheduler bound the pod to (empty until it is scheduled).
    #[serde(rename = "nodeName", default)]
    pub node_name: Option<String>,
}

impl kube::Resource for ScheduledPod {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("Pod")
    }

    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("v1")
    }

    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("pods")
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_metadata_and_node_name_and_skips_the_rest() {
        let pod: ScheduledPod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "default", "labels": {"app": "web"}, "resourceVersion": "7"},
            "spec": {"nodeName": "worker-1", "containers": [{"name": "web", "image": "nginx"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "web", "ready": true}]}
        }))
        .unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("web-0"));
        assert_eq!(pod.spec.node_name.as_deref(), Some("worker-1"));
        let unscheduled: ScheduledPod =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}})).unwrap();
        assert_eq!(unscheduled.spec.node_name, None);
        assert_eq!(
            <ScheduledPod as kube::Resource>::url_path(&(), Some("ns")),
            "/api/v1/namespaces/ns/pods"
        );
    }
}
