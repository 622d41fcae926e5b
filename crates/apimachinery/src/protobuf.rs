//! Kubernetes protobuf (`application/vnd.kubernetes.protobuf`): the envelope every object is
//! sent in, the `meta.k8s.io/v1` messages any API group needs, and the watch frame.
//!
//! Facts from k8s.io/apimachinery (`pkg/runtime/serializer/protobuf`, `pkg/runtime/generated.proto`,
//! `pkg/apis/meta/v1/generated.proto`, `pkg/api/resource/generated.proto`); the messages are
//! written here with prost's derive, field numbers as upstream declares them. The Go messages
//! are proto2 with non-nullable fields, so Go decodes an absent field as its zero value: prost
//! may leave out empty strings and zero numbers, and the Go client reads the same object.
//!
//! - An object or list on the wire is the 4 bytes `k8s\0`, then a `runtime.Unknown` whose
//!   `typeMeta` names `apiVersion` and `kind` and whose `raw` is the object's own message
//!   ([`envelope`]).
//! - A watch stream is a sequence of frames: a 4-byte big-endian length, then a
//!   `metav1.WatchEvent` encoded *without* the envelope, whose `object.raw` holds the object
//!   *with* the envelope ([`watch_frame`]).

use std::collections::BTreeMap;

use prost::Message;

use crate::status::Status;

/// The media type of Kubernetes protobuf.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The media type of a protobuf watch stream.
pub const WATCH_CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf;stream=watch";

/// The prefix of every enveloped object (`k8s` and a zero byte).
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// `runtime.TypeMeta`.
#[derive(Clone, PartialEq, Message)]
pub struct TypeMeta {
    /// `apiVersion`.
    #[prost(string, tag = "1")]
    pub api_version: String,
    /// `kind`.
    #[prost(string, tag = "2")]
    pub kind: String,
}

/// `runtime.Unknown`: what follows the magic bytes.
#[derive(Clone, PartialEq, Message)]
pub struct Unknown {
    /// Which type `raw` holds.
    #[prost(message, optional, tag = "1")]
    pub type_meta: Option<TypeMeta>,
    /// The object's own message.
    #[prost(bytes = "vec", tag = "2")]
    pub raw: Vec<u8>,
    /// Always empty here (no compression).
    #[prost(string, tag = "3")]
    pub content_encoding: String,
    /// Always empty here (the outer content type applies).
    #[prost(string, tag = "4")]
    pub content_type: String,
}

/// `metav1.Time`: seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Time {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second, 0..1e9.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Time {
    /// From Unix nanoseconds (negative values round towards the past, as Go's `time.Unix`).
    pub fn from_unix_nanos(nanos: i64) -> Time {
        Time {
            seconds: nanos.div_euclid(1_000_000_000),
            // The remainder is in 0..1e9 and fits an i32.
            nanos: nanos.rem_euclid(1_000_000_000) as i32,
        }
    }

    /// Back to Unix nanoseconds (saturating).
    pub fn as_unix_nanos(&self) -> i64 {
        self.seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(self.nanos))
    }
}

/// `metav1.Duration`: nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Duration {
    /// The length in nanoseconds.
    #[prost(int64, tag = "1")]
    pub duration: i64,
}

/// `resource.Quantity`: its canonical text.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Quantity {
    /// The text, as JSON writes it (`412434431n`, `3250456Ki`).
    #[prost(string, tag = "1")]
    pub string: String,
}

/// The part of `metav1.ObjectMeta` a read-only API fills in.
#[derive(Clone, PartialEq, Message)]
pub struct ObjectMeta {
    /// `name`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `namespace`.
    #[prost(string, tag = "3")]
    pub namespace: String,
    /// `resourceVersion`.
    #[prost(string, tag = "6")]
    pub resource_version: String,
    /// `creationTimestamp`.
    #[prost(message, optional, tag = "8")]
    pub creation_timestamp: Option<Time>,
    /// `labels`, written in key order as Go writes maps.
    #[prost(btree_map = "string, string", tag = "11")]
    pub labels: BTreeMap<String, String>,
}

/// `metav1.ListMeta`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct ListMeta {
    /// `selfLink` (never set).
    #[prost(string, tag = "1")]
    pub self_link: String,
    /// `resourceVersion`.
    #[prost(string, tag = "2")]
    pub resource_version: String,
    /// `continue`.
    #[prost(string, tag = "3")]
    pub continue_: String,
}

/// `metav1.StatusCause`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct StatusCause {
    /// `reason` (JSON `reason`).
    #[prost(string, tag = "1")]
    pub reason: String,
    /// `message`.
    #[prost(string, tag = "2")]
    pub message: String,
    /// `field`.
    #[prost(string, tag = "3")]
    pub field: String,
}

/// `metav1.StatusDetails`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct StatusDetails {
    /// `name`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `group`.
    #[prost(string, tag = "2")]
    pub group: String,
    /// `kind`.
    #[prost(string, tag = "3")]
    pub kind: String,
    /// `causes`.
    #[prost(message, repeated, tag = "4")]
    pub causes: Vec<StatusCause>,
    /// `retryAfterSeconds`.
    #[prost(int32, tag = "5")]
    pub retry_after_seconds: i32,
    /// `uid`.
    #[prost(string, tag = "6")]
    pub uid: String,
}

/// `metav1.Status`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct StatusMessage {
    /// `metadata`.
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ListMeta>,
    /// `status`: `Success` or `Failure`.
    #[prost(string, tag = "2")]
    pub status: String,
    /// `message`.
    #[prost(string, tag = "3")]
    pub message: String,
    /// `reason`.
    #[prost(string, tag = "4")]
    pub reason: String,
    /// `details`.
    #[prost(message, optional, tag = "5")]
    pub details: Option<StatusDetails>,
    /// `code`.
    #[prost(int32, tag = "6")]
    pub code: i32,
}

/// `runtime.RawExtension`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct RawExtension {
    /// An enveloped object.
    #[prost(bytes = "vec", tag = "1")]
    pub raw: Vec<u8>,
}

/// `metav1.WatchEvent`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct WatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    #[prost(string, tag = "1")]
    pub r#type: String,
    /// The object, enveloped.
    #[prost(message, optional, tag = "2")]
    pub object: Option<RawExtension>,
}

/// Wraps an object's message bytes: magic, then `runtime.Unknown{typeMeta, raw}`.
pub fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        }),
        raw,
        content_encoding: String::new(),
        content_type: String::new(),
    };
    let mut out = Vec::with_capacity(MAGIC.len() + unknown.encoded_len());
    out.extend_from_slice(&MAGIC);
    // A Vec grows as needed: encoding into it cannot run out of room.
    let _ = unknown.encode(&mut out);
    out
}

/// Why bytes are not an enveloped object.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The magic bytes are missing.
    #[error("not Kubernetes protobuf: the body does not start with k8s\\0")]
    NoMagic,
    /// The `runtime.Unknown` does not decode.
    #[error("invalid runtime.Unknown: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// Reads an enveloped object: its `apiVersion`, `kind` and message bytes.
pub fn open_envelope(bytes: &[u8]) -> Result<(TypeMeta, Vec<u8>), EnvelopeError> {
    let body = bytes.strip_prefix(&MAGIC).ok_or(EnvelopeError::NoMagic)?;
    let unknown = Unknown::decode(body)?;
    Ok((unknown.type_meta.unwrap_or_default(), unknown.raw))
}

/// One frame of a protobuf watch stream: the length, then the event with its enveloped object.
pub fn watch_frame(event_type: &str, enveloped_object: Vec<u8>) -> Vec<u8> {
    let event = WatchEvent {
        r#type: event_type.to_owned(),
        object: Some(RawExtension {
            raw: enveloped_object,
        }),
    };
    let length = event.encoded_len();
    let mut out = Vec::with_capacity(4 + length);
    // An event beyond 4 GiB cannot be framed; such a frame would be cut by any reader anyway.
    out.extend_from_slice(&u32::try_from(length).unwrap_or(u32::MAX).to_be_bytes());
    let _ = event.encode(&mut out);
    out
}

impl Status {
    /// The `Status` as an enveloped protobuf object (`v1`, `Status`).
    pub fn to_protobuf(&self) -> Vec<u8> {
        let message = StatusMessage {
            metadata: Some(ListMeta::default()),
            status: "Failure".to_owned(),
            message: self.message.clone(),
            reason: self.reason.to_owned(),
            details: self.details.as_ref().map(|details| StatusDetails {
                name: details.name.clone().unwrap_or_default(),
                group: details.group.clone().unwrap_or_default(),
                kind: details.kind.clone().unwrap_or_default(),
                // As in JSON: Go repeats an internal error's text as its one cause.
                causes: self
                    .internal_cause()
                    .map(|message| StatusCause {
                        reason: String::new(),
                        message: message.to_owned(),
                        field: String::new(),
                    })
                    .into_iter()
                    .collect(),
                retry_after_seconds: 0,
                uid: String::new(),
            }),
            code: i32::from(self.code),
        };
        envelope("v1", "Status", message.encode_to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_is_magic_then_unknown() {
        let bytes = envelope("metrics.k8s.io/v1beta1", "NodeMetrics", vec![0x0a, 0x00]);
        assert_eq!(&bytes[..4], b"k8s\0");
        // Unknown{typeMeta(1): {apiVersion(1), kind(2)}, raw(2)}, empty strings left out.
        let mut expected = b"k8s\0".to_vec();
        let type_meta = [
            &[0x0a, 22][..],
            b"metrics.k8s.io/v1beta1",
            &[0x12, 11],
            b"NodeMetrics",
        ]
        .concat();
        expected.extend_from_slice(&[0x0a, type_meta.len() as u8]);
        expected.extend_from_slice(&type_meta);
        expected.extend_from_slice(&[0x12, 2, 0x0a, 0x00]);
        assert_eq!(bytes, expected);
        let (meta, raw) = open_envelope(&bytes).unwrap();
        assert_eq!(meta.api_version, "metrics.k8s.io/v1beta1");
        assert_eq!(meta.kind, "NodeMetrics");
        assert_eq!(raw, [0x0a, 0x00]);
        assert_eq!(open_envelope(b"{}"), Err(EnvelopeError::NoMagic));
    }

    #[test]
    fn time_splits_nanoseconds_like_go() {
        let t = Time::from_unix_nanos(1_749_556_818_123_456_789);
        assert_eq!((t.seconds, t.nanos), (1_749_556_818, 123_456_789));
        assert_eq!(t.as_unix_nanos(), 1_749_556_818_123_456_789);
        let before_epoch = Time::from_unix_nanos(-1);
        assert_eq!(
            (before_epoch.seconds, before_epoch.nanos),
            (-1, 999_999_999)
        );
    }

    #[test]
    fn watch_frames_are_length_prefixed_events_around_enveloped_objects() {
        let object = envelope("v1", "Status", vec![]);
        let frame = watch_frame("ADDED", object.clone());
        let length = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(length, frame.len() - 4);
        let event = WatchEvent::decode(&frame[4..]).unwrap();
        assert_eq!(event.r#type, "ADDED");
        assert_eq!(event.object.unwrap().raw, object);
    }

    #[test]
    fn status_round_trips() {
        let status = Status::not_found("metrics.k8s.io", "nodemetrics", "worker-9");
        let bytes = status.to_protobuf();
        let (meta, raw) = open_envelope(&bytes).unwrap();
        assert_eq!(
            (meta.api_version.as_str(), meta.kind.as_str()),
            ("v1", "Status")
        );
        let decoded = StatusMessage::decode(raw.as_slice()).unwrap();
        assert_eq!(decoded.code, 404);
        assert_eq!(decoded.reason, "NotFound");
        assert_eq!(decoded.status, "Failure");
        assert_eq!(decoded.message, status.message);
        let details = decoded.details.unwrap();
        assert_eq!(
            (
                details.name.as_str(),
                details.group.as_str(),
                details.kind.as_str()
            ),
            ("worker-9", "metrics.k8s.io", "nodemetrics")
        );
    }
}
