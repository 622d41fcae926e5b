//! JSON output byte-compatible with Go's `encoding/json`.
//!
//! The apiserver encodes with `json.NewEncoder`, which escapes `<`, `>`, `&`,
//! U+2028 and U+2029 inside strings (`\u003c`, ...) so the output is safe to
//! embed in HTML. `serde_json` writes them raw. Both forms decode to the same
//! value, but byte-exact answers make diffs against the Go server trivial, so
//! every document this crate renders goes through [`GoFormatter`].
//!
//! The rest of Go's string escaping (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`,
//! `\u00XX` for other control characters) already matches `serde_json`.

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

/// A compact [`Formatter`] that escapes strings the way Go's `encoding/json` does.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        write_go_string_fragment(writer, fragment)
    }
}

/// Go's `json.MarshalIndent(v, "", "  ")`: two-space indentation plus Go's string escaping.
#[derive(Debug, Clone)]
pub struct GoPrettyFormatter {
    pretty: PrettyFormatter<'static>,
}

impl Default for GoPrettyFormatter {
    fn default() -> Self {
        GoPrettyFormatter {
            pretty: PrettyFormatter::with_indent(b"  "),
        }
    }
}

impl Formatter for GoPrettyFormatter {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        write_go_string_fragment(writer, fragment)
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.begin_array(writer)
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.pretty.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.begin_object(writer)
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.pretty.begin_object_key(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_object_value(writer)
    }
}

/// Writes a run of string characters, escaping the ones Go's encoder escapes and `serde_json` does not.
fn write_go_string_fragment<W: ?Sized + io::Write>(
    writer: &mut W,
    fragment: &str,
) -> io::Result<()> {
    // Every character to escape starts with `<`, `>`, `&` or 0xE2 (U+2028 and
    // U+2029 are E2 80 A8 / E2 80 A9), so candidates are found without
    // decoding UTF-8; most strings have none and are written at once.
    let bytes = fragment.as_bytes();
    let mut clean_start = 0;
    let mut index = 0;
    while let Some(offset) = find_escape_candidate(&bytes[index..]) {
        index += offset;
        let (escape, width) = match (bytes[index], bytes.get(index + 1), bytes.get(index + 2)) {
            (b'<', ..) => ("\\u003c", 1),
            (b'>', ..) => ("\\u003e", 1),
            (b'&', ..) => ("\\u0026", 1),
            (_, Some(0x80), Some(0xA8)) => ("\\u2028", 3),
            (_, Some(0x80), Some(0xA9)) => ("\\u2029", 3),
            _ => {
                index += 1;
                continue;
            }
        };
        writer.write_all(&bytes[clean_start..index])?;
        writer.write_all(escape.as_bytes())?;
        index += width;
        clean_start = index;
    }
    writer.write_all(&bytes[clean_start..])
}

fn is_escape_candidate(byte: u8) -> bool {
    matches!(byte, b'<' | b'>' | b'&' | 0xE2)
}

/// Position of the first byte that may need Go escaping, eight bytes at a time.
fn find_escape_candidate(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Classic "word has a zero byte" test, applied to the word XOR each target.
    let has_byte = |word: u64, target: u8| {
        let x = word ^ (ONES * u64::from(target));
        x.wrapping_sub(ONES) & !x & HIGHS != 0
    };
    if bytes.len() < 16 {
        // Keys and most names are short; a plain scan is cheaper than word setup.
        return bytes.iter().position(|&b| is_escape_candidate(b));
    }
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let candidate = has_byte(word, b'<')
            || has_byte(word, b'>')
            || has_byte(word, b'&')
            || has_byte(word, 0xE2);
        if candidate && let Some(position) = chunk.iter().position(|&b| is_escape_candidate(b)) {
            return Some(offset + position);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| is_escape_candidate(b))
        .map(|position| offset + position)
}

/// Serialises as `{}`: the form Go gives an empty struct such as a list's `metadata`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        serializer.serialize_map(Some(0))?.end()
    }
}

/// Serialises `value` as compact Go-style JSON into `writer`, without a trailing newline.
pub fn to_writer<W, T>(writer: W, value: &T) -> serde_json::Result<()>
where
    W: io::Write,
    T: ?Sized + Serialize,
{
    let mut serializer = serde_json::Serializer::with_formatter(writer, GoFormatter);
    value.serialize(&mut serializer)
}

/// Serialises `value` indented like the apiserver's `?pretty=true` output
/// (`json.MarshalIndent` with two spaces; no trailing newline).
pub fn to_vec_pretty<T>(value: &T) -> serde_json::Result<Vec<u8>>
where
    T: ?Sized + Serialize,
{
    let mut out = Vec::with_capacity(512);
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, GoPrettyFormatter::default());
    value.serialize(&mut serializer)?;
    Ok(out)
}

/// Serialises `value` as compact Go-style JSON followed by `\n`, the way
/// `json.Encoder.Encode` (and therefore the apiserver) writes a response body.
pub fn to_vec_with_newline<T>(value: &T) -> serde_json::Result<Vec<u8>>
where
    T: ?Sized + Serialize,
{
    let mut out = Vec::with_capacity(256);
    to_writer(&mut out, value)?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html_characters_and_line_separators_like_go() {
        let value = serde_json::json!({"m": "a<b>&c\u{2028}\u{2029}\"\n\u{1}µ"});
        let bytes = to_vec_with_newline(&value).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "{\"m\":\"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\\\"\\n\\u0001µ\"}\n"
        );
    }

    #[test]
    fn pretty_output_indents_two_spaces_and_escapes_like_go() {
        let value = serde_json::json!({"a": [1, {}], "b": "<x>", "c": []});
        let text = String::from_utf8(to_vec_pretty(&value).unwrap()).unwrap();
        assert_eq!(
            text,
            "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": \"\\u003cx\\u003e\",\n  \"c\": []\n}"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_string_round_trips_and_hides_html_characters(text in "\\PC{0,40}|[<>&\u{2028}\u{2029}\u{e2}a]{0,10}") {
            let mut bytes = Vec::new();
            to_writer(&mut bytes, &text).unwrap();
            let decoded: String = serde_json::from_slice(&bytes).unwrap();
            proptest::prop_assert_eq!(&decoded, &text);
            let raw = String::from_utf8(bytes).unwrap();
            let forbidden = ['<', '>', '&', '\u{2028}', '\u{2029}'];
            proptest::prop_assert!(!raw.contains(forbidden), "raw output {}", raw);
        }
    }

    #[test]
    fn escaped_output_decodes_to_the_original_string() {
        let original = "x<y & z>\u{2028}end";
        let mut bytes = Vec::new();
        to_writer(&mut bytes, original).unwrap();
        let decoded: String = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(decoded, original);
    }
}
