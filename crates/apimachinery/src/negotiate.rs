//! `Accept` header negotiation the way the Go apiserver does it.
//!
//! The header is split into media ranges, ordered by preference (q-value,
//! then specificity, then number of parameters, as goautoneg sorts them), and
//! the first range this server can honour wins. Media-type parameters select
//! a conversion: `as=Table;g=meta.k8s.io;v=v1` for server-side tables and
//! `as=APIGroupDiscoveryList;g=apidiscovery.k8s.io;v=v2` for aggregated
//! discovery. Parameter names and values are compared exactly, as Go does;
//! type and subtype case-insensitively.
//!
//! Objects and errors are written as JSON or as Kubernetes protobuf
//! (`application/vnd.kubernetes.protobuf`, when the client prefers it: the HPA
//! controller and `kubectl top` do); `*/*` and no header mean JSON, as in Go.
//! Tables and discovery documents are JSON only. A request that accepts none of
//! these gets a 406 ([`Status::not_acceptable`](crate::Status::not_acceptable) with
//! [`SUPPORTED_MEDIA_TYPES`]).

use crate::protobuf;

/// The media types this server can produce, for the 406 message.
pub const SUPPORTED_MEDIA_TYPES: &[&str] = &["application/json", protobuf::CONTENT_TYPE];

/// One media range of an `Accept` header.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRange<'a> {
    /// Type, e.g. `application` or `*`.
    pub type_: &'a str,
    /// Subtype, e.g. `json` or `*`.
    pub subtype: &'a str,
    /// Parameters other than `q`, in header order.
    pub params: Vec<(&'a str, &'a str)>,
    /// Quality, 1.0 when absent.
    pub q: f32,
}

impl MediaRange<'_> {
    /// The value of parameter `name`, if present (last one wins, like Go's map).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
    }

    /// Whether this range admits `application/json`.
    pub fn admits_json(&self) -> bool {
        let type_ok = self.type_ == "*" || self.type_.eq_ignore_ascii_case("application");
        let subtype_ok = self.subtype == "*" || self.subtype.eq_ignore_ascii_case("json");
        (self.type_ != "*" || self.subtype == "*") && type_ok && subtype_ok
    }

    /// Whether this range names Kubernetes protobuf itself (a wildcard means JSON, as in Go).
    pub fn is_protobuf(&self) -> bool {
        self.type_.eq_ignore_ascii_case("application")
            && self.subtype.eq_ignore_ascii_case("vnd.kubernetes.protobuf")
    }

    /// `(as, g, v)` when the range asks for a conversion.
    fn conversion(&self) -> Option<(&str, &str, &str)> {
        let kind = self.param("as");
        let group = self.param("g");
        let version = self.param("v");
        if kind.is_none() && group.is_none() && version.is_none() {
            return None;
        }
        Some((
            kind.unwrap_or(""),
            group.unwrap_or(""),
            version.unwrap_or(""),
        ))
    }

    fn pretty(&self) -> bool {
        self.param("pretty") == Some("1")
    }
}

/// Splits an `Accept` header into media ranges, most preferred first.
///
/// Ranges with `q=0` (explicitly unacceptable) and malformed ranges are dropped.
pub fn parse_accept(header: &str) -> Vec<MediaRange<'_>> {
    let mut ranges: Vec<MediaRange<'_>> = header
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.trim().split(';');
            let media = pieces.next()?.trim();
            let (type_, subtype) = match media.split_once('/') {
                Some((t, s)) if !s.contains('/') => (t.trim(), s.trim()),
                None if media == "*" => ("*", "*"),
                _ => return None,
            };
            if type_.is_empty() || subtype.is_empty() {
                return None;
            }
            let mut range = MediaRange {
                type_,
                subtype,
                params: Vec::new(),
                q: 1.0,
            };
            for param in pieces {
                let Some((key, value)) = param.split_once('=') else {
                    continue;
                };
                let (key, value) = (key.trim(), value.trim());
                if key == "q" {
                    // An unreadable q-value counts as 0, as in goautoneg.
                    range.q = value.parse::<f32>().unwrap_or(0.0);
                } else {
                    range.params.push((key, value.trim_matches('"')));
                }
            }
            (range.q > 0.0).then_some(range)
        })
        .collect();
    // Stable, so equally preferred ranges keep the client's order.
    ranges.sort_by(|a, b| {
        b.q.total_cmp(&a.q)
            .then_with(|| (a.type_ == "*").cmp(&(b.type_ == "*")))
            .then_with(|| (a.subtype == "*").cmp(&(b.subtype == "*")))
            .then_with(|| b.params.len().cmp(&a.params.len()))
    });
    ranges
}

/// Which version of `meta.k8s.io` Table the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableVersion {
    /// `meta.k8s.io/v1`.
    V1,
    /// `meta.k8s.io/v1beta1`.
    V1Beta1,
}

impl TableVersion {
    /// The `apiVersion` of the Table (and of its `PartialObjectMetadata` rows).
    pub fn api_version(self) -> &'static str {
        match self {
            TableVersion::V1 => "meta.k8s.io/v1",
            TableVersion::V1Beta1 => "meta.k8s.io/v1beta1",
        }
    }
}

/// How to answer a `GET` of metrics objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectOutput {
    /// The object or list itself.
    Json,
    /// The object or list itself, as Kubernetes protobuf.
    Protobuf,
    /// A server-side Table.
    Table(TableVersion),
}

/// How to answer `GET /apis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscoveryOutput {
    /// The legacy `APIGroupList`.
    Legacy,
    /// The aggregated `APIGroupDiscoveryList` (apidiscovery.k8s.io/v2).
    Aggregated,
}

/// The outcome of negotiation: what to write, and whether the client asked for indentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Negotiated<T> {
    /// What to write.
    pub output: T,
    /// `pretty=1` was a parameter of the chosen media range.
    pub pretty: bool,
}

/// Negotiates the answer to a metrics `GET`; `None` means 406 Not Acceptable.
///
/// No header (or an empty one) means JSON, as in Go.
pub fn negotiate_object_output(accept: Option<&str>) -> Option<Negotiated<ObjectOutput>> {
    negotiate(
        accept,
        ObjectOutput::Json,
        Some(ObjectOutput::Protobuf),
        |kind, group, version| match (kind, group, version) {
            ("Table", "meta.k8s.io", "v1") => Some(ObjectOutput::Table(TableVersion::V1)),
            ("Table", "meta.k8s.io", "v1beta1") => Some(ObjectOutput::Table(TableVersion::V1Beta1)),
            _ => None,
        },
    )
}

/// Negotiates the answer to `GET /apis`; `None` means 406 Not Acceptable.
///
/// Only v2 of aggregated discovery is served; a client that also lists plain
/// JSON (every aggregator and client-go does) falls back to the legacy document.
pub fn negotiate_discovery_output(accept: Option<&str>) -> Option<Negotiated<DiscoveryOutput>> {
    negotiate(
        accept,
        DiscoveryOutput::Legacy,
        None,
        |kind, group, version| match (kind, group, version) {
            ("APIGroupDiscoveryList", "apidiscovery.k8s.io", "v2") => {
                Some(DiscoveryOutput::Aggregated)
            }
            _ => None,
        },
    )
}

/// The encoding of an error `Status`: what the client prefers of JSON and protobuf, JSON when
/// it accepts neither (a 406 must still say why).
pub fn negotiate_status_encoding(accept: Option<&str>) -> ObjectOutput {
    negotiate(
        accept,
        ObjectOutput::Json,
        Some(ObjectOutput::Protobuf),
        |_, _, _| None,
    )
    .map_or(ObjectOutput::Json, |negotiated| negotiated.output)
}

/// The first range (by preference) this server can honour: JSON as `plain` or converted,
/// or protobuf as `protobuf` where the answer has a protobuf form.
fn negotiate<T: Copy>(
    accept: Option<&str>,
    plain: T,
    protobuf: Option<T>,
    conversion: impl Fn(&str, &str, &str) -> Option<T>,
) -> Option<Negotiated<T>> {
    let header = accept.map(str::trim).unwrap_or("");
    if header.is_empty() {
        return Some(Negotiated {
            output: plain,
            pretty: false,
        });
    }
    parse_accept(header).into_iter().find_map(|range| {
        if range.is_protobuf() {
            // Only the plain object: a protobuf Table is not served.
            return match (protobuf, range.conversion()) {
                (Some(output), None) => Some(Negotiated {
                    output,
                    pretty: false,
                }),
                _ => None,
            };
        }
        if !range.admits_json() {
            return None;
        }
        let output = match range.conversion() {
            None => plain,
            Some((kind, group, version)) => conversion(kind, group, version)?,
        };
        Some(Negotiated {
            output,
            pretty: range.pretty(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KUBECTL_GET: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

    fn object(accept: Option<&str>) -> Option<ObjectOutput> {
        negotiate_object_output(accept).map(|n| n.output)
    }

    #[test]
    fn detects_kubectl_table_requests() {
        assert_eq!(
            object(Some(KUBECTL_GET)),
            Some(ObjectOutput::Table(TableVersion::V1))
        );
        assert_eq!(
            object(Some("application/json;g=meta.k8s.io;v=v1beta1;as=Table")),
            Some(ObjectOutput::Table(TableVersion::V1Beta1))
        );
        // Preference by q-value, whatever the order in the header.
        assert_eq!(
            object(Some(
                "application/json;q=0.5, application/json;as=Table;v=v1;g=meta.k8s.io;q=0.9"
            )),
            Some(ObjectOutput::Table(TableVersion::V1))
        );
        assert_eq!(
            object(Some(
                "application/json;as=Table;v=v1;g=meta.k8s.io;q=0.1, application/json"
            )),
            Some(ObjectOutput::Json)
        );
        assert_eq!(
            object(Some(" application/json ; as=Table ; g=meta.k8s.io ; v=v1 ")),
            Some(ObjectOutput::Table(TableVersion::V1))
        );
    }

    #[test]
    fn plain_and_wildcard_requests_get_json() {
        assert_eq!(object(None), Some(ObjectOutput::Json));
        assert_eq!(object(Some("")), Some(ObjectOutput::Json));
        assert_eq!(object(Some("*/*")), Some(ObjectOutput::Json));
        assert_eq!(object(Some("*")), Some(ObjectOutput::Json));
        assert_eq!(object(Some("application/*")), Some(ObjectOutput::Json));
        assert_eq!(
            object(Some("Application/JSON; charset=utf-8")),
            Some(ObjectOutput::Json)
        );
    }

    #[test]
    fn protobuf_when_the_client_prefers_it() {
        // client-go with ContentType protobuf (the HPA controller, kubectl top).
        assert_eq!(
            object(Some("application/vnd.kubernetes.protobuf, */*")),
            Some(ObjectOutput::Protobuf)
        );
        assert_eq!(
            object(Some("application/vnd.kubernetes.protobuf,application/json")),
            Some(ObjectOutput::Protobuf)
        );
        // A protobuf-only client.
        assert_eq!(
            object(Some("application/vnd.kubernetes.protobuf")),
            Some(ObjectOutput::Protobuf)
        );
        assert_eq!(
            object(Some(
                "application/json, application/vnd.kubernetes.protobuf"
            )),
            Some(ObjectOutput::Json)
        );
        assert_eq!(
            object(Some(
                "application/vnd.kubernetes.protobuf;q=0.5, application/json"
            )),
            Some(ObjectOutput::Json)
        );
        // No protobuf Table: the JSON Table that follows is served instead.
        assert_eq!(
            object(Some(
                "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/json;as=Table;v=v1;g=meta.k8s.io"
            )),
            Some(ObjectOutput::Table(TableVersion::V1))
        );
        assert_eq!(
            object(Some(
                "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io"
            )),
            None
        );
        // Errors follow the same preference; JSON when nothing fits.
        assert_eq!(
            negotiate_status_encoding(Some("application/vnd.kubernetes.protobuf")),
            ObjectOutput::Protobuf
        );
        assert_eq!(
            negotiate_status_encoding(Some("text/plain")),
            ObjectOutput::Json
        );
        assert_eq!(negotiate_status_encoding(None), ObjectOutput::Json);
        // Discovery has no protobuf form here.
        assert_eq!(
            negotiate_discovery_output(Some(
                "application/vnd.kubernetes.protobuf, application/json"
            ))
            .map(|n| n.output),
            Some(DiscoveryOutput::Legacy)
        );
    }

    #[test]
    fn unsupported_requests_are_not_acceptable() {
        assert_eq!(object(Some("text/plain")), None);
        assert_eq!(object(Some("application/yaml")), None);
        assert_eq!(object(Some("application/json;q=0")), None);
        // A conversion we cannot do is skipped, not downgraded.
        assert_eq!(
            object(Some("application/json;as=Table;g=meta.k8s.io;v=v2")),
            None
        );
        assert_eq!(object(Some("application/json;as=Table")), None);
        assert_eq!(object(Some("*/json")), None);
    }

    #[test]
    fn pretty_parameter_is_reported() {
        let negotiated = negotiate_object_output(Some("application/json;pretty=1")).unwrap();
        assert!(negotiated.pretty);
        assert!(
            !negotiate_object_output(Some("application/json"))
                .unwrap()
                .pretty
        );
    }

    #[test]
    fn detects_aggregated_discovery() {
        let aggregator = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        let discovery = |accept| negotiate_discovery_output(accept).map(|n| n.output);
        assert_eq!(
            discovery(Some(aggregator)),
            Some(DiscoveryOutput::Aggregated)
        );
        assert_eq!(
            discovery(Some(
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
            )),
            Some(DiscoveryOutput::Legacy)
        );
        assert_eq!(
            discovery(Some("application/json")),
            Some(DiscoveryOutput::Legacy)
        );
        assert_eq!(discovery(None), Some(DiscoveryOutput::Legacy));
        assert_eq!(
            discovery(Some(
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            )),
            None
        );
    }

    #[test]
    fn parse_accept_orders_by_preference() {
        let ranges = parse_accept("*/*;q=0.8, text/*, text/html;level=1, application/json;q=0.9");
        let order: Vec<String> = ranges
            .iter()
            .map(|r| format!("{}/{}", r.type_, r.subtype))
            .collect();
        assert_eq!(order, ["text/html", "text/*", "application/json", "*/*"]);
        assert_eq!(ranges[0].param("level"), Some("1"));
    }

    proptest! {
        #[test]
        fn never_panics(header in "\\PC{0,80}") {
            let _ = negotiate_object_output(Some(&header));
            let _ = negotiate_discovery_output(Some(&header));
        }
    }
}
