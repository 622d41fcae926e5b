//! Go's `%q` / `strconv.Quote` for strings.
//!
//! Kubernetes error messages embed names, users and paths with `%q`, so a
//! message such as `node "a\tb" not found` must escape exactly like Go does.
//! Printable characters are kept as they are; the rest become `\a \b \f \n \r
//! \t \v`, `\xNN`, `\uNNNN` or `\UNNNNNNNN`.
//!
//! Go decides "printable" with Unicode tables (`unicode.IsPrint`). Rust's
//! standard library has no general-category table, so this module treats as
//! non-printable: control characters, every space separator except U+0020,
//! the line and paragraph separators, the format characters (category Cf),
//! private-use characters and the non-characters U+FFFE/U+FFFF. Unassigned
//! code points are the only difference from Go: Go escapes them, we keep them.

use std::fmt::{self, Write};

/// Returns `s` quoted like Go's `strconv.Quote`, including the surrounding `"`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    // Writing into a String cannot fail.
    let _ = write_quoted(&mut out, s);
    out
}

/// Writes `s` quoted like Go's `strconv.Quote` into `out`.
pub fn write_quoted<W: Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    out.write_char('"')?;
    let mut clean_start = 0;
    for (index, ch) in s.char_indices() {
        if ch != '"' && ch != '\\' && is_go_printable(ch) {
            continue;
        }
        out.write_str(&s[clean_start..index])?;
        write_escaped_char(out, ch)?;
        clean_start = index + ch.len_utf8();
    }
    out.write_str(&s[clean_start..])?;
    out.write_char('"')
}

fn write_escaped_char<W: Write + ?Sized>(out: &mut W, ch: char) -> fmt::Result {
    match ch {
        '"' => out.write_str("\\\""),
        '\\' => out.write_str("\\\\"),
        '\u{7}' => out.write_str("\\a"),
        '\u{8}' => out.write_str("\\b"),
        '\u{c}' => out.write_str("\\f"),
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        '\u{b}' => out.write_str("\\v"),
        // Go writes ASCII control bytes as \xNN, other runes by their width.
        c if (c as u32) < 0x80 => write!(out, "\\x{:02x}", c as u32),
        c if (c as u32) < 0x1_0000 => write!(out, "\\u{:04x}", c as u32),
        c => write!(out, "\\U{:08x}", c as u32),
    }
}

/// Approximates Go's `unicode.IsPrint` (see the module documentation).
fn is_go_printable(ch: char) -> bool {
    if ch.is_ascii() {
        return (' '..='~').contains(&ch);
    }
    if ch.is_control() || (ch.is_whitespace()) {
        // Non-ASCII whitespace (NBSP, U+2028, ...) is a separator, not a
        // graphic character, so Go escapes it.
        return false;
    }
    !is_format_or_private(ch as u32)
}

/// Unicode category Cf (format), Co (private use) and the two BMP non-characters.
fn is_format_or_private(cp: u32) -> bool {
    const RANGES: &[(u32, u32)] = &[
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xE000, 0xF8FF),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0xFFFE, 0xFFFF),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
        (0xF0000, 0x10FFFF),
    ];
    RANGES.iter().any(|&(low, high)| (low..=high).contains(&cp))
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_like_go_strconv_quote() {
        let cases = [
            ("", r#""""#),
            ("worker-1", r#""worker-1""#),
            ("a\"b", r#""a\"b""#),
            ("back\\slash", r#""back\\slash""#),
            ("tab\there", r#""tab\there""#),
            ("nl\ncr\r", r#""nl\ncr\r""#),
            ("\u{7}\u{8}\u{c}\u{b}", r#""\a\b\f\v""#),
            ("\u{0}\u{1f}\u{7f}", r#""\x00\x1f\x7f""#),
            ("µs", r#""µs""#),
            ("日本", r#""日本""#),
            ("\u{a0}", r#""\u00a0""#),
            ("\u{85}", r#""\u0085""#),
            ("\u{2028}", r#""\u2028""#),
            ("\u{200b}", r#""\u200b""#),
            ("\u{feff}", r#""\ufeff""#),
            ("\u{e000}", r#""\ue000""#),
            ("\u{f0000}", r#""\U000f0000""#),
            ("😀", r#""😀""#),
            ("<&>", r#""<&>""#),
        ];
        for (input, expected) in cases {
            assert_eq!(quote(input), expected, "input {input:?}");
        }
    }
}
