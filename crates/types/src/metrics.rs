//! The `metrics.k8s.io` objects: `NodeMetrics`, `PodMetrics` and their lists, in either served
//! version ([`ApiVersion`]): `v1` and `v1beta1` have the same schema (KEP-5207), so one set of
//! types serves both and only `apiVersion` differs on the wire.
//!
//! The types hold numbers (nanocores, bytes, Unix nanoseconds) and borrow
//! their strings and label maps where they can, so the server can serialise
//! straight from its caches; the Go text forms are produced while
//! serialising, into stack buffers. JSON follows the Go structs: key order,
//! `kind`/`apiVersion` only on a top-level object, list `metadata` `{}`,
//! `labels` omitted when empty, `timestamp` `null` when unknown.
//!
//! Lists can be serialised from a `Vec` ([`NodeMetricsList`],
//! [`PodMetricsList`]) or straight from an iterator ([`ListStream`]), which
//! avoids collecting tens of thousands of items first.

use std::borrow::{Borrow, Cow};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::Error as _;
use serde::ser::{Error as _, SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use apimachinery::duration::{duration_text, parse_go_duration};
use apimachinery::gojson::EmptyObject;
use apimachinery::quantity::{self, Quantity, cpu_text, memory_text};
use apimachinery::time::{parse_rfc3339, time_text};

/// The API group.
pub const GROUP: &str = "metrics.k8s.io";

/// A served version of `metrics.k8s.io`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// `v1beta1`: what every released client and the Go original speak.
    #[default]
    V1beta1,
    /// `v1` (KEP-5207): the same schema; Kubernetes 1.37 clients prefer it.
    V1,
}

impl ApiVersion {
    /// Every served version, the preferred first (discovery lists them in this order).
    pub const ALL: [ApiVersion; 2] = [ApiVersion::V1, ApiVersion::V1beta1];

    /// `v1` or `v1beta1`.
    pub const fn version(self) -> &'static str {
        match self {
            ApiVersion::V1beta1 => "v1beta1",
            ApiVersion::V1 => "v1",
        }
    }

    /// The objects' `apiVersion`: `metrics.k8s.io/v1` or `metrics.k8s.io/v1beta1`.
    pub const fn group_version(self) -> &'static str {
        match self {
            ApiVersion::V1beta1 => "metrics.k8s.io/v1beta1",
            ApiVersion::V1 => "metrics.k8s.io/v1",
        }
    }

    /// The version's root path, `/apis/metrics.k8s.io/<version>`.
    pub const fn path(self) -> &'static str {
        match self {
            ApiVersion::V1beta1 => "/apis/metrics.k8s.io/v1beta1",
            ApiVersion::V1 => "/apis/metrics.k8s.io/v1",
        }
    }

    /// The version named by a path segment, if served.
    pub fn from_version(version: &str) -> Option<ApiVersion> {
        ApiVersion::ALL
            .into_iter()
            .find(|served| served.version() == version)
    }
}

/// Labels as the caches hold them; Go writes map keys sorted, as a `BTreeMap` iterates.
pub type Labels = BTreeMap<String, String>;

/// The subset of `metav1.ObjectMeta` metrics-server fills in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta<'a> {
    /// Object name.
    pub name: Cow<'a, str>,
    /// Namespace (pods only); omitted when `None` or empty.
    pub namespace: Option<Cow<'a, str>>,
    /// Unix nanoseconds; metrics-server uses the time of the request. Omitted when `None`.
    pub creation_timestamp: Option<i64>,
    /// Labels of the Node or Pod; omitted when empty.
    pub labels: Cow<'a, Labels>,
}

/// Resource usage as integers; formatted to Go quantities when serialised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU in nanocores, written as a DecimalSI quantity (`412434431n`).
    pub cpu_nanocores: u64,
    /// Working set in bytes, written as a BinarySI quantity (`3250456Ki`).
    pub memory_bytes: u64,
    /// Swap in bytes; the `swap` key is written only when present.
    pub swap_bytes: Option<u64>,
}

/// `NodeMetrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeMetrics<'a> {
    /// The version the object is written in (its `apiVersion`).
    pub api_version: ApiVersion,
    /// Name, labels and creation time.
    pub metadata: ObjectMeta<'a>,
    /// End of the sample window in Unix nanoseconds; `None` serialises as `null`.
    pub timestamp: Option<i64>,
    /// Length of the window in nanoseconds, written as a Go duration (`15.012s`).
    pub window_nanos: i64,
    /// Usage over the window.
    pub usage: Usage,
}

/// `ContainerMetrics`: one container of a [`PodMetrics`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerMetrics<'a> {
    /// Container name as the kubelet reports it.
    pub name: Cow<'a, str>,
    /// Usage over the pod's window.
    pub usage: Usage,
}

/// `PodMetrics`. Containers are written in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodMetrics<'a> {
    /// The version the object is written in (its `apiVersion`).
    pub api_version: ApiVersion,
    /// Name, namespace, labels and creation time.
    pub metadata: ObjectMeta<'a>,
    /// End of the sample window in Unix nanoseconds; `None` serialises as `null`.
    pub timestamp: Option<i64>,
    /// Length of the window in nanoseconds, written as a Go duration.
    pub window_nanos: i64,
    /// Per-container usage; never `null` on the wire, possibly `[]`.
    pub containers: Vec<ContainerMetrics<'a>>,
}

/// `NodeMetricsList`, items collected in a `Vec`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeMetricsList<'a> {
    /// The version the list is written in (its `apiVersion`).
    pub api_version: ApiVersion,
    /// The items, in the order they are written (metrics-server sorts by name).
    pub items: Vec<NodeMetrics<'a>>,
}

/// `PodMetricsList`, items collected in a `Vec`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodMetricsList<'a> {
    /// The version the list is written in (its `apiVersion`).
    pub api_version: ApiVersion,
    /// The items, in the order they are written (metrics-server sorts by namespace, then name).
    pub items: Vec<PodMetrics<'a>>,
}

/// One of the two top-level metrics kinds; lets lists and tables treat them alike.
pub trait MetricsObject: sealed::Sealed {
    /// `kind` of the single object (`NodeMetrics` or `PodMetrics`).
    const KIND: &'static str;
    /// `kind` of its list.
    const LIST_KIND: &'static str;

    /// The object's metadata.
    fn metadata(&self) -> &ObjectMeta<'_>;

    /// Length of the sample window in nanoseconds.
    fn window_nanos(&self) -> i64;

    /// Usage of the whole object; for a pod, the sum over its containers as
    /// Go's `Quantity.Add` computes it. Keys sorted, only those present.
    fn usage_totals(&self) -> Vec<(&'static str, Quantity)>;

    /// Serialises the object with or without `kind`/`apiVersion`.
    #[doc(hidden)]
    fn serialize_with<S: Serializer>(
        &self,
        serializer: S,
        type_meta: bool,
    ) -> Result<S::Ok, S::Error>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::NodeMetrics<'_> {}
    impl Sealed for super::PodMetrics<'_> {}
}

impl Usage {
    /// The quantities of this usage, keyed like the Go `ResourceList` (sorted).
    pub fn quantities(&self) -> Vec<(&'static str, Quantity)> {
        let mut out = vec![
            ("cpu", Quantity::from_cpu_nanocores(self.cpu_nanocores)),
            ("memory", Quantity::from_memory_bytes(self.memory_bytes)),
        ];
        if let Some(swap) = self.swap_bytes {
            out.push(("swap", Quantity::from_memory_bytes(swap)));
        }
        out
    }
}

impl MetricsObject for NodeMetrics<'_> {
    const KIND: &'static str = "NodeMetrics";
    const LIST_KIND: &'static str = "NodeMetricsList";

    fn metadata(&self) -> &ObjectMeta<'_> {
        &self.metadata
    }

    fn window_nanos(&self) -> i64 {
        self.window_nanos
    }

    fn usage_totals(&self) -> Vec<(&'static str, Quantity)> {
        self.usage.quantities()
    }

    fn serialize_with<S: Serializer>(
        &self,
        serializer: S,
        type_meta: bool,
    ) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("NodeMetrics", 6)?;
        if type_meta {
            out.serialize_field("kind", Self::KIND)?;
            out.serialize_field("apiVersion", self.api_version.group_version())?;
        }
        out.serialize_field("metadata", &self.metadata)?;
        out.serialize_field("timestamp", &TimeField(self.timestamp))?;
        out.serialize_field("window", duration_text(self.window_nanos).as_str())?;
        out.serialize_field("usage", &self.usage)?;
        out.end()
    }
}

impl MetricsObject for PodMetrics<'_> {
    const KIND: &'static str = "PodMetrics";
    const LIST_KIND: &'static str = "PodMetricsList";

    fn metadata(&self) -> &ObjectMeta<'_> {
        &self.metadata
    }

    fn window_nanos(&self) -> i64 {
        self.window_nanos
    }

    fn usage_totals(&self) -> Vec<(&'static str, Quantity)> {
        let mut totals: Vec<(&'static str, Quantity)> = Vec::with_capacity(3);
        for container in &self.containers {
            for (name, value) in container.usage.quantities() {
                match totals.iter_mut().find(|(existing, _)| *existing == name) {
                    Some((_, total)) => {
                        // A sum beyond ±1.7e29 units cannot come from u64 inputs; keep the
                        // old total rather than panic if it ever did.
                        if let Some(sum) = total.checked_add(&value) {
                            *total = sum;
                        }
                    }
                    // Go starts from a zero Quantity, and zero plus x keeps x's format.
                    None => totals.push((name, value)),
                }
            }
        }
        totals.sort_by_key(|(name, _)| *name);
        totals
    }

    fn serialize_with<S: Serializer>(
        &self,
        serializer: S,
        type_meta: bool,
    ) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("PodMetrics", 6)?;
        if type_meta {
            out.serialize_field("kind", Self::KIND)?;
            out.serialize_field("apiVersion", self.api_version.group_version())?;
        }
        out.serialize_field("metadata", &self.metadata)?;
        out.serialize_field("timestamp", &TimeField(self.timestamp))?;
        out.serialize_field("window", duration_text(self.window_nanos).as_str())?;
        out.serialize_field("containers", &self.containers)?;
        out.end()
    }
}

impl Serialize for NodeMetrics<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize_with(serializer, true)
    }
}

impl Serialize for PodMetrics<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize_with(serializer, true)
    }
}

/// Serialises a list item: the object without `kind`/`apiVersion`.
struct InList<'x, T>(&'x T);

impl<T: MetricsObject> Serialize for InList<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_with(serializer, false)
    }
}

/// Writes a list envelope around items taken from an iterator.
fn serialize_list<S, T, I>(
    serializer: S,
    api_version: ApiVersion,
    items: I,
) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: MetricsObject,
    I: IntoIterator,
    I::Item: Borrow<T>,
{
    struct Items<T, I>(Cell<Option<I>>, PhantomData<fn() -> T>);
    impl<T, I> Serialize for Items<T, I>
    where
        T: MetricsObject,
        I: IntoIterator,
        I::Item: Borrow<T>,
    {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let items = self
                .0
                .take()
                .ok_or_else(|| S::Error::custom("list items were already consumed"))?;
            serializer.collect_seq(
                items
                    .into_iter()
                    .map(|item| InListOwned::<T, _>(item, PhantomData)),
            )
        }
    }
    let mut out = serializer.serialize_struct(T::LIST_KIND, 4)?;
    out.serialize_field("kind", T::LIST_KIND)?;
    out.serialize_field("apiVersion", api_version.group_version())?;
    out.serialize_field("metadata", &EmptyObject)?;
    let items = Items::<T, I>(Cell::new(Some(items)), PhantomData);
    out.serialize_field("items", &items)?;
    out.end()
}

/// Like [`InList`], for items that may be owned or borrowed.
struct InListOwned<T, B>(B, PhantomData<fn() -> T>);

impl<T: MetricsObject, B: Borrow<T>> Serialize for InListOwned<T, B> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        InList(self.0.borrow()).serialize(serializer)
    }
}

impl Serialize for NodeMetricsList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_list::<S, NodeMetrics<'_>, _>(serializer, self.api_version, self.items.iter())
    }
}

impl Serialize for PodMetricsList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_list::<S, PodMetrics<'_>, _>(serializer, self.api_version, self.items.iter())
    }
}

/// A `NodeMetricsList` or `PodMetricsList` whose items are produced while it is serialised.
///
/// The iterator runs once, during serialisation, so per-item work (lookups,
/// self-metrics) happens exactly once and nothing is collected. Serialising
/// the same stream a second time fails.
pub struct ListStream<T, I> {
    api_version: ApiVersion,
    items: Cell<Option<I>>,
    kind: PhantomData<fn() -> T>,
}

impl<T: MetricsObject, I> ListStream<T, I>
where
    I: IntoIterator,
    I::Item: Borrow<T>,
{
    /// A list of `T` (`NodeMetrics` or `PodMetrics`) over `items`, owned or borrowed, written
    /// as `api_version` (the items should carry the same version).
    pub fn new(api_version: ApiVersion, items: I) -> Self {
        ListStream {
            api_version,
            items: Cell::new(Some(items)),
            kind: PhantomData,
        }
    }
}

impl<'a, I> ListStream<NodeMetrics<'a>, I>
where
    I: IntoIterator,
    I::Item: Borrow<NodeMetrics<'a>>,
{
    /// A `NodeMetricsList` over `items` (owned or borrowed `NodeMetrics`).
    pub fn nodes(api_version: ApiVersion, items: I) -> Self {
        ListStream::new(api_version, items)
    }
}

impl<'a, I> ListStream<PodMetrics<'a>, I>
where
    I: IntoIterator,
    I::Item: Borrow<PodMetrics<'a>>,
{
    /// A `PodMetricsList` over `items` (owned or borrowed `PodMetrics`).
    pub fn pods(api_version: ApiVersion, items: I) -> Self {
        ListStream::new(api_version, items)
    }
}

impl<T, I> fmt::Debug for ListStream<T, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListStream").finish_non_exhaustive()
    }
}

impl<T, I> Serialize for ListStream<T, I>
where
    T: MetricsObject,
    I: IntoIterator,
    I::Item: Borrow<T>,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let items = self
            .items
            .take()
            .ok_or_else(|| S::Error::custom("list items were already consumed"))?;
        serialize_list::<S, T, I>(serializer, self.api_version, items)
    }
}

impl Serialize for ObjectMeta<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("ObjectMeta", 4)?;
        out.serialize_field("name", self.name.as_ref())?;
        match self.namespace.as_deref() {
            Some(namespace) if !namespace.is_empty() => {
                out.serialize_field("namespace", namespace)?
            }
            _ => out.skip_field("namespace")?,
        }
        match self.creation_timestamp {
            Some(nanos) => out.serialize_field("creationTimestamp", time_text(nanos).as_str())?,
            None => out.skip_field("creationTimestamp")?,
        }
        if self.labels.is_empty() {
            out.skip_field("labels")?;
        } else {
            out.serialize_field("labels", self.labels.as_ref())?;
        }
        out.end()
    }
}

impl Serialize for Usage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entries = if self.swap_bytes.is_some() { 3 } else { 2 };
        let mut out = serializer.serialize_map(Some(entries))?;
        out.serialize_entry("cpu", cpu_text(self.cpu_nanocores).as_str())?;
        out.serialize_entry("memory", memory_text(self.memory_bytes).as_str())?;
        if let Some(swap) = self.swap_bytes {
            out.serialize_entry("swap", memory_text(swap).as_str())?;
        }
        out.end()
    }
}

impl Serialize for ContainerMetrics<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("ContainerMetrics", 2)?;
        out.serialize_field("name", self.name.as_ref())?;
        out.serialize_field("usage", &self.usage)?;
        out.end()
    }
}

/// `metav1.Time` that may be the zero time (`null`).
struct TimeField(Option<i64>);

impl Serialize for TimeField {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(nanos) => serializer.serialize_str(time_text(nanos).as_str()),
            None => serializer.serialize_none(),
        }
    }
}

// ---------------------------------------------------------------------------
// Deserialisation: read our own output (tests) or another server's (clients).

#[derive(Deserialize)]
struct MetaWire {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default, rename = "creationTimestamp", deserialize_with = "de_time")]
    creation_timestamp: Option<i64>,
    #[serde(default)]
    labels: Option<Labels>,
}

#[derive(Deserialize)]
struct NodeWire {
    #[serde(default)]
    metadata: Option<MetaWire>,
    #[serde(default, deserialize_with = "de_time")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "de_window")]
    window: i64,
    usage: Usage,
}

#[derive(Deserialize)]
struct ContainerWire {
    #[serde(default)]
    name: String,
    usage: Usage,
}

#[derive(Deserialize)]
struct PodWire {
    #[serde(default)]
    metadata: Option<MetaWire>,
    #[serde(default, deserialize_with = "de_time")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "de_window")]
    window: i64,
    #[serde(default)]
    containers: Option<Vec<ContainerWire>>,
}

#[derive(Deserialize)]
struct ListWire<T> {
    #[serde(default = "Option::default")]
    items: Option<Vec<T>>,
}

fn de_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let text = Option::<Cow<'de, str>>::deserialize(deserializer)?;
    text.map(|text| parse_rfc3339(&text).map_err(D::Error::custom))
        .transpose()
}

fn de_window<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let text = Option::<Cow<'de, str>>::deserialize(deserializer)?;
    match text {
        Some(text) => parse_go_duration(&text).map_err(D::Error::custom),
        None => Ok(0),
    }
}

impl From<MetaWire> for ObjectMeta<'_> {
    fn from(wire: MetaWire) -> Self {
        ObjectMeta {
            name: Cow::Owned(wire.name),
            namespace: wire.namespace.filter(|ns| !ns.is_empty()).map(Cow::Owned),
            creation_timestamp: wire.creation_timestamp,
            labels: Cow::Owned(wire.labels.unwrap_or_default()),
        }
    }
}

impl From<NodeWire> for NodeMetrics<'_> {
    fn from(wire: NodeWire) -> Self {
        NodeMetrics {
            api_version: ApiVersion::default(),
            metadata: wire.metadata.map(ObjectMeta::from).unwrap_or_default(),
            timestamp: wire.timestamp,
            window_nanos: wire.window,
            usage: wire.usage,
        }
    }
}

impl From<PodWire> for PodMetrics<'_> {
    fn from(wire: PodWire) -> Self {
        PodMetrics {
            api_version: ApiVersion::default(),
            metadata: wire.metadata.map(ObjectMeta::from).unwrap_or_default(),
            timestamp: wire.timestamp,
            window_nanos: wire.window,
            containers: wire
                .containers
                .unwrap_or_default()
                .into_iter()
                .map(|c| ContainerMetrics {
                    name: Cow::Owned(c.name),
                    usage: c.usage,
                })
                .collect(),
        }
    }
}

impl<'de> Deserialize<'de> for NodeMetrics<'_> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        NodeWire::deserialize(deserializer).map(NodeMetrics::from)
    }
}

impl<'de> Deserialize<'de> for PodMetrics<'_> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        PodWire::deserialize(deserializer).map(PodMetrics::from)
    }
}

impl<'de> Deserialize<'de> for NodeMetricsList<'_> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = ListWire::<NodeWire>::deserialize(deserializer)?;
        Ok(NodeMetricsList {
            api_version: ApiVersion::default(),
            items: wire
                .items
                .unwrap_or_default()
                .into_iter()
                .map(NodeMetrics::from)
                .collect(),
        })
    }
}

impl<'de> Deserialize<'de> for PodMetricsList<'_> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = ListWire::<PodWire>::deserialize(deserializer)?;
        Ok(PodMetricsList {
            api_version: ApiVersion::default(),
            items: wire
                .items
                .unwrap_or_default()
                .into_iter()
                .map(PodMetrics::from)
                .collect(),
        })
    }
}

impl<'de> Deserialize<'de> for Usage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = BTreeMap::<Cow<'de, str>, Quantity>::deserialize(deserializer)?;
        let cpu = list
            .get("cpu")
            .ok_or_else(|| D::Error::missing_field("cpu"))?;
        let memory = list
            .get("memory")
            .ok_or_else(|| D::Error::missing_field("memory"))?;
        let cpu_nanocores = u64::try_from(cpu.nanos()).map_err(|_| {
            D::Error::custom(format!("cpu {cpu} is not a non-negative u64 of nanocores"))
        })?;
        let bytes = |q: &Quantity| {
            u64::try_from(q.value_ceil())
                .map_err(|_| D::Error::custom(format!("{q} is not a non-negative u64 of bytes")))
        };
        Ok(Usage {
            cpu_nanocores,
            memory_bytes: bytes(memory)?,
            swap_bytes: list.get("swap").map(bytes).transpose()?,
        })
    }
}

/// Reads a quantity string into the integer the [`Usage`] fields hold; handy for tests.
pub fn parse_usage_value(resource: &str, text: &str) -> Result<u64, quantity::QuantityError> {
    let q = quantity::parse(text)?;
    let value = if resource == "cpu" {
        q.nanos()
    } else {
        q.value_ceil()
    };
    u64::try_from(value).map_err(|_| quantity::QuantityError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::gojson;
    use serde_json::Value;

    const CREATED: i64 = 1_749_556_818_000_000_000; // 2025-06-10T12:00:18Z
    const SECOND: i64 = 1_000_000_000;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../testkit/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn to_value<T: Serialize>(value: &T) -> Value {
        serde_json::from_slice(&gojson::to_vec_with_newline(value).unwrap()).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn worker_1(node_labels: &Labels) -> NodeMetrics<'_> {
        NodeMetrics {
            api_version: ApiVersion::V1beta1,
            metadata: ObjectMeta {
                name: Cow::Borrowed("worker-1"),
                namespace: None,
                creation_timestamp: Some(CREATED),
                labels: Cow::Borrowed(node_labels),
            },
            // The scrape time was 12:00:11.482; the wire keeps whole seconds.
            timestamp: Some(1_749_556_811_482_000_000),
            window_nanos: 15_012_000_000,
            usage: Usage {
                cpu_nanocores: 412_434_431,
                memory_bytes: 3_328_466_944,
                swap_bytes: None,
            },
        }
    }

    fn node_labels() -> Labels {
        labels(&[
            ("beta.kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("kubernetes.io/hostname", "worker-1"),
            ("kubernetes.io/os", "linux"),
        ])
    }

    fn pod<'a>(
        namespace: &'a str,
        name: &'a str,
        pod_labels: Labels,
        timestamp_s: i64,
        window_ms: i64,
        containers: &[(&'a str, u64, u64)],
    ) -> PodMetrics<'a> {
        PodMetrics {
            api_version: ApiVersion::V1beta1,
            metadata: ObjectMeta {
                name: Cow::Borrowed(name),
                namespace: Some(Cow::Borrowed(namespace)),
                creation_timestamp: Some(CREATED),
                labels: Cow::Owned(pod_labels),
            },
            timestamp: Some(timestamp_s * SECOND),
            window_nanos: window_ms * 1_000_000,
            containers: containers
                .iter()
                .map(|&(name, cpu, memory_ki)| ContainerMetrics {
                    name: Cow::Borrowed(name),
                    usage: Usage {
                        cpu_nanocores: cpu,
                        memory_bytes: memory_ki * 1024,
                        swap_bytes: None,
                    },
                })
                .collect(),
        }
    }

    /// The four pods of the fixture scenario, in list order.
    pub(crate) fn fixture_pods() -> Vec<PodMetrics<'static>> {
        vec![
            pod(
                "default",
                "redis-0",
                labels(&[
                    ("app", "redis"),
                    ("apps.kubernetes.io/pod-index", "0"),
                    ("controller-revision-hash", "redis-7f9d8c6b5d"),
                    ("statefulset.kubernetes.io/pod-name", "redis-0"),
                ]),
                1_749_556_812,
                15_016,
                &[("redis", 9_164_482, 113_120)],
            ),
            pod(
                "default",
                "web-6d4cf56db6-8fkq2",
                labels(&[("app", "web"), ("pod-template-hash", "6d4cf56db6")]),
                1_749_556_807,
                15_013,
                &[
                    ("nginx", 200_807_775, 40_372),
                    ("log-shipper", 10_002_836, 18_740),
                ],
            ),
            pod(
                "kube-system",
                "coredns-7db6d8ff4d-x7k2p",
                labels(&[("k8s-app", "kube-dns"), ("pod-template-hash", "7db6d8ff4d")]),
                1_749_556_810,
                15_012,
                &[("coredns", 2_782_708, 14_960)],
            ),
        ]
    }

    fn without_creation_timestamps(mut value: Value) -> Value {
        fn strip(value: &mut Value) {
            match value {
                Value::Object(map) => {
                    map.remove("creationTimestamp");
                    map.values_mut().for_each(strip);
                }
                Value::Array(items) => items.iter_mut().for_each(strip),
                _ => {}
            }
        }
        strip(&mut value);
        value
    }

    #[test]
    fn node_metrics_matches_fixture_byte_for_byte_in_order() {
        let node_labels = node_labels();
        let node = worker_1(&node_labels);
        assert_eq!(to_value(&node), fixture("metrics-nodemetrics-get.json"));
        let text = String::from_utf8(gojson::to_vec_with_newline(&node).unwrap()).unwrap();
        assert!(text.starts_with(
            r#"{"kind":"NodeMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"name":"worker-1","creationTimestamp":"2025-06-10T12:00:18Z","labels":{"#
        ));
        assert!(text.ends_with(concat!(
            r#""timestamp":"2025-06-10T12:00:11Z","window":"15.012s","#,
            r#""usage":{"cpu":"412434431n","memory":"3250456Ki"}}"#,
            "\n"
        )));
    }

    #[test]
    fn node_list_matches_fixture() {
        let node_labels = node_labels();
        let list = NodeMetricsList {
            api_version: ApiVersion::V1beta1,
            items: vec![worker_1(&node_labels)],
        };
        let expected = fixture("metrics-nodemetricslist.json");
        assert_eq!(
            without_creation_timestamps(to_value(&list)),
            without_creation_timestamps(expected.clone())
        );
        let streamed = ListStream::nodes(ApiVersion::V1beta1, list.items.iter());
        assert_eq!(to_value(&streamed), to_value(&list));
    }

    #[test]
    fn pod_list_and_get_match_fixtures() {
        let mut pods = fixture_pods();
        let expected_list = fixture("metrics-podmetricslist.json");
        let list = PodMetricsList {
            api_version: ApiVersion::V1beta1,
            items: pods.clone(),
        };
        // The fixture has a fourth pod; compare the ones we built item by item.
        let ours = to_value(&list);
        assert_eq!(
            to_value(&ListStream::pods(ApiVersion::V1beta1, pods.iter())),
            ours
        );
        assert_eq!(ours["kind"], "PodMetricsList");
        assert_eq!(ours["metadata"], serde_json::json!({}));
        for (index, item) in ours["items"].as_array().unwrap().iter().enumerate() {
            let name = item["metadata"]["name"].as_str().unwrap();
            let theirs = expected_list["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{name} not in fixture"));
            assert_eq!(item, theirs, "item {index}");
            assert!(item.get("kind").is_none());
        }
        let web = pods.remove(1);
        assert_eq!(to_value(&web), fixture("metrics-podmetrics-get.json"));
    }

    #[test]
    fn empty_lists_have_empty_items_and_metadata() {
        let text =
            String::from_utf8(gojson::to_vec_with_newline(&PodMetricsList::default()).unwrap())
                .unwrap();
        assert_eq!(
            text,
            "{\"kind\":\"PodMetricsList\",\"apiVersion\":\"metrics.k8s.io/v1beta1\",\"metadata\":{},\"items\":[]}\n"
        );
        let empty_stream = ListStream::<NodeMetrics<'_>, _>::new(
            ApiVersion::V1beta1,
            std::iter::empty::<NodeMetrics<'_>>(),
        );
        assert_eq!(
            to_value(&empty_stream),
            serde_json::json!({"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[]})
        );
    }

    #[test]
    fn a_stream_is_consumed_once() {
        let node_labels = node_labels();
        let items = vec![worker_1(&node_labels)];
        let stream = ListStream::nodes(ApiVersion::V1beta1, items.into_iter());
        assert!(gojson::to_vec_with_newline(&stream).is_ok());
        assert!(gojson::to_vec_with_newline(&stream).is_err());
    }

    #[test]
    fn optional_fields_follow_go_rules() {
        let pod = PodMetrics {
            api_version: ApiVersion::V1beta1,
            metadata: ObjectMeta {
                name: Cow::Borrowed("p"),
                namespace: Some(Cow::Borrowed("ns")),
                creation_timestamp: None,
                labels: Cow::Owned(Labels::new()),
            },
            timestamp: None,
            window_nanos: 0,
            containers: vec![ContainerMetrics {
                name: Cow::Borrowed("c"),
                usage: Usage {
                    cpu_nanocores: 0,
                    memory_bytes: 0,
                    swap_bytes: Some(1_048_576),
                },
            }],
        };
        let text = String::from_utf8(gojson::to_vec_with_newline(&pod).unwrap()).unwrap();
        assert_eq!(
            text,
            "{\"kind\":\"PodMetrics\",\"apiVersion\":\"metrics.k8s.io/v1beta1\",\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\"},\
             \"timestamp\":null,\"window\":\"0s\",\"containers\":[{\"name\":\"c\",\"usage\":{\"cpu\":\"0\",\"memory\":\"0\",\"swap\":\"1Mi\"}}]}\n"
        );
        let no_containers = PodMetrics {
            api_version: ApiVersion::V1beta1,
            containers: vec![],
            ..pod
        };
        assert!(
            String::from_utf8(gojson::to_vec_with_newline(&no_containers).unwrap())
                .unwrap()
                .contains("\"containers\":[]")
        );
    }

    #[test]
    fn deserialises_fixtures_back_to_the_numbers() {
        let node: NodeMetrics<'static> =
            serde_json::from_value(fixture("metrics-nodemetrics-get.json")).unwrap();
        let node_labels = node_labels();
        let mut expected = worker_1(&node_labels);
        expected.timestamp = Some(1_749_556_811 * SECOND);
        assert_eq!(node, expected);

        let list: PodMetricsList<'static> =
            serde_json::from_value(fixture("metrics-podmetricslist.json")).unwrap();
        assert_eq!(list.items.len(), 4);
        assert_eq!(&list.items[..3], &fixture_pods()[..]);

        let nodes: NodeMetricsList<'static> =
            serde_json::from_value(fixture("metrics-nodemetricslist.json")).unwrap();
        assert_eq!(nodes.items, vec![expected]);
    }

    #[test]
    fn own_output_round_trips() {
        let pods = fixture_pods();
        let bytes = gojson::to_vec_with_newline(&PodMetricsList {
            api_version: ApiVersion::V1beta1,
            items: pods.clone(),
        })
        .unwrap();
        let back: PodMetricsList<'static> = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.items, pods);
    }

    #[test]
    fn deserialisation_rejects_bad_values() {
        let bad_cpu = r#"{"metadata":{"name":"n"},"timestamp":null,"window":"1s","usage":{"cpu":"-1","memory":"1Ki"}}"#;
        assert!(serde_json::from_str::<NodeMetrics<'static>>(bad_cpu).is_err());
        let bad_window = r#"{"metadata":{"name":"n"},"timestamp":null,"window":"soon","usage":{"cpu":"1","memory":"1Ki"}}"#;
        assert!(serde_json::from_str::<NodeMetrics<'static>>(bad_window).is_err());
        let missing_memory = r#"{"metadata":{"name":"n"},"window":"1s","usage":{"cpu":"1"}}"#;
        assert!(serde_json::from_str::<NodeMetrics<'static>>(missing_memory).is_err());
    }

    #[test]
    fn pod_usage_totals_sum_containers_like_go() {
        let pods = fixture_pods();
        let totals = pods[1].usage_totals();
        let text: Vec<(&str, String)> = totals.iter().map(|(k, q)| (*k, q.to_string())).collect();
        assert_eq!(
            text,
            vec![
                ("cpu", "210810611n".to_owned()),
                ("memory", "59112Ki".to_owned())
            ]
        );
        assert_eq!(totals[0].1.milli_value_ceil(), 211);
        let empty = PodMetrics::default();
        assert!(empty.usage_totals().is_empty());
    }

    #[test]
    fn parse_usage_value_reads_quantities() {
        assert_eq!(parse_usage_value("cpu", "5m"), Ok(5_000_000));
        assert_eq!(parse_usage_value("memory", "3250456Ki"), Ok(3_328_466_944));
    }
}
