//! Percent-decoding with Go's `net/url` strictness.
//!
//! Go rejects a `%` that is not followed by two hex digits instead of passing it through,
//! and several callers (extra-header keys, query pairs) fall back to something specific
//! when that happens, so decoding reports failure rather than guessing.

/// Decodes `%XX` escapes; `None` when an escape is malformed or the result is not UTF-8.
/// With `plus_as_space`, `+` becomes a space (query-string rules).
pub(crate) fn decode(input: &str, plus_as_space: bool) -> Option<String> {
    if !(input.contains('%') || plus_as_space && input.contains('+')) {
        return Some(input.to_owned());
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        match byte {
            b'%' => {
                let high = bytes.get(index + 1).copied().and_then(hex_value)?;
                let low = bytes.get(index + 2).copied().and_then(hex_value)?;
                out.push(high << 4 | low);
                index += 3;
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                index += 1;
            }
            other => {
                out.push(other);
                index += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Decodes `%XX` escapes, keeping the input unchanged when it cannot be decoded.
pub(crate) fn decode_or_keep(input: &str) -> String {
    decode(input, false).unwrap_or_else(|| input.to_owned())
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// The `key=value` pairs of a query string, decoded; malformed pairs are skipped, as Go's
/// `URL.Query()` does (it also drops pairs containing `;`).
pub fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(key, true)?, decode(value, true)?))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_in_either_case() {
        assert_eq!(decode("a%2Fb%2fc", false).as_deref(), Some("a/b/c"));
    }

    #[test]
    fn rejects_malformed_escapes() {
        assert_eq!(decode("a%2", false), None);
        assert_eq!(decode("a%zz", false), None);
        assert_eq!(decode("%", false), None);
        assert_eq!(decode_or_keep("50%off"), "50%off");
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert_eq!(decode("%ff%fe", false), None);
    }

    #[test]
    fn plus_is_space_only_in_queries() {
        assert_eq!(decode("a+b", true).as_deref(), Some("a b"));
        assert_eq!(decode("a+b", false).as_deref(), Some("a+b"));
    }

    #[test]
    fn query_pairs_skip_bad_ones_and_keep_order() {
        let pairs: Vec<_> =
            query_pairs("watch&fieldSelector=metadata.name%3Dx&bad=%zz&a;b=c&k=").collect();
        assert_eq!(
            pairs,
            vec![
                ("watch".to_owned(), String::new()),
                ("fieldSelector".to_owned(), "metadata.name=x".to_owned()),
                ("k".to_owned(), String::new()),
            ]
        );
    }
}
