//! `?watch=1` on nodes and pods: what the Go original answers with 405 (metrics-server#87).
//!
//! On connect the watcher gets `ADDED` for every object served now (with its selectors), then,
//! after each scrape cycle, `MODIFIED` for objects with a new sample, `ADDED` for new ones and
//! `DELETED` for those no longer served (gone, or no longer matching a selector). Events carry
//! whole objects, as a list item would be, in the negotiated encoding:
//!
//! - JSON: one `{"type":…,"object":…}` per line (`application/json`);
//! - protobuf: length-prefixed `WatchEvent` frames (`application/vnd.kubernetes.protobuf;stream=watch`);
//! - a server-side Table per event (`kubectl get -w`), column definitions in the first only.
//!
//! With `allowWatchBookmarks=true` a `BOOKMARK` follows each cycle's events, its
//! `resourceVersion` the number of cycles stored. `resourceVersion` on the request is accepted
//! and ignored: there is no history to replay, every watch starts from the current state.
//!
//! One task per watch computes each cycle's events and hands them, as one chunk, to the
//! response body through a channel of [`PENDING_CYCLES`] chunks. A client that falls that far
//! behind is disconnected (it can watch again and gets the current state), so a stalled
//! reader never makes the server buffer without bound.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use apimachinery::gojson;
use apimachinery::protobuf::{self as pb, watch_frame};
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cluster_state::{NodeInfo, PodInfo};
use metric_store::Snapshot;
use metrics_types::metrics::{ApiVersion, MetricsObject, NodeMetrics, PodMetrics};
use metrics_types::protobuf::{ToProtobuf, encode_object};
use metrics_types::table::{Table, TableOptions};
use serde::Serialize;
use serde::ser::SerializeStruct;
use tokio::sync::mpsc;

use crate::MetricsApi;
use crate::objects::{node_metrics, now_nanos, pod_metrics};
use crate::query::ListQuery;

/// How many cycles' events may wait for a client before it is disconnected as too slow.
pub const PENDING_CYCLES: usize = 3;

/// The Go apiserver's default watch length when `timeoutSeconds` is not given
/// (`--min-request-timeout`, 1800 s; Go adds up to the same again at random).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// The encoding of a watch stream.
#[derive(Debug, Clone, Copy)]
pub enum WatchEncoding {
    /// Newline-delimited JSON events.
    Json,
    /// Length-prefixed protobuf frames.
    Protobuf,
    /// JSON events holding a one-row Table each.
    Table(TableOptions),
}

/// What is watched.
#[derive(Debug, Clone)]
pub enum Watched {
    /// `NodeMetrics`.
    Nodes,
    /// `PodMetrics`, in one namespace or all (`None`).
    Pods { namespace: Option<String> },
}

/// One watch request, validated.
#[derive(Debug)]
pub struct WatchRequest {
    pub version: ApiVersion,
    pub encoding: WatchEncoding,
    pub query: ListQuery,
    pub watched: Watched,
    pub timeout: Duration,
    pub bookmarks: bool,
}

impl WatchRequest {
    /// The watch length: `timeoutSeconds` when positive (parsed and range-checked by the
    /// query), the apiserver's default otherwise.
    pub fn timeout_from(seconds: Option<i64>) -> Duration {
        match seconds {
            Some(seconds) if seconds > 0 => Duration::from_secs(seconds.unsigned_abs()),
            _ => DEFAULT_TIMEOUT,
        }
    }
}

/// Starts the watch and answers with its stream.
pub fn serve(api: MetricsApi, request: WatchRequest) -> Response {
    let content_type = match request.encoding {
        WatchEncoding::Protobuf => pb::WATCH_CONTENT_TYPE,
        WatchEncoding::Json | WatchEncoding::Table(_) => "application/json",
    };
    let (chunks, receiver) = mpsc::channel::<Bytes>(PENDING_CYCLES);
    tokio::spawn(run(api, request, chunks));
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let chunk = receiver.recv().await?;
        Some((Ok::<Bytes, Infallible>(chunk), receiver))
    });
    let mut answer = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let headers = answer.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Go's watch answers are chunked and never cached.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    answer
}

/// The watch's task: one chunk of events per stored cycle until the timeout, the client
/// leaving, the server shutting down, or the client falling [`PENDING_CYCLES`] behind.
async fn run(api: MetricsApi, request: WatchRequest, chunks: mpsc::Sender<Bytes>) {
    let mut cycles = api.store.subscribe();
    let deadline = tokio::time::sleep(request.timeout);
    tokio::pin!(deadline);
    let mut state = WatchState::new(request);
    loop {
        let generation = *cycles.borrow_and_update();
        let snapshot = api.store.snapshot();
        let chunk = state.next_chunk(&api, snapshot, generation);
        if !chunk.is_empty() {
            match chunks.try_send(Bytes::from(chunk)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::info!(
                        "closing a watch whose client fell {PENDING_CYCLES} scrape cycles behind; it may watch again"
                    );
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
        tokio::select! {
            changed = cycles.changed() => if changed.is_err() { return },
            () = &mut deadline => return,
            () = chunks.closed() => return,
            () = api.shutdown.cancelled() => return,
        }
    }
}

/// What a watch has sent: per object, the sample it last described.
struct WatchState {
    request: WatchRequest,
    /// `(namespace, name)` → `(timestamp, window)` of the last event sent, and the round that
    /// last saw it.
    sent: HashMap<(String, String), (Version, u64)>,
    /// The snapshot the last events were built from, for the objects of `DELETED` events.
    previous: Option<Arc<Snapshot>>,
    round: u64,
    headers_sent: bool,
}

type Version = (i64, i64);

const ADDED: &str = "ADDED";
const MODIFIED: &str = "MODIFIED";
const DELETED: &str = "DELETED";
const BOOKMARK: &str = "BOOKMARK";

impl WatchState {
    fn new(request: WatchRequest) -> WatchState {
        WatchState {
            request,
            sent: HashMap::new(),
            previous: None,
            round: 0,
            headers_sent: false,
        }
    }

    /// This cycle's events, encoded; empty when nothing changed.
    fn next_chunk(
        &mut self,
        api: &MetricsApi,
        snapshot: Arc<Snapshot>,
        generation: u64,
    ) -> Vec<u8> {
        self.round += 1;
        let mut out = Vec::new();
        let now = now_nanos();
        match self.request.watched.clone() {
            Watched::Nodes => self.node_events(api, &snapshot, now, &mut out),
            Watched::Pods { namespace } => {
                self.pod_events(api, &snapshot, namespace.as_deref(), now, &mut out)
            }
        }
        if self.request.bookmarks && !matches!(self.request.encoding, WatchEncoding::Table(_)) {
            self.bookmark(generation, &mut out);
        }
        self.previous = Some(snapshot);
        out
    }

    /// Records that `key` is served at `version`; the event type to send, if any.
    fn observe(&mut self, key: (String, String), version: Version) -> Option<&'static str> {
        let round = self.round;
        match self.sent.insert(key, (version, round)) {
            None => Some(ADDED),
            Some((old, _)) if old != version => Some(MODIFIED),
            Some(_) => None,
        }
    }

    /// Removes what this round did not see; their keys, for `DELETED` events.
    fn take_unseen(&mut self) -> Vec<(String, String)> {
        let round = self.round;
        let gone: Vec<(String, String)> = self
            .sent
            .iter()
            .filter(|(_, (_, seen))| *seen != round)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &gone {
            self.sent.remove(key);
        }
        gone
    }

    fn node_events(&mut self, api: &MetricsApi, snapshot: &Snapshot, now: i64, out: &mut Vec<u8>) {
        let version = self.request.version;
        let selector = api.node_selector.and(&self.request.query.label_selector);
        for node in api.cluster.nodes() {
            if !selector.matches(&*node.labels)
                || !self.request.query.field_selector.matches(&node.name, None)
            {
                continue;
            }
            let Some(stored) = snapshot.node(&node.name) else {
                continue;
            };
            let item = node_metrics(version, &node, &stored, now);
            let key = (String::new(), node.name.clone());
            if let Some(kind) =
                self.observe(key, (stored.timestamp.as_unix_nanos(), stored.window_ns))
            {
                self.write_event(kind, &item, out);
            }
        }
        let gone = self.take_unseen();
        let Some(previous) = self.previous.clone() else {
            return;
        };
        for (_, name) in gone {
            let Some(stored) = previous.node(&name) else {
                continue;
            };
            // The node may have left the cluster: its last known name is enough.
            let node = api.cluster.node(&name).unwrap_or_else(|| {
                Arc::new(NodeInfo {
                    name: name.clone(),
                    uid: None,
                    labels: Default::default(),
                    addresses: Vec::new(),
                    kubelet_port: None,
                    metrics_path: None,
                    ready: false,
                })
            });
            let item = node_metrics(version, &node, &stored, now);
            self.write_event(DELETED, &item, out);
        }
    }

    fn pod_events(
        &mut self,
        api: &MetricsApi,
        snapshot: &Snapshot,
        namespace: Option<&str>,
        now: i64,
        out: &mut Vec<u8>,
    ) {
        let version = self.request.version;
        let selected = crate::objects::select_pods(api, snapshot, namespace, &self.request.query);
        for (pod, stored) in &selected {
            let key = (stored.namespace().to_owned(), stored.name().to_owned());
            let observed = (stored.timestamp().as_unix_nanos(), stored.window_ns());
            if let Some(kind) = self.observe(key, observed) {
                let item = pod_metrics(
                    version,
                    stored.namespace(),
                    stored.name(),
                    pod,
                    *stored,
                    now,
                );
                self.write_event(kind, &item, out);
            }
        }
        drop(selected);
        let gone = self.take_unseen();
        let Some(previous) = self.previous.clone() else {
            return;
        };
        for (namespace, name) in gone {
            let Some(stored) = previous.pod(&namespace, &name) else {
                continue;
            };
            let pod = api
                .cluster
                .pod(&namespace, &name)
                .unwrap_or_else(|| PodInfo {
                    labels: Default::default(),
                    node_name: None,
                });
            let item = pod_metrics(version, &namespace, &name, &pod, stored, now);
            self.write_event(DELETED, &item, out);
        }
    }

    fn write_event<T: ToProtobuf + Serialize>(&mut self, kind: &str, item: &T, out: &mut Vec<u8>) {
        match self.request.encoding {
            WatchEncoding::Protobuf => {
                out.extend_from_slice(&watch_frame(kind, encode_object(item)))
            }
            WatchEncoding::Json => write_json_event(kind, item, out),
            WatchEncoding::Table(options) => {
                let options = TableOptions {
                    no_headers: self.headers_sent,
                    ..options
                };
                self.headers_sent = true;
                let table = Table::<T, _>::new(std::iter::once(item), options);
                write_json_event(kind, &table, out);
            }
        }
    }

    /// A `BOOKMARK`: an empty object of the watched kind carrying only `resourceVersion`.
    fn bookmark(&self, generation: u64, out: &mut Vec<u8>) {
        let kind = match self.request.watched {
            Watched::Nodes => NodeMetrics::KIND,
            Watched::Pods { .. } => PodMetrics::KIND,
        };
        let api_version = self.request.version.group_version();
        let resource_version = generation.to_string();
        match self.request.encoding {
            WatchEncoding::Protobuf => {
                let metadata = pb::ObjectMeta {
                    resource_version,
                    ..pb::ObjectMeta::default()
                };
                // Field 1 of both NodeMetrics and PodMetrics is `metadata`.
                let mut raw = Vec::new();
                prost::encoding::message::encode(1, &metadata, &mut raw);
                let object = pb::envelope(api_version, kind, raw);
                out.extend_from_slice(&watch_frame(BOOKMARK, object));
            }
            _ => write_json_event(
                BOOKMARK,
                &BookmarkObject {
                    kind,
                    api_version,
                    resource_version: &resource_version,
                },
                out,
            ),
        }
    }
}

/// `{"type":…,"object":…}` and a newline, as Go's JSON watch framer writes it.
fn write_json_event<T: Serialize + ?Sized>(kind: &str, object: &T, out: &mut Vec<u8>) {
    struct Event<'a, T: ?Sized> {
        kind: &'a str,
        object: &'a T,
    }
    impl<T: Serialize + ?Sized> Serialize for Event<'_, T> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut event = serializer.serialize_struct("WatchEvent", 2)?;
            event.serialize_field("type", self.kind)?;
            event.serialize_field("object", self.object)?;
            event.end()
        }
    }
    // Objects of plain strings and numbers always serialise; a failure would leave the event
    // out rather than corrupt the stream.
    let start = out.len();
    if gojson::to_writer(&mut *out, &Event { kind, object }).is_ok() {
        out.push(b'\n');
    } else {
        out.truncate(start);
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BookmarkObject<'a> {
    kind: &'a str,
    api_version: &'a str,
    #[serde(rename = "metadata", serialize_with = "bookmark_metadata")]
    resource_version: &'a str,
}

fn bookmark_metadata<S: serde::Serializer>(
    version: &&str,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut metadata = serializer.serialize_struct("ObjectMeta", 1)?;
    metadata.serialize_field("resourceVersion", version)?;
    metadata.end()
}
