//! The metrics objects as Kubernetes protobuf (`application/vnd.kubernetes.protobuf`).
//!
//! The messages follow k8s.io/metrics `pkg/apis/metrics/v1beta1/generated.proto` (the same
//! field numbers in `v1`): `NodeMetrics{metadata = 1, timestamp = 2, window = 3, usage = 4}`,
//! `PodMetrics{metadata = 1, timestamp = 2, window = 3, containers = 4}`,
//! `ContainerMetrics{name = 1, usage = 2}`, lists `{metadata = 1, items = 2}`; `usage` is a
//! `map<string, Quantity>`. Objects and lists go out in apimachinery's envelope
//! ([`apimachinery::protobuf::envelope`]).
//!
//! A list is encoded item by item straight from an iterator, like [`ListStream`] for JSON:
//! each item is built, written as field 2 and dropped, so tens of thousands of pods never
//! exist as messages at once.
//!
//! [`ListStream`]: crate::metrics::ListStream

use std::collections::BTreeMap;

use apimachinery::protobuf::{Duration, ListMeta, ObjectMeta, Quantity, Time, envelope};
use apimachinery::quantity::{cpu_text, memory_text};
use prost::Message;

use crate::metrics::{self, ApiVersion, MetricsObject};

/// `ContainerMetrics`.
#[derive(Clone, PartialEq, Message)]
pub struct ContainerMetrics {
    /// `name`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `usage`.
    #[prost(btree_map = "string, message", tag = "2")]
    pub usage: BTreeMap<String, Quantity>,
}

/// `NodeMetrics`.
#[derive(Clone, PartialEq, Message)]
pub struct NodeMetrics {
    /// `metadata`.
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    /// `timestamp`.
    #[prost(message, optional, tag = "2")]
    pub timestamp: Option<Time>,
    /// `window`.
    #[prost(message, optional, tag = "3")]
    pub window: Option<Duration>,
    /// `usage`.
    #[prost(btree_map = "string, message", tag = "4")]
    pub usage: BTreeMap<String, Quantity>,
}

/// `PodMetrics`.
#[derive(Clone, PartialEq, Message)]
pub struct PodMetrics {
    /// `metadata`.
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    /// `timestamp`.
    #[prost(message, optional, tag = "2")]
    pub timestamp: Option<Time>,
    /// `window`.
    #[prost(message, optional, tag = "3")]
    pub window: Option<Duration>,
    /// `containers`.
    #[prost(message, repeated, tag = "4")]
    pub containers: Vec<ContainerMetrics>,
}

/// `NodeMetricsList` (decoding; lists are encoded from iterators).
#[derive(Clone, PartialEq, Message)]
pub struct NodeMetricsList {
    /// `metadata`.
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ListMeta>,
    /// `items`.
    #[prost(message, repeated, tag = "2")]
    pub items: Vec<NodeMetrics>,
}

/// `PodMetricsList` (decoding; lists are encoded from iterators).
#[derive(Clone, PartialEq, Message)]
pub struct PodMetricsList {
    /// `metadata`.
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ListMeta>,
    /// `items`.
    #[prost(message, repeated, tag = "2")]
    pub items: Vec<PodMetrics>,
}

/// A metrics object that has a protobuf message.
pub trait ToProtobuf: MetricsObject {
    /// The object's message (without envelope).
    fn to_message(&self) -> impl Message;

    /// The version the object is written in.
    fn api_version(&self) -> ApiVersion;
}

fn usage(usage: &metrics::Usage) -> BTreeMap<String, Quantity> {
    let mut out = BTreeMap::new();
    out.insert(
        "cpu".to_owned(),
        Quantity {
            string: cpu_text(usage.cpu_nanocores).as_str().to_owned(),
        },
    );
    out.insert(
        "memory".to_owned(),
        Quantity {
            string: memory_text(usage.memory_bytes).as_str().to_owned(),
        },
    );
    if let Some(swap) = usage.swap_bytes {
        out.insert(
            "swap".to_owned(),
            Quantity {
                string: memory_text(swap).as_str().to_owned(),
            },
        );
    }
    out
}

fn object_meta(meta: &metrics::ObjectMeta<'_>) -> ObjectMeta {
    ObjectMeta {
        name: meta.name.as_ref().to_owned(),
        namespace: meta.namespace.as_deref().unwrap_or("").to_owned(),
        resource_version: String::new(),
        creation_timestamp: meta.creation_timestamp.map(Time::from_unix_nanos),
        labels: meta.labels.as_ref().clone(),
    }
}

impl ToProtobuf for metrics::NodeMetrics<'_> {
    fn to_message(&self) -> impl Message {
        NodeMetrics {
            metadata: Some(object_meta(&self.metadata)),
            timestamp: self.timestamp.map(Time::from_unix_nanos),
            window: Some(Duration {
                duration: self.window_nanos,
            }),
            usage: usage(&self.usage),
        }
    }

    fn api_version(&self) -> ApiVersion {
        self.api_version
    }
}

impl ToProtobuf for metrics::PodMetrics<'_> {
    fn to_message(&self) -> impl Message {
        PodMetrics {
            metadata: Some(object_meta(&self.metadata)),
            timestamp: self.timestamp.map(Time::from_unix_nanos),
            window: Some(Duration {
                duration: self.window_nanos,
            }),
            containers: self
                .containers
                .iter()
                .map(|container| ContainerMetrics {
                    name: container.name.as_ref().to_owned(),
                    usage: usage(&container.usage),
                })
                .collect(),
        }
    }

    fn api_version(&self) -> ApiVersion {
        self.api_version
    }
}

/// One object, enveloped.
pub fn encode_object<T: ToProtobuf>(object: &T) -> Vec<u8> {
    envelope(
        object.api_version().group_version(),
        T::KIND,
        object.to_message().encode_to_vec(),
    )
}

/// A list of `T` over `items`, enveloped, written as `api_version`.
pub fn encode_list<T, I>(api_version: ApiVersion, items: I) -> Vec<u8>
where
    T: ToProtobuf,
    I: IntoIterator,
    I::Item: std::borrow::Borrow<T>,
{
    use std::borrow::Borrow;
    let mut raw = Vec::new();
    // Go writes the (empty) ListMeta; so do we, so both decode to `metadata: {}`.
    prost::encoding::message::encode(1, &ListMeta::default(), &mut raw);
    for item in items {
        prost::encoding::message::encode(2, &item.borrow().to_message(), &mut raw);
    }
    envelope(api_version.group_version(), T::LIST_KIND, raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::protobuf::open_envelope;
    use std::borrow::Cow;

    fn node(version: ApiVersion) -> metrics::NodeMetrics<'static> {
        let mut labels = metrics::Labels::new();
        labels.insert("kubernetes.io/os".into(), "linux".into());
        metrics::NodeMetrics {
            api_version: version,
            metadata: metrics::ObjectMeta {
                name: Cow::Borrowed("worker-1"),
                namespace: None,
                creation_timestamp: Some(1_749_556_818_000_000_000),
                labels: Cow::Owned(labels),
            },
            timestamp: Some(1_749_556_811_482_000_000),
            window_nanos: 15_012_000_000,
            usage: metrics::Usage {
                cpu_nanocores: 412_434_431,
                memory_bytes: 3_328_466_944,
                swap_bytes: None,
            },
        }
    }

    fn pod(version: ApiVersion) -> metrics::PodMetrics<'static> {
        metrics::PodMetrics {
            api_version: version,
            metadata: metrics::ObjectMeta {
                name: Cow::Borrowed("web-0"),
                namespace: Some(Cow::Borrowed("default")),
                creation_timestamp: Some(1_749_556_818_000_000_000),
                labels: Cow::Owned(metrics::Labels::new()),
            },
            timestamp: None,
            window_nanos: 10_000_000_000,
            containers: vec![metrics::ContainerMetrics {
                name: Cow::Borrowed("nginx"),
                usage: metrics::Usage {
                    cpu_nanocores: 5_000_000,
                    memory_bytes: 1024 * 1024,
                    swap_bytes: Some(4096),
                },
            }],
        }
    }

    fn quantities(usage: &BTreeMap<String, Quantity>) -> Vec<(&str, &str)> {
        usage
            .iter()
            .map(|(name, q)| (name.as_str(), q.string.as_str()))
            .collect()
    }

    #[test]
    fn a_node_round_trips_with_its_type_meta() {
        for version in ApiVersion::ALL {
            let bytes = encode_object(&node(version));
            let (meta, raw) = open_envelope(&bytes).unwrap();
            assert_eq!(meta.api_version, version.group_version());
            assert_eq!(meta.kind, "NodeMetrics");
            let decoded = NodeMetrics::decode(raw.as_slice()).unwrap();
            let metadata = decoded.metadata.unwrap();
            assert_eq!(metadata.name, "worker-1");
            assert_eq!(metadata.namespace, "");
            assert_eq!(metadata.labels["kubernetes.io/os"], "linux");
            assert_eq!(
                metadata.creation_timestamp,
                Some(Time {
                    seconds: 1_749_556_818,
                    nanos: 0
                })
            );
            assert_eq!(
                decoded.timestamp,
                Some(Time {
                    seconds: 1_749_556_811,
                    nanos: 482_000_000
                })
            );
            assert_eq!(decoded.window.unwrap().duration, 15_012_000_000);
            // The same text as JSON.
            assert_eq!(
                quantities(&decoded.usage),
                [("cpu", "412434431n"), ("memory", "3250456Ki")]
            );
        }
    }

    #[test]
    fn a_pod_list_is_encoded_from_an_iterator() {
        let pods = [pod(ApiVersion::V1), pod(ApiVersion::V1)];
        let bytes = encode_list::<metrics::PodMetrics<'_>, _>(ApiVersion::V1, pods.iter());
        let (meta, raw) = open_envelope(&bytes).unwrap();
        assert_eq!(meta.api_version, "metrics.k8s.io/v1");
        assert_eq!(meta.kind, "PodMetricsList");
        let list = PodMetricsList::decode(raw.as_slice()).unwrap();
        assert_eq!(list.metadata, Some(ListMeta::default()));
        assert_eq!(list.items.len(), 2);
        let item = &list.items[0];
        assert_eq!(item.metadata.as_ref().unwrap().namespace, "default");
        assert_eq!(item.timestamp, None, "an unknown time stays absent");
        assert_eq!(item.containers[0].name, "nginx");
        assert_eq!(
            quantities(&item.containers[0].usage),
            [("cpu", "5m"), ("memory", "1Mi"), ("swap", "4Ki")]
        );
        let empty = encode_list::<metrics::NodeMetrics<'_>, _>(
            ApiVersion::V1beta1,
            std::iter::empty::<metrics::NodeMetrics<'_>>(),
        );
        let (meta, raw) = open_envelope(&empty).unwrap();
        assert_eq!(meta.kind, "NodeMetricsList");
        assert!(
            NodeMetricsList::decode(raw.as_slice())
                .unwrap()
                .items
                .is_empty()
        );
    }
}
