//! The `/metrics/resource` decoder built on the `prometheus-parse` crate, the design card's
//! original choice. It is slower (one owned `String` and a label `HashMap` per sample) and is
//! kept as the oracle the hand decoder is tested against: `prometheus-parse` splits each line
//! (its `LineInfo` regexes) and reads the value and labels (its `Scrape` parser, fed the line
//! as an owned string); only the rules in `assemble` are shared with the hand decoder.
//!
//! `prometheus-parse` does not unescape label values and splits labels naively on `,` and `=`;
//! harmless for kubelet output, whose label values are DNS names.

use std::borrow::Cow;

use metric_store::Timestamp;
use prometheus_parse::{LineInfo, Scrape, Value};

use super::KubeletMetrics;
use super::assemble::{Assembler, Series};
use super::family::Family;
use super::text::{
    ResourceDecodeError, ResourceErrorKind, numbered_lines, parse_timestamp, validate_utf8,
};

use ResourceErrorKind::Syntax;

/// Same contract as [`decode_resource`](super::decode_resource), through `prometheus-parse`.
pub fn decode_resource_with_prometheus_parse(
    body: &[u8],
    scrape_start: Timestamp,
) -> Result<KubeletMetrics, ResourceDecodeError> {
    let text = validate_utf8(body)?;
    let mut assembler = Assembler::new(scrape_start);
    for (line_number, line) in numbered_lines(text) {
        let fail = |kind| ResourceDecodeError::new(line_number, kind);
        let (metric_name, value_token, timestamp_token) = match LineInfo::parse(line) {
            LineInfo::Empty | LineInfo::Doc { .. } | LineInfo::Type { .. } => continue,
            LineInfo::Ignored if line.trim_start().starts_with('#') => continue,
            LineInfo::Ignored => {
                return Err(fail(Syntax("not a sample, a comment or a blank line")));
            }
            LineInfo::Sample {
                metric_name,
                value,
                timestamp,
                ..
            } => (metric_name, value, timestamp),
        };
        let sample = Scrape::parse(std::iter::once(Ok(line.to_owned())))
            .ok()
            .and_then(|scrape| scrape.samples.into_iter().next())
            .ok_or_else(|| fail(Syntax("invalid sample value")))?;
        let value = match sample.value {
            Value::Untyped(v) | Value::Counter(v) | Value::Gauge(v) => v,
            Value::Histogram(_) | Value::Summary(_) => {
                return Err(fail(Syntax("invalid sample value")));
            }
        };
        let timestamp_ms = timestamp_token
            .map(parse_timestamp)
            .transpose()
            .map_err(fail)?;
        // The library's regex stops after the timestamp and ignores whatever follows it.
        let last_token = timestamp_token.unwrap_or(value_token);
        if !line
            .get(end_of(line, last_token)..)
            .unwrap_or_default()
            .trim()
            .is_empty()
        {
            return Err(fail(Syntax("unexpected text after the timestamp")));
        }
        let Some(family) = Family::from_name(metric_name) else {
            continue;
        };
        let label = |name: &str| sample.labels.get(name).map(|v| Cow::Owned(v.to_owned()));
        assembler.add(
            line_number,
            Series {
                family,
                container: label("container"),
                namespace: label("namespace"),
                pod: label("pod"),
                value,
                raw_value: value_token,
                timestamp_ms,
            },
        )?;
    }
    Ok(assembler.finish())
}

/// Byte offset in `line` just past `token`, a subslice `LineInfo` returned from it.
fn end_of(line: &str, token: &str) -> usize {
    (token.as_ptr() as usize).saturating_sub(line.as_ptr() as usize) + token.len()
}
