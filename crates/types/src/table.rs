//! Server-side `Table` output of metrics lists (`kubectl get nodes.metrics.k8s.io`).
//!
//! metrics-server builds the columns from the **first** item's usage keys,
//! sorted, between `Name` and `Window`; pod cells hold the sum over the
//! containers (`Quantity.Add`, then the canonical text). The generic
//! apiserver then fills each row's `object` according to `includeObject`:
//! `Metadata` (the default) gives a `PartialObjectMetadata`, `Object` the full
//! item, `None` a `null`. An empty list has `null` columns and rows.
//!
//! One upstream quirk is kept: while the items seen so far have no usage at
//! all (a pod without containers), the columns are only `Name` and `Window`,
//! those rows have two cells, and the next item with usage sets the columns.
//!
//! Swap, which this server adds to `usage` where kubelets report it, is not a
//! column: the table `kubectl get` prints stays upstream's (`kubectl top
//! --show-swap` is where people read swap).

use std::borrow::Borrow;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::ser::{Error as _, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::metrics::{MetricsObject, NodeMetrics, PodMetrics};
use apimachinery::duration::format_go_duration;
use apimachinery::gojson::EmptyObject;
use apimachinery::goquote;
use apimachinery::negotiate::TableVersion;

/// The resources that get a column: upstream's usage keys.
const TABLE_RESOURCES: [&str; 2] = ["cpu", "memory"];

/// The `includeObject` query parameter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum IncludeObject {
    /// `None`: rows carry `"object":null`.
    None,
    /// `Metadata` (default): rows carry a `PartialObjectMetadata`.
    #[default]
    Metadata,
    /// `Object`: rows carry the full NodeMetrics/PodMetrics.
    Object,
}

/// An `includeObject` value the apiserver does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognized includeObject value: {}", goquote::quote(.0))]
pub struct IncludeObjectError(pub String);

impl IncludeObject {
    /// Parses the query parameter; absent or empty means `Metadata`. The error
    /// message is the apiserver's 400 text.
    pub fn parse(value: Option<&str>) -> Result<IncludeObject, IncludeObjectError> {
        match value.unwrap_or("") {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(IncludeObjectError(other.to_owned())),
        }
    }
}

/// How to render a table: the negotiated Table version and `includeObject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableOptions {
    /// `meta.k8s.io` version from the `Accept` header.
    pub version: TableVersion,
    /// What each row's `object` holds.
    pub include_object: IncludeObject,
    /// Leave `columnDefinitions` out (`null`): the Go apiserver sends them only with the first
    /// event of a watch.
    pub no_headers: bool,
}

/// A Table of `T` (`NodeMetrics` or `PodMetrics`) over `items`, built while serialising.
///
/// Items may be owned or borrowed. The iterator is consumed by the first
/// serialisation; a second one fails.
pub struct Table<T, I> {
    items: Cell<Option<I>>,
    options: TableOptions,
    kind: PhantomData<fn() -> T>,
}

impl<T, I> Table<T, I>
where
    T: MetricsObject,
    I: IntoIterator,
    I::Item: Borrow<T>,
{
    /// A table over `items`.
    pub fn new(items: I, options: TableOptions) -> Self {
        Table {
            items: Cell::new(Some(items)),
            options,
            kind: PhantomData,
        }
    }
}

impl<'a, I> Table<NodeMetrics<'a>, I>
where
    I: IntoIterator,
    I::Item: Borrow<NodeMetrics<'a>>,
{
    /// A table of nodes.
    pub fn nodes(items: I, options: TableOptions) -> Self {
        Table::new(items, options)
    }
}

impl<'a, I> Table<PodMetrics<'a>, I>
where
    I: IntoIterator,
    I::Item: Borrow<PodMetrics<'a>>,
{
    /// A table of pods; cells hold the sums over each pod's containers.
    pub fn pods(items: I, options: TableOptions) -> Self {
        Table::new(items, options)
    }
}

impl<T, I> fmt::Debug for Table<T, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<T, I> Serialize for Table<T, I>
where
    T: MetricsObject,
    I: IntoIterator,
    I::Item: Borrow<T>,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let items = self
            .items
            .take()
            .ok_or_else(|| S::Error::custom("table items were already consumed"))?;
        let options = self.options;

        // Columns can change while rows are built (see the module docs), and
        // they are written first, so rows are built before anything is written.
        let mut resource_columns: Option<Vec<&'static str>> = None;
        let mut rows = Vec::new();
        for item in items {
            let mut totals = item.borrow().usage_totals();
            totals.retain(|(name, _)| TABLE_RESOURCES.contains(name));
            if resource_columns.is_none() && !totals.is_empty() {
                resource_columns = Some(totals.iter().map(|(name, _)| *name).collect());
            }
            let names = resource_columns.as_deref().unwrap_or(&[]);
            let mut cells = Vec::with_capacity(names.len() + 2);
            cells.push(item.borrow().metadata().name.to_string());
            for name in names {
                let cell = totals
                    .iter()
                    .find(|(resource, _)| resource == name)
                    .map_or_else(|| "0".to_owned(), |(_, quantity)| quantity.to_string());
                cells.push(cell);
            }
            cells.push(format_go_duration(item.borrow().window_nanos()));
            rows.push(Row {
                cells,
                item,
                options,
                kind: PhantomData::<fn() -> T>,
            });
        }

        let mut out = serializer.serialize_struct("Table", 5)?;
        out.serialize_field("kind", "Table")?;
        out.serialize_field("apiVersion", options.version.api_version())?;
        out.serialize_field("metadata", &EmptyObject)?;
        if rows.is_empty() {
            out.serialize_field("columnDefinitions", &None::<()>)?;
            out.serialize_field("rows", &None::<()>)?;
        } else {
            let names = resource_columns.as_deref().unwrap_or(&[]);
            if options.no_headers {
                out.serialize_field("columnDefinitions", &None::<()>)?;
            } else {
                out.serialize_field("columnDefinitions", &columns(names))?;
            }
            out.serialize_field("rows", &rows)?;
        }
        out.end()
    }
}

#[derive(Serialize)]
struct ColumnDefinition {
    name: &'static str,
    #[serde(rename = "type")]
    type_: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
}

fn columns(resource_names: &[&'static str]) -> Vec<ColumnDefinition> {
    let mut columns = Vec::with_capacity(resource_names.len() + 2);
    columns.push(ColumnDefinition {
        name: "Name",
        type_: "string",
        format: "name",
        description: "Name of the resource",
        priority: 0,
    });
    columns.extend(resource_names.iter().map(|&name| ColumnDefinition {
        name,
        type_: "string",
        format: "quantity",
        description: "",
        priority: 0,
    }));
    columns.push(ColumnDefinition {
        name: "Window",
        type_: "string",
        format: "duration",
        description: "",
        priority: 0,
    });
    columns
}

struct Row<T, B> {
    cells: Vec<String>,
    item: B,
    options: TableOptions,
    kind: PhantomData<fn() -> T>,
}

impl<T: MetricsObject, B: Borrow<T>> Serialize for Row<T, B> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("TableRow", 2)?;
        out.serialize_field("cells", &self.cells)?;
        out.serialize_field(
            "object",
            &RowObject {
                item: self.item.borrow(),
                options: self.options,
            },
        )?;
        out.end()
    }
}

struct RowObject<'x, T> {
    item: &'x T,
    options: TableOptions,
}

impl<T: MetricsObject> Serialize for RowObject<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.options.include_object {
            // Go leaves the row's RawExtension empty, which marshals as null.
            IncludeObject::None => serializer.serialize_none(),
            IncludeObject::Object => self.item.serialize_with(serializer, true),
            IncludeObject::Metadata => {
                let mut out = serializer.serialize_struct("PartialObjectMetadata", 3)?;
                out.serialize_field("kind", "PartialObjectMetadata")?;
                out.serialize_field("apiVersion", self.options.version.api_version())?;
                out.serialize_field("metadata", self.item.metadata())?;
                out.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{ApiVersion, ContainerMetrics, ObjectMeta, Usage};
    use apimachinery::gojson;
    use serde_json::{Value, json};
    use std::borrow::Cow;

    const CREATED: i64 = 1_749_556_818_000_000_000;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../testkit/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn render<T: Serialize>(value: &T) -> Value {
        serde_json::from_slice(&gojson::to_vec_with_newline(value).unwrap()).unwrap()
    }

    fn default_options() -> TableOptions {
        TableOptions {
            version: TableVersion::V1,
            include_object: IncludeObject::Metadata,
            no_headers: false,
        }
    }

    fn list_fixture_items<T: serde::de::DeserializeOwned>(name: &str) -> Vec<T> {
        let list = fixture(name);
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| serde_json::from_value(item.clone()).unwrap())
            .collect()
    }

    #[test]
    fn node_table_matches_fixture() {
        let nodes: Vec<NodeMetrics<'static>> = list_fixture_items("metrics-nodemetricslist.json");
        let table = Table::nodes(nodes.iter(), default_options());
        assert_eq!(render(&table), fixture("metrics-nodes-table.json"));
    }

    #[test]
    fn pod_table_matches_fixture() {
        let pods: Vec<PodMetrics<'static>> = list_fixture_items("metrics-podmetricslist.json");
        let in_default: Vec<_> = pods
            .into_iter()
            .filter(|pod| pod.metadata.namespace.as_deref() == Some("default"))
            .collect();
        let table = Table::pods(in_default, default_options());
        assert_eq!(render(&table), fixture("metrics-pods-table.json"));
    }

    #[test]
    fn empty_table_has_null_columns_and_rows() {
        let table =
            Table::<NodeMetrics<'_>, _>::new(Vec::<NodeMetrics<'_>>::new(), default_options());
        let text = String::from_utf8(gojson::to_vec_with_newline(&table).unwrap()).unwrap();
        assert_eq!(
            text,
            "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{},\"columnDefinitions\":null,\"rows\":null}\n"
        );
        assert!(
            gojson::to_vec_with_newline(&table).is_err(),
            "a table is consumed once"
        );
    }

    fn node(name: &'static str, swap: Option<u64>) -> NodeMetrics<'static> {
        NodeMetrics {
            api_version: ApiVersion::V1beta1,
            metadata: ObjectMeta {
                name: Cow::Borrowed(name),
                creation_timestamp: Some(CREATED),
                ..ObjectMeta::default()
            },
            timestamp: None,
            window_nanos: 1_000,
            usage: Usage {
                cpu_nanocores: 5_000_000,
                memory_bytes: 1024,
                swap_bytes: swap,
            },
        }
    }

    #[test]
    fn include_object_variants_and_v1beta1() {
        let nodes = [node("a", None)];
        let object = render(&Table::<NodeMetrics<'_>, _>::new(
            nodes.iter(),
            TableOptions {
                version: TableVersion::V1Beta1,
                include_object: IncludeObject::Object,
                no_headers: false,
            },
        ));
        assert_eq!(object["apiVersion"], "meta.k8s.io/v1beta1");
        assert_eq!(object["rows"][0]["object"]["kind"], "NodeMetrics");
        assert_eq!(
            object["rows"][0]["object"]["apiVersion"],
            "metrics.k8s.io/v1beta1"
        );
        assert_eq!(object["rows"][0]["object"]["usage"]["cpu"], "5m");
        assert_eq!(object["rows"][0]["cells"], json!(["a", "5m", "1Ki", "1µs"]));

        let none = render(&Table::<NodeMetrics<'_>, _>::new(
            nodes.iter(),
            TableOptions {
                version: TableVersion::V1,
                include_object: IncludeObject::None,
                no_headers: false,
            },
        ));
        assert_eq!(none["rows"][0]["object"], Value::Null);

        let metadata = render(&Table::<NodeMetrics<'_>, _>::new(
            nodes.iter(),
            TableOptions {
                version: TableVersion::V1Beta1,
                include_object: IncludeObject::Metadata,
                no_headers: false,
            },
        ));
        assert_eq!(
            metadata["rows"][0]["object"],
            json!({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1beta1",
                   "metadata":{"name":"a","creationTimestamp":"2025-06-10T12:00:18Z"}})
        );
    }

    #[test]
    fn columns_are_upstreams_whatever_swap_is_served() {
        // Swap is part of the objects (see `include_object`), not a column: `kubectl get`
        // prints what it prints with the Go original.
        let nodes = [node("a", Some(2048)), node("b", None)];
        let table = render(&Table::<NodeMetrics<'_>, _>::new(
            nodes.iter(),
            TableOptions {
                include_object: IncludeObject::Object,
                ..default_options()
            },
        ));
        let names: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "cpu", "memory", "Window"]);
        assert_eq!(table["rows"][0]["cells"], json!(["a", "5m", "1Ki", "1µs"]));
        assert_eq!(table["rows"][1]["cells"], json!(["b", "5m", "1Ki", "1µs"]));
        assert_eq!(table["rows"][0]["object"]["usage"]["swap"], "2Ki");
    }

    #[test]
    fn a_first_pod_without_containers_keeps_the_upstream_quirk() {
        let empty = PodMetrics {
            api_version: ApiVersion::V1beta1,
            metadata: ObjectMeta {
                name: Cow::Borrowed("empty"),
                namespace: Some(Cow::Borrowed("ns")),
                ..ObjectMeta::default()
            },
            timestamp: None,
            window_nanos: 0,
            containers: vec![],
        };
        let full = PodMetrics {
            api_version: ApiVersion::V1beta1,
            metadata: ObjectMeta {
                name: Cow::Borrowed("full"),
                ..empty.metadata.clone()
            },
            containers: vec![
                ContainerMetrics {
                    name: Cow::Borrowed("a"),
                    usage: Usage {
                        cpu_nanocores: 1,
                        memory_bytes: 1024,
                        swap_bytes: None,
                    },
                },
                ContainerMetrics {
                    name: Cow::Borrowed("b"),
                    usage: Usage {
                        cpu_nanocores: 999_999,
                        memory_bytes: 1024,
                        swap_bytes: None,
                    },
                },
            ],
            ..empty.clone()
        };
        let table = render(&Table::<PodMetrics<'_>, _>::new(
            [&empty, &full],
            default_options(),
        ));
        assert_eq!(table["columnDefinitions"].as_array().unwrap().len(), 4);
        assert_eq!(table["rows"][0]["cells"], json!(["empty", "0s"]));
        assert_eq!(
            table["rows"][1]["cells"],
            json!(["full", "1m", "2Ki", "0s"])
        );

        let only_empty = render(&Table::<PodMetrics<'_>, _>::new(
            [&empty],
            default_options(),
        ));
        let names: Vec<&str> = only_empty["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Window"]);
    }

    #[test]
    fn include_object_parsing() {
        assert_eq!(IncludeObject::parse(None), Ok(IncludeObject::Metadata));
        assert_eq!(IncludeObject::parse(Some("")), Ok(IncludeObject::Metadata));
        assert_eq!(
            IncludeObject::parse(Some("Metadata")),
            Ok(IncludeObject::Metadata)
        );
        assert_eq!(
            IncludeObject::parse(Some("Object")),
            Ok(IncludeObject::Object)
        );
        assert_eq!(IncludeObject::parse(Some("None")), Ok(IncludeObject::None));
        assert_eq!(
            IncludeObject::parse(Some("object"))
                .unwrap_err()
                .to_string(),
            r#"unrecognized includeObject value: "object""#
        );
    }
}
