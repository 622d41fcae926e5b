//! The two watches (Nodes; metadata of Running Pods) and the state they maintain.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

use crate::health::WatchMetrics;
use crate::mirror::Mirror;
use crate::node::NodeInfo;
use crate::pod::{LabelInterner, PodIndex, PodInfo};
use crate::scheduled_pod::ScheduledPod;

/// Errors of the cluster watches.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The watches were stopped before both had listed everything once.
    #[error("stopped before the node and pod caches synced")]
    Cancelled,
}

/// Nodes and Running Pods as the API server last reported them.
#[derive(Debug, Default)]
pub struct ClusterState {
    nodes: Mirror<String, Arc<NodeInfo>>,
    pods: Mirror<String, BTreeMap<String, PodInfo>>,
    /// Only the pod watch task interns; the mutex is uncontended.
    interner: Mutex<LabelInterner>,
    synced: tokio::sync::Notify,
}

/// Server-side filter of the pod watch: upstream serves Running pods only.
const RUNNING_PODS: &str = "status.phase=Running";

impl ClusterState {
    /// Starts both watches on `client`; they run until `cancel` fires, retrying with backoff
    /// and recording how they fare in `metrics`.
    pub fn watch(
        client: Client,
        cancel: CancellationToken,
        metrics: WatchMetrics,
    ) -> Arc<ClusterState> {
        let state = Arc::new(ClusterState::default());
        tokio::spawn(Self::run_node_watch(
            Arc::clone(&state),
            client.clone(),
            cancel.clone(),
            metrics.clone(),
        ));
        tokio::spawn(Self::run_pod_watch(
            Arc::clone(&state),
            client,
            cancel,
            metrics,
        ));
        state
    }

    /// Waits until both watches have delivered one complete listing.
    pub async fn wait_synced(&self, cancel: &CancellationToken) -> Result<(), WatchError> {
        loop {
            let notified = self.synced.notified();
            if self.is_synced() {
                return Ok(());
            }
            tokio::select! {
                _ = notified => {}
                _ = cancel.cancelled() => return Err(WatchError::Cancelled),
            }
        }
    }

    pub fn is_synced(&self) -> bool {
        self.nodes_synced() && self.pods_synced()
    }

    pub fn nodes_synced(&self) -> bool {
        self.nodes.is_synced()
    }

    pub fn pods_synced(&self) -> bool {
        self.pods.is_synced()
    }

    /// All known nodes, by name.
    pub fn nodes(&self) -> Vec<Arc<NodeInfo>> {
        self.nodes.read().values().cloned().collect()
    }

    pub fn node(&self, name: &str) -> Option<Arc<NodeInfo>> {
        self.nodes.read().get(name).cloned()
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<PodInfo> {
        self.pods
            .read()
            .get(namespace)
            .and_then(|pods| pods.get(name))
            .cloned()
    }

    /// Whether `namespace/name` is a Running pod bound to `node`: only then are the metrics a
    /// kubelet reports for it accepted. A kubelet reporting pods that do not exist, or that
    /// belong to another node (a zombie or compromised node), adds nothing to the store.
    pub fn is_pod_bound_to(&self, namespace: &str, name: &str, node: &str) -> bool {
        self.pods
            .read()
            .get(namespace)
            .and_then(|pods| pods.get(name))
            .and_then(|pod| pod.node_name.as_deref())
            == Some(node)
    }

    /// Runs `read` over the Running pods, by namespace then name, without copying them.
    /// Keep `read` short: the pod watch waits for it.
    pub fn with_pods<R>(&self, read: impl FnOnce(&PodIndex) -> R) -> R {
        read(&self.pods.read())
    }

    pub fn pod_count(&self) -> usize {
        self.pods.read().values().map(BTreeMap::len).sum()
    }

    /// Applies one Node watch event. Public so tests can drive the state without an API server.
    pub fn apply_node_event(
        &self,
        event: Event<Node>,
        init_buffer: &mut BTreeMap<String, Arc<NodeInfo>>,
    ) {
        match event {
            Event::Init => init_buffer.clear(),
            Event::InitApply(node) => {
                if let Some(info) = NodeInfo::from_node(&node) {
                    init_buffer.insert(info.name.clone(), Arc::new(info));
                }
            }
            Event::InitDone => {
                self.nodes.replace_all(std::mem::take(init_buffer));
                self.synced.notify_waiters();
            }
            Event::Apply(node) => {
                if let Some(info) = NodeInfo::from_node(&node) {
                    self.nodes.write().insert(info.name.clone(), Arc::new(info));
                }
            }
            Event::Delete(node) => {
                if let Some(name) = node.metadata.name.as_deref() {
                    self.nodes.write().remove(name);
                }
            }
        }
    }

    /// Applies one Pod metadata watch event. Public so tests can drive the state without an API server.
    pub fn apply_pod_event(&self, event: Event<ScheduledPod>, init_buffer: &mut PodIndex) {
        match event {
            Event::Init => init_buffer.clear(),
            Event::InitApply(pod) => {
                if let Some((namespace, name, info)) = self.pod_info(pod) {
                    init_buffer.entry(namespace).or_default().insert(name, info);
                }
            }
            Event::InitDone => {
                self.pods.replace_all(std::mem::take(init_buffer));
                self.synced.notify_waiters();
            }
            Event::Apply(pod) => {
                if let Some((namespace, name, info)) = self.pod_info(pod) {
                    self.pods
                        .write()
                        .entry(namespace)
                        .or_default()
                        .insert(name, info);
                }
            }
            Event::Delete(pod) => {
                let (Some(namespace), Some(name)) = (pod.metadata.namespace, pod.metadata.name)
                else {
                    return;
                };
                let mut pods = self.pods.write();
                if let Some(in_namespace) = pods.get_mut(&namespace) {
                    in_namespace.remove(&name);
                    if in_namespace.is_empty() {
                        pods.remove(&namespace);
                    }
                }
            }
        }
    }

    fn pod_info(&self, pod: ScheduledPod) -> Option<(String, String, PodInfo)> {
        let metadata = pod.metadata;
        let labels = metadata.labels.unwrap_or_default();
        let mut interner = self
            .interner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let labels = interner.intern(labels);
        let node_name = pod
            .spec
            .node_name
            .filter(|name| !name.is_empty())
            .map(|name| interner.intern_node_name(&name));
        Some((
            metadata.namespace?,
            metadata.name?,
            PodInfo { labels, node_name },
        ))
    }

    async fn run_node_watch(
        state: Arc<ClusterState>,
        client: Client,
        cancel: CancellationToken,
        metrics: WatchMetrics,
    ) {
        let stream =
            watcher(Api::<Node>::all(client), watcher::Config::default()).default_backoff();
        let mut init_buffer = BTreeMap::new();
        Self::drive(stream, "nodes", &cancel, &metrics, |event| {
            state.apply_node_event(event, &mut init_buffer)
        })
        .await;
    }

    async fn run_pod_watch(
        state: Arc<ClusterState>,
        client: Client,
        cancel: CancellationToken,
        metrics: WatchMetrics,
    ) {
        let api = Api::<ScheduledPod>::all(client);
        let stream =
            watcher(api, watcher::Config::default().fields(RUNNING_PODS)).default_backoff();
        let mut init_buffer = PodIndex::new();
        Self::drive(stream, "pods", &cancel, &metrics, |event| {
            state.apply_pod_event(event, &mut init_buffer)
        })
        .await;
    }

    async fn drive<K>(
        stream: impl futures_util::Stream<Item = Result<Event<K>, watcher::Error>>,
        kind: &'static str,
        cancel: &CancellationToken,
        metrics: &WatchMetrics,
        mut apply: impl FnMut(Event<K>),
    ) {
        let mut stream = std::pin::pin!(stream);
        let mut listings = 0_u64;
        let mut failing = false;
        loop {
            let next = tokio::select! {
                next = stream.next() => next,
                _ = cancel.cancelled() => return,
            };
            match next {
                Some(Ok(event)) => {
                    if failing {
                        tracing::info!(%kind, "watch recovered");
                        failing = false;
                    }
                    if matches!(event, Event::Init) {
                        listings += 1;
                        if listings > 1 {
                            // The watch could not resume where it was (410 Gone, or a restart
                            // past the apiserver's history): everything is listed again.
                            tracing::info!(%kind, "relisting");
                            metrics.relisted(kind);
                        }
                    }
                    metrics.delivering(kind);
                    apply(event);
                }
                // The watcher recovers by itself (relisting if needed); the backoff spaces retries.
                Some(Err(error)) => {
                    failing = true;
                    metrics.failed(kind);
                    tracing::warn!(%kind, %error, "watch failed; retrying");
                }
                None => return,
            }
        }
    }
}

fn watcher<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl futures_util::Stream<Item = Result<Event<K>, watcher::Error>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    watcher::watcher(api, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_and_relists_show_in_the_watch_health() {
        let registry = prometheus::Registry::new();
        let metrics = WatchMetrics::register(&registry).unwrap();
        // A first listing, a failure (the apiserver restarting), then a relist (410 Gone).
        let events: Vec<Result<Event<Node>, watcher::Error>> = vec![
            Ok(Event::Init),
            Ok(Event::InitDone),
            Err(watcher::Error::NoResourceVersion),
            Ok(Event::Init),
            Ok(Event::InitApply(node("a", serde_json::json!({})))),
            Ok(Event::InitDone),
        ];
        let mut applied = 0;
        ClusterState::drive(
            futures_util::stream::iter(events),
            "nodes",
            &CancellationToken::new(),
            &metrics,
            |_| applied += 1,
        )
        .await;
        assert_eq!(applied, 5, "every event but the error is applied");
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        for line in [
            "cluster_watch_failures_total{resource=\"nodes\"} 1",
            "cluster_watch_relists_total{resource=\"nodes\"} 1",
            "cluster_watch_healthy{resource=\"nodes\"} 1",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    fn node(name: &str, labels: serde_json::Value) -> Node {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name, "labels": labels}}))
            .unwrap()
    }

    fn pod(namespace: &str, name: &str, app: &str) -> ScheduledPod {
        pod_on(namespace, name, app, "worker-1")
    }

    fn pod_on(namespace: &str, name: &str, app: &str, node: &str) -> ScheduledPod {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": namespace, "name": name, "labels": {"app": app}},
            "spec": {"nodeName": node, "containers": [{"name": "c"}]},
        }))
        .unwrap()
    }

    #[test]
    fn relist_replaces_everything_at_once() {
        let state = ClusterState::default();
        let mut buffer = BTreeMap::new();
        state.apply_node_event(Event::Init, &mut buffer);
        state.apply_node_event(
            Event::InitApply(node("b", serde_json::json!({}))),
            &mut buffer,
        );
        state.apply_node_event(
            Event::InitApply(node("a", serde_json::json!({}))),
            &mut buffer,
        );
        assert!(
            state.nodes().is_empty(),
            "a half-done listing is not visible"
        );
        assert!(!state.nodes_synced());
        state.apply_node_event(Event::InitDone, &mut buffer);
        let names: Vec<_> = state.nodes().iter().map(|n| n.name.clone()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(state.nodes_synced());

        // A later relist drops nodes it does not mention.
        state.apply_node_event(Event::Init, &mut buffer);
        state.apply_node_event(
            Event::InitApply(node("c", serde_json::json!({}))),
            &mut buffer,
        );
        state.apply_node_event(Event::InitDone, &mut buffer);
        let names: Vec<_> = state.nodes().iter().map(|n| n.name.clone()).collect();
        assert_eq!(names, ["c"]);
    }

    #[test]
    fn node_updates_and_deletes_apply_immediately() {
        let state = ClusterState::default();
        let mut buffer = BTreeMap::new();
        state.apply_node_event(
            Event::Apply(node("a", serde_json::json!({"zone": "1"}))),
            &mut buffer,
        );
        state.apply_node_event(
            Event::Apply(node("a", serde_json::json!({"zone": "2"}))),
            &mut buffer,
        );
        assert_eq!(
            state
                .node("a")
                .unwrap()
                .labels
                .get("zone")
                .map(String::as_str),
            Some("2")
        );
        state.apply_node_event(Event::Delete(node("a", serde_json::json!({}))), &mut buffer);
        assert!(state.node("a").is_none());
    }

    #[test]
    fn pods_are_indexed_by_namespace_then_name_with_shared_labels() {
        let state = ClusterState::default();
        let mut buffer = PodIndex::new();
        state.apply_pod_event(Event::Init, &mut buffer);
        for (namespace, name) in [("ns2", "x"), ("ns1", "b"), ("ns1", "a")] {
            state.apply_pod_event(Event::InitApply(pod(namespace, name, "web")), &mut buffer);
        }
        state.apply_pod_event(Event::InitDone, &mut buffer);
        let order = state.with_pods(|pods| {
            pods.iter()
                .flat_map(|(ns, in_ns)| in_ns.keys().map(move |name| format!("{ns}/{name}")))
                .collect::<Vec<_>>()
        });
        assert_eq!(order, ["ns1/a", "ns1/b", "ns2/x"]);
        let a = state.pod("ns1", "a").unwrap();
        let x = state.pod("ns2", "x").unwrap();
        assert!(Arc::ptr_eq(&a.labels, &x.labels));

        state.apply_pod_event(Event::Delete(pod("ns2", "x", "web")), &mut buffer);
        assert!(state.pod("ns2", "x").is_none());
        assert_eq!(
            state.with_pods(|pods| pods.len()),
            1,
            "empty namespaces are dropped"
        );
        assert_eq!(state.pod_count(), 2);
    }

    #[test]
    fn pods_are_bound_to_their_node_only() {
        let state = ClusterState::default();
        let mut buffer = PodIndex::new();
        state.apply_pod_event(Event::Apply(pod_on("ns", "a", "web", "n1")), &mut buffer);
        state.apply_pod_event(Event::Apply(pod_on("ns", "b", "web", "n2")), &mut buffer);
        state.apply_pod_event(
            Event::Apply(pod_on("ns", "pending", "web", "")),
            &mut buffer,
        );
        assert!(state.is_pod_bound_to("ns", "a", "n1"));
        assert!(
            !state.is_pod_bound_to("ns", "a", "n2"),
            "another node's pod"
        );
        assert!(!state.is_pod_bound_to("ns", "missing", "n1"), "no such pod");
        assert!(!state.is_pod_bound_to("ns", "pending", ""), "unscheduled");
        let a = state.pod("ns", "a").unwrap();
        let again = state.pod("ns", "a").unwrap();
        assert_eq!(a.node_name.as_deref(), Some("n1"));
        assert!(Arc::ptr_eq(
            a.node_name.as_ref().unwrap(),
            again.node_name.as_ref().unwrap()
        ));
    }

    #[tokio::test]
    async fn wait_synced_returns_once_both_watches_listed() {
        let state = Arc::new(ClusterState::default());
        let cancel = CancellationToken::new();
        let waiter = tokio::spawn({
            let state = Arc::clone(&state);
            let cancel = cancel.clone();
            async move { state.wait_synced(&cancel).await }
        });
        state.apply_node_event(Event::InitDone, &mut BTreeMap::new());
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        state.apply_pod_event(Event::InitDone, &mut PodIndex::new());
        assert!(waiter.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn wait_synced_gives_up_when_cancelled() {
        let state = ClusterState::default();
        let cancel = CancellationToken::new();
        cancel.cancel();
        assert!(matches!(
            state.wait_synced(&cancel).await,
            Err(WatchError::Cancelled)
        ));
    }
}
