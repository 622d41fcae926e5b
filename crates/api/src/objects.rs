//! `NodeMetrics` and `PodMetrics`: get and list, as JSON, protobuf or a server-side Table.
//!
//! Objects come from the cluster's watches (names, labels, existence) joined with the store's
//! snapshot (usage). As upstream: lists silently omit objects without metrics, gets answer 404
//! with a message that says whether the object or only its metrics is missing, lists are sorted
//! (nodes by name, pods by namespace then name), and `creationTimestamp` is the request time.

use std::borrow::Cow;

use apimachinery::negotiate::{ObjectOutput, SUPPORTED_MEDIA_TYPES, negotiate_object_output};
use apimachinery::protobuf;
use apimachinery::selector::Field;
use apimachinery::status::Status;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use cluster_state::{NodeInfo, PodInfo};
use metric_store::{PodUsage, Snapshot, Usage as StoredUsage};
use metrics_types::metrics::{
    ApiVersion, ContainerMetrics, GROUP, ListStream, NodeMetrics, ObjectMeta, PodMetrics, Usage,
};
use metrics_types::protobuf::{ToProtobuf, encode_list, encode_object};
use metrics_types::table::{Table, TableOptions};
use serde::Serialize;

use crate::MetricsApi;
use crate::parsed::Parsed;
use crate::query::ListQuery;
use crate::response;
use crate::watch::{self, WatchEncoding, WatchRequest, Watched};
use generic_apiserver::request_info::RequestInfo;

/// How to write this request's answer.
struct Rendering {
    version: ApiVersion,
    output: ObjectOutput,
    pretty: bool,
    query: ListQuery,
}

impl Rendering {
    /// Validates the parsed list options for a resource with `fields` and negotiates the
    /// representation, or the error to answer with.
    fn negotiate(
        info: &RequestInfo,
        headers: &HeaderMap,
        fields: &[Field],
    ) -> Result<Rendering, Box<Response>> {
        let query = ListQuery::from_options(&info.options, fields)
            .map_err(|status| Box::new(response::status(status, headers)))?;
        // The routes exist only for served versions.
        let version = ApiVersion::from_version(&info.api_version).unwrap_or_default();
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        let negotiated = negotiate_object_output(accept).ok_or_else(|| {
            Box::new(response::status(
                Status::not_acceptable(SUPPORTED_MEDIA_TYPES),
                headers,
            ))
        })?;
        let pretty = negotiated.pretty || response::wants_pretty(query.pretty.as_deref(), headers);
        Ok(Rendering {
            version,
            output: negotiated.output,
            pretty,
            query,
        })
    }

    /// Writes a list (or its Table) straight from an iterator, without collecting it.
    fn list<T, I>(&self, items: I) -> Response
    where
        T: ToProtobuf,
        I: IntoIterator<Item = T>,
    {
        match self.output {
            ObjectOutput::Protobuf => response::ok(
                protobuf::CONTENT_TYPE,
                encode_list::<T, _>(self.version, items),
            ),
            ObjectOutput::Json => {
                response::json(&ListStream::<T, _>::new(self.version, items), self.pretty)
            }
            ObjectOutput::Table(version) => {
                let options = TableOptions {
                    version,
                    include_object: self.query.include_object,
                    no_headers: false,
                };
                response::json(&Table::<T, _>::new(items, options), self.pretty)
            }
        }
    }

    /// Answers a `?watch=1` list with the event stream.
    fn watch(self, api: MetricsApi, watched: Watched) -> Response {
        let encoding = match self.output {
            ObjectOutput::Json => WatchEncoding::Json,
            ObjectOutput::Protobuf => WatchEncoding::Protobuf,
            ObjectOutput::Table(version) => WatchEncoding::Table(TableOptions {
                version,
                include_object: self.query.include_object,
                no_headers: false,
            }),
        };
        let timeout = WatchRequest::timeout_from(self.query.timeout_seconds);
        let bookmarks = self.query.allow_watch_bookmarks;
        watch::serve(
            api,
            WatchRequest {
                version: self.version,
                encoding,
                query: self.query,
                watched,
                timeout,
                bookmarks,
            },
        )
    }

    fn single<T: ToProtobuf + Serialize>(&self, item: T) -> Response {
        match self.output {
            ObjectOutput::Json => response::json(&item, self.pretty),
            ObjectOutput::Protobuf => response::ok(protobuf::CONTENT_TYPE, encode_object(&item)),
            ObjectOutput::Table(_) => self.list(std::iter::once(item)),
        }
    }
}

pub(crate) fn now_nanos() -> i64 {
    metric_store::Timestamp::now().as_unix_nanos()
}

fn usage(stored: &StoredUsage) -> Usage {
    // Swap is served when the kubelet reports it (kubelets ≥ 1.28 on Linux; 0 when swap is
    // off), absent otherwise: `kubectl top --show-swap` reads it. CPU and memory are exactly
    // upstream's.
    Usage {
        cpu_nanocores: stored.cpu_nanocores,
        memory_bytes: stored.memory_bytes,
        swap_bytes: stored.swap_bytes,
    }
}

fn timestamp(nanos: i64) -> Option<i64> {
    (nanos != 0).then_some(nanos)
}

pub(crate) fn node_metrics<'a>(
    version: ApiVersion,
    node: &'a NodeInfo,
    stored: &StoredUsage,
    now: i64,
) -> NodeMetrics<'a> {
    NodeMetrics {
        api_version: version,
        metadata: ObjectMeta {
            name: Cow::Borrowed(&node.name),
            namespace: None,
            creation_timestamp: Some(now),
            labels: Cow::Borrowed(&node.labels),
        },
        timestamp: timestamp(stored.timestamp.as_unix_nanos()),
        window_nanos: stored.window_ns,
        usage: usage(stored),
    }
}

pub(crate) fn pod_metrics<'a>(
    version: ApiVersion,
    namespace: &'a str,
    name: &'a str,
    pod: &'a PodInfo,
    stored: PodUsage<'a>,
    now: i64,
) -> PodMetrics<'a> {
    PodMetrics {
        api_version: version,
        metadata: ObjectMeta {
            name: Cow::Borrowed(name),
            namespace: Some(Cow::Borrowed(namespace)),
            creation_timestamp: Some(now),
            labels: Cow::Borrowed(&pod.labels),
        },
        timestamp: timestamp(stored.timestamp().as_unix_nanos()),
        window_nanos: stored.window_ns(),
        containers: stored
            .containers()
            .map(|(container, used)| ContainerMetrics {
                name: Cow::Borrowed(container),
                usage: usage(&used),
            })
            .collect(),
    }
}

pub async fn list_nodes(
    State(api): State<MetricsApi>,
    Parsed(info): Parsed,
    headers: HeaderMap,
) -> Response {
    let rendering = match Rendering::negotiate(&info, &headers, Field::METADATA) {
        Ok(rendering) => rendering,
        Err(answer) => return *answer,
    };
    if rendering.query.watch {
        return rendering.watch(api, Watched::Nodes);
    }
    let selector = api.node_selector.and(&rendering.query.label_selector);
    let fields = &rendering.query.field_selector;
    let snapshot = api.store.snapshot();
    let nodes = api.cluster.nodes();
    let now = now_nanos();
    let mut freshness = api.metrics.freshness_recorder(now);
    let items = nodes
        .iter()
        .filter(|node| selector.matches(&*node.labels) && fields.matches(&node.name, None))
        .filter_map(|node| {
            snapshot
                .node(&node.name)
                .map(|stored| node_metrics(rendering.version, node, &stored, now))
        })
        .inspect(|item| freshness.observe(item.timestamp));
    rendering.list(items)
}

pub async fn get_node(
    State(api): State<MetricsApi>,
    Parsed(info): Parsed,
    headers: HeaderMap,
) -> Response {
    let rendering = match Rendering::negotiate(&info, &headers, Field::METADATA) {
        Ok(rendering) => rendering,
        Err(answer) => return *answer,
    };
    let name = info.name;
    let Some(node) = api.cluster.node(&name) else {
        return response::status(Status::not_found("", "node", &name), &headers);
    };
    let Some(stored) = api.store.snapshot().node(&name) else {
        let mut missing = Status::not_found(GROUP, "nodemetrics", &name);
        if let Some(why) = api.diagnosis.why_no_metrics(&name) {
            missing.message = format!("{}: {why}", missing.message);
        }
        return response::status(missing, &headers);
    };
    let now = now_nanos();
    let item = node_metrics(rendering.version, &node, &stored, now);
    api.metrics.freshness_recorder(now).observe(item.timestamp);
    rendering.single(item)
}

/// The Running pods that match `query` in `namespace` (all when `None`) and have metrics in
/// `snapshot`, by namespace then name.
///
/// Only the selection runs under the pod cache's read lock. What it keeps borrows the store
/// snapshot (names included), not the cache, plus the pod's labels (a shared `Arc`), so
/// encoding and writing hold no lock and never delay the pod watch.
pub(crate) fn select_pods<'s>(
    api: &MetricsApi,
    snapshot: &'s Snapshot,
    namespace: Option<&str>,
    query: &ListQuery,
) -> Vec<(PodInfo, PodUsage<'s>)> {
    let labels = &query.label_selector;
    let fields = &query.field_selector;
    api.cluster.with_pods(|index| {
        let namespaces: Box<dyn Iterator<Item = _>> = match namespace {
            Some(namespace) => Box::new(index.get_key_value(namespace).into_iter()),
            None => Box::new(index.iter()),
        };
        let mut selected = Vec::new();
        for (namespace, pods) in namespaces {
            // The cache and the snapshot sort a namespace's pods the same way, so each lookup
            // continues from the previous one instead of searching the whole snapshot (that
            // search was a third of listing every pod).
            let mut stored = snapshot.pods_by_name(namespace);
            selected.extend(
                pods.iter()
                    .filter(|(name, pod)| {
                        labels.matches(&*pod.labels)
                            && fields.matches_pod(name, Some(namespace), pod.node_name.as_deref())
                    })
                    .filter_map(|(name, pod)| stored.get(name).map(|usage| (pod.clone(), usage))),
            );
        }
        selected
    })
}

/// `/pods` and `/namespaces/{namespace}/pods`: the parse says which (an empty namespace is
/// all namespaces, as in authorization).
pub async fn list_pods(
    State(api): State<MetricsApi>,
    Parsed(info): Parsed,
    headers: HeaderMap,
) -> Response {
    let rendering = match Rendering::negotiate(&info, &headers, Field::POD) {
        Ok(rendering) => rendering,
        Err(answer) => return *answer,
    };
    let namespace = (!info.namespace.is_empty()).then_some(info.namespace.as_str());
    if rendering.query.watch {
        let namespace = namespace.map(str::to_owned);
        return rendering.watch(api, Watched::Pods { namespace });
    }
    let snapshot = api.store.snapshot();
    let now = now_nanos();
    let mut freshness = api.metrics.freshness_recorder(now);
    let selected = select_pods(&api, &snapshot, namespace, &rendering.query);
    let items = selected
        .iter()
        .map(|(pod, stored)| {
            pod_metrics(
                rendering.version,
                stored.namespace(),
                stored.name(),
                pod,
                *stored,
                now,
            )
        })
        .inspect(|item| freshness.observe(item.timestamp));
    rendering.list(items)
}

pub async fn get_pod(
    State(api): State<MetricsApi>,
    Parsed(info): Parsed,
    headers: HeaderMap,
) -> Response {
    let rendering = match Rendering::negotiate(&info, &headers, Field::POD) {
        Ok(rendering) => rendering,
        Err(answer) => return *answer,
    };
    let RequestInfo {
        namespace, name, ..
    } = info;
    let Some(pod) = api.cluster.pod(&namespace, &name) else {
        return response::status(Status::not_found("", "pods", &name), &headers);
    };
    let snapshot = api.store.snapshot();
    let Some(stored) = snapshot.pod(&namespace, &name) else {
        return response::status(
            Status::not_found(GROUP, "podmetrics", &format!("{namespace}/{name}")),
            &headers,
        );
    };
    let now = now_nanos();
    let item = pod_metrics(rendering.version, &namespace, &name, &pod, stored, now);
    api.metrics.freshness_recorder(now).observe(item.timestamp);
    rendering.single(item)
}
