//! The hot-path `/metrics/resource` decoder: a byte-level tokenizer over the borrowed body. It
//! allocates nothing per line; only new pods and containers cost an allocation (their names
//! end up in the result anyway), and label values are copied only when they contain escapes.

use std::borrow::Cow;

use metric_store::Timestamp;

use super::KubeletMetrics;
use super::assemble::{Assembler, Series};
use super::family::Family;
use super::text::{
    ResourceDecodeError, ResourceErrorKind, numbered_lines, parse_timestamp, parse_value,
    validate_utf8,
};
use ResourceErrorKind::Syntax;

/// Decodes a kubelet `/metrics/resource` body (Prometheus text 0.0.4). Samples without a
/// timestamp get `scrape_start`, the instant the request was sent. An empty body gives an
/// empty result. Never panics, whatever the bytes.
pub fn decode_resource(
    body: &[u8],
    scrape_start: Timestamp,
) -> Result<KubeletMetrics, ResourceDecodeError> {
    let text = validate_utf8(body)?;
    let mut assembler = Assembler::new(scrape_start);
    for (line_number, line) in numbered_lines(text) {
        match tokenize(line) {
            Ok(Some(series)) => assembler.add(line_number, series)?,
            Ok(None) => {}
            Err(kind) => return Err(ResourceDecodeError::new(line_number, kind)),
        }
    }
    Ok(assembler.finish())
}

/// The labels the decoders read; other labels are checked for syntax and skipped.
#[derive(Default)]
struct ContainerLabels<'a> {
    container: Option<Cow<'a, str>>,
    namespace: Option<Cow<'a, str>>,
    pod: Option<Cow<'a, str>>,
}

/// Splits one line. `Ok(None)` for blank lines, comments (`# HELP`/`# TYPE` included) and
/// well-formed samples of families nobody reads.
fn tokenize(line: &str) -> Result<Option<Series<'_>>, ResourceErrorKind> {
    let bytes = line.as_bytes();
    let len = bytes.len();
    let mut pos = skip_blanks(bytes, 0);
    match bytes.get(pos) {
        None | Some(b'#') => return Ok(None),
        Some(&first) if !is_metric_name_start(first) => return Err(Syntax("invalid metric name")),
        Some(_) => {}
    }
    let name_start = pos;
    pos = scan(bytes, pos, is_metric_name_char);
    let name = slice(line, name_start, pos)?;

    let mut labels = ContainerLabels::default();
    if bytes.get(pos) == Some(&b'{') {
        pos = parse_labels(line, pos + 1, &mut labels)?;
    }

    let value_start = skip_blanks(bytes, pos);
    if value_start == len {
        return Err(Syntax("missing sample value"));
    }
    if value_start == pos {
        return Err(Syntax(
            "unexpected character after the metric name or labels",
        ));
    }
    pos = scan(bytes, value_start, |b| !is_blank(b));
    let raw_value = slice(line, value_start, pos)?;
    let value = parse_value(raw_value)?;

    let timestamp_start = skip_blanks(bytes, pos);
    let timestamp_ms = if timestamp_start < len {
        pos = scan(bytes, timestamp_start, |b| !is_blank(b));
        let timestamp = parse_timestamp(slice(line, timestamp_start, pos)?)?;
        if skip_blanks(bytes, pos) < len {
            return Err(Syntax("unexpected text after the timestamp"));
        }
        Some(timestamp)
    } else {
        None
    };

    Ok(Family::from_name(name).map(|family| Series {
        family,
        container: labels.container,
        namespace: labels.namespace,
        pod: labels.pod,
        value,
        raw_value,
        timestamp_ms,
    }))
}

/// Parses `name="value", …}` starting just after the `{`; returns the position after the `}`.
fn parse_labels<'a>(
    line: &'a str,
    mut pos: usize,
    labels: &mut ContainerLabels<'a>,
) -> Result<usize, ResourceErrorKind> {
    let bytes = line.as_bytes();
    loop {
        pos = skip_blanks(bytes, pos);
        match bytes.get(pos) {
            None => return Err(Syntax("unterminated label set")),
            Some(b'}') => return Ok(pos + 1),
            Some(&b) if !is_label_name_start(b) => return Err(Syntax("invalid label name")),
            Some(_) => {}
        }
        let name_start = pos;
        pos = scan(bytes, pos, is_label_name_char);
        let name = slice(line, name_start, pos)?;

        pos = skip_blanks(bytes, pos);
        if bytes.get(pos) != Some(&b'=') {
            return Err(Syntax("expected '=' after a label name"));
        }
        pos = skip_blanks(bytes, pos + 1);
        if bytes.get(pos) != Some(&b'"') {
            return Err(Syntax("label value must be quoted"));
        }
        pos += 1;
        let value_start = pos;
        let mut escaped = false;
        loop {
            match bytes.get(pos) {
                None => return Err(Syntax("unterminated label value")),
                Some(b'"') => break,
                Some(b'\\') => match bytes.get(pos + 1) {
                    Some(b'\\' | b'"' | b'n') => {
                        escaped = true;
                        pos += 2;
                    }
                    _ => return Err(Syntax("invalid escape in a label value")),
                },
                Some(_) => pos += 1,
            }
        }
        let raw = slice(line, value_start, pos)?;
        pos += 1;

        let slot = match name {
            "container" => Some(&mut labels.container),
            "namespace" => Some(&mut labels.namespace),
            "pod" => Some(&mut labels.pod),
            _ => None,
        };
        if let Some(slot) = slot {
            if slot.is_some() {
                return Err(Syntax("duplicate label"));
            }
            *slot = Some(if escaped {
                Cow::Owned(unescape(raw))
            } else {
                Cow::Borrowed(raw)
            });
        }

        pos = skip_blanks(bytes, pos);
        match bytes.get(pos) {
            Some(b',') => pos += 1,
            Some(b'}') => return Ok(pos + 1),
            _ => return Err(Syntax("expected ',' or '}' after a label value")),
        }
    }
}

/// Undoes the text format's three label escapes (`\\`, `\"`, `\n`); the tokenizer has already
/// rejected any other escape.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Every position handed here sits right after an ASCII byte or at the line's ends, so it is a
/// character boundary; `get` keeps that an error rather than a panic should it ever not be.
fn slice(line: &str, start: usize, end: usize) -> Result<&str, ResourceErrorKind> {
    line.get(start..end)
        .ok_or(Syntax("token does not fall on character boundaries"))
}

fn scan(bytes: &[u8], mut pos: usize, keep: impl Fn(u8) -> bool) -> usize {
    while pos < bytes.len() && keep(bytes[pos]) {
        pos += 1;
    }
    pos
}

fn skip_blanks(bytes: &[u8], pos: usize) -> usize {
    scan(bytes, pos, is_blank)
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_metric_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_metric_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

fn is_label_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_label_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(line: &str) -> Series<'_> {
        tokenize(line).unwrap().unwrap()
    }

    #[test]
    fn splits_labels_value_and_timestamp() {
        let s = series(
            r#"container_cpu_usage_seconds_total{container="c",namespace="ns",pod="p"} 1.5e+09 1749556810614"#,
        );
        assert_eq!(s.family, Family::ContainerCpu);
        assert_eq!(s.container.as_deref(), Some("c"));
        assert_eq!(s.namespace.as_deref(), Some("ns"));
        assert_eq!(s.pod.as_deref(), Some("p"));
        assert_eq!(s.value, 1.5e9);
        assert_eq!(s.timestamp_ms, Some(1_749_556_810_614));
    }

    #[test]
    fn tolerates_blanks_tabs_and_trailing_comma() {
        let s = series("\t node_memory_working_set_bytes{ a = \"x\" , } \t 12 \t");
        assert_eq!(s.value, 12.0);
        assert_eq!(s.timestamp_ms, None);
    }

    #[test]
    fn unescapes_label_values_and_rejects_unknown_escapes() {
        let s = series(
            r#"container_start_time_seconds{container="a\"b\\c\nd",namespace="n",pod="p"} 1"#,
        );
        assert_eq!(s.container.as_deref(), Some("a\"b\\c\nd"));
        assert!(tokenize(r#"x{a="\q"} 1"#).is_err());
    }

    #[test]
    fn comments_blank_lines_and_unknown_families_give_nothing() {
        assert!(tokenize("").unwrap().is_none());
        assert!(tokenize("   ").unwrap().is_none());
        assert!(tokenize("# HELP x y").unwrap().is_none());
        assert!(tokenize("#anything at all").unwrap().is_none());
        assert!(
            tokenize("pod_cpu_usage_seconds_total{namespace=\"a\",pod=\"b\"} 1 2")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn malformed_lines_are_syntax_errors() {
        for line in [
            "1abc 1",
            "foo",
            "foo{",
            "foo{a=\"b\"",
            "foo{a=b} 1",
            "foo{a=\"b\"}1",
            "foo{a=\"b\" c=\"d\"} 1",
            "foo bar",
            "foo 1 2 3",
            "foo 1 2.5",
            "foo{container=\"a\",container=\"b\"} 1",
            "foo{=\"a\"} 1",
        ] {
            assert!(
                matches!(tokenize(line), Err(Syntax(_))),
                "{line:?} should be rejected"
            );
        }
    }
}
