//! Go `time.Duration` text: `Duration.String()` and `time.ParseDuration`.
//!
//! The `window` of a metrics object is a `metav1.Duration`, which marshals
//! with `Duration.String()` (`15.012s`, `1m0s`, `1µs` with U+00B5), and
//! metrics-server's flags are parsed with `time.ParseDuration`.

use std::fmt::{self, Write};

use crate::decimal::TextBuf;

const NANOSECOND: u64 = 1;
const MICROSECOND: u64 = 1_000 * NANOSECOND;
const MILLISECOND: u64 = 1_000 * MICROSECOND;
const SECOND: u64 = 1_000 * MILLISECOND;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;

/// The longest Go duration text, `-2562047h47m16.854775808s`, is 25 bytes.
const MAX_DURATION_LEN: usize = 32;

/// A duration string Go's `time.ParseDuration` would reject, with Go's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a duration at all, or out of the `i64` nanosecond range.
    #[error("time: invalid duration {}", go_time_quote(.input))]
    Invalid {
        /// The whole input.
        input: String,
    },
    /// A number without a unit, such as `10`.
    #[error("time: missing unit in duration {}", go_time_quote(.input))]
    MissingUnit {
        /// The whole input.
        input: String,
    },
    /// A unit other than `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m` or `h`.
    #[error("time: unknown unit {} in duration {}", go_time_quote(.unit), go_time_quote(.input))]
    UnknownUnit {
        /// The unrecognised unit.
        unit: String,
        /// The whole input.
        input: String,
    },
}

/// `Duration.String()` for a duration of `nanos` nanoseconds.
pub fn format_go_duration(nanos: i64) -> String {
    let mut out = String::with_capacity(16);
    // Writing into a String cannot fail.
    let _ = write_go_duration(&mut out, nanos);
    out
}

/// Writes [`format_go_duration`]'s text without allocating.
pub fn write_go_duration<W: Write + ?Sized>(out: &mut W, nanos: i64) -> fmt::Result {
    out.write_str(duration_text(nanos).as_str())
}

/// The duration's text, on the stack.
pub fn duration_text(nanos: i64) -> TextBuf<MAX_DURATION_LEN> {
    let mut text = TextBuf::new();
    if nanos == 0 {
        text.push_str("0s");
        return text;
    }
    if nanos < 0 {
        text.push_ascii(b'-');
    }
    let magnitude = nanos.unsigned_abs();
    if magnitude < SECOND {
        // Below a second Go switches to the largest unit that keeps an integer part.
        let (unit_nanos, precision, unit) = if magnitude < MICROSECOND {
            (NANOSECOND, 0, "ns")
        } else if magnitude < MILLISECOND {
            (MICROSECOND, 3, "µs")
        } else {
            (MILLISECOND, 6, "ms")
        };
        text.push_u64(magnitude / unit_nanos);
        push_fraction(&mut text, magnitude % unit_nanos, precision);
        text.push_str(unit);
        return text;
    }
    let total_seconds = magnitude / SECOND;
    let hours = total_seconds / 3600;
    let minutes = total_seconds / 60 % 60;
    if hours > 0 {
        text.push_u64(hours);
        text.push_ascii(b'h');
    }
    if hours > 0 || minutes > 0 {
        text.push_u64(minutes);
        text.push_ascii(b'm');
    }
    text.push_u64(total_seconds % 60);
    push_fraction(&mut text, magnitude % SECOND, 9);
    text.push_ascii(b's');
    text
}

/// Appends `.ddd` for `fraction / 10^precision` without trailing zeros, or nothing when zero.
fn push_fraction(text: &mut TextBuf<MAX_DURATION_LEN>, fraction: u64, precision: usize) {
    if fraction == 0 {
        return;
    }
    let mut digits = precision;
    let mut value = fraction;
    while value.is_multiple_of(10) {
        value /= 10;
        digits -= 1;
    }
    text.push_ascii(b'.');
    // Zero-padding keeps the leading zeros of the fraction (e.g. `.012`).
    text.push_u64_padded(value, digits);
}

/// `time.ParseDuration`: a signed sequence of decimal numbers, each with an
/// optional fraction and a unit (`300ms`, `-1.5h`, `2h45m`), in nanoseconds.
pub fn parse_go_duration(s: &str) -> Result<i64, DurationError> {
    let invalid = || DurationError::Invalid {
        input: s.to_owned(),
    };
    let mut rest = s;
    let mut negative = false;
    if let Some(stripped) = rest.strip_prefix('-') {
        negative = true;
        rest = stripped;
    } else if let Some(stripped) = rest.strip_prefix('+') {
        rest = stripped;
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let first = rest.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        let (whole, after_whole, whole_digits) = leading_int(rest).ok_or_else(invalid)?;
        rest = after_whole;
        let mut fraction = 0u64;
        let mut scale = 1f64;
        let mut fraction_digits = false;
        if let Some(after_dot) = rest.strip_prefix('.') {
            let parsed = leading_fraction(after_dot);
            fraction = parsed.0;
            scale = parsed.1;
            fraction_digits = parsed.2.len() != after_dot.len();
            rest = parsed.2;
        }
        if !whole_digits && !fraction_digits {
            return Err(invalid());
        }
        let unit_len = rest
            .bytes()
            .position(|b| b == b'.' || b.is_ascii_digit())
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit {
                input: s.to_owned(),
            });
        }
        let (unit_text, after_unit) = rest.split_at(unit_len);
        rest = after_unit;
        let unit = unit_nanos(unit_text).ok_or_else(|| DurationError::UnknownUnit {
            unit: unit_text.to_owned(),
            input: s.to_owned(),
        })?;
        if whole > (1u64 << 63) / unit {
            return Err(invalid());
        }
        let mut value = whole * unit;
        if fraction > 0 {
            // Go computes the fractional part in float64 and truncates; doing
            // the same keeps `1.000000001h`-style inputs bit-identical.
            value += (fraction as f64 * (unit as f64 / scale)) as u64;
            if value > 1 << 63 {
                return Err(invalid());
            }
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > 1 << 63 {
            return Err(invalid());
        }
    }
    if negative {
        // total ≤ 2^63, so the negation fits (2^63 becomes i64::MIN).
        return Ok(0i64.wrapping_sub_unsigned(total));
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// Consumes leading digits; `None` on overflow past 2^63. Also reports whether any digit was read.
fn leading_int(s: &str) -> Option<(u64, &str, bool)> {
    let mut value: u64 = 0;
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    for b in s[..end].bytes() {
        if value > (1 << 63) / 10 {
            return None;
        }
        value = value * 10 + u64::from(b - b'0');
        if value > 1 << 63 {
            return None;
        }
    }
    Some((value, &s[end..], end > 0))
}

/// Consumes fraction digits, keeping as many as fit (Go stops accumulating precision silently).
fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let mut value: u64 = 0;
    let mut scale = 1f64;
    let mut overflow = false;
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    for b in s[..end].bytes() {
        if overflow {
            continue;
        }
        if value > ((1 << 63) - 1) / 10 {
            overflow = true;
            continue;
        }
        let next = value * 10 + u64::from(b - b'0');
        if next > 1 << 63 {
            overflow = true;
            continue;
        }
        value = next;
        scale *= 10.0;
    }
    (value, scale, &s[end..])
}

fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => NANOSECOND,
        "us" | "µs" | "μs" => MICROSECOND,
        "ms" => MILLISECOND,
        "s" => SECOND,
        "m" => MINUTE,
        "h" => HOUR,
        _ => return None,
    })
}

/// The `time` package's own quoting: every non-ASCII or control byte becomes `\xNN`.
fn go_time_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        if !ch.is_ascii() || ch < ' ' {
            let mut buf = [0u8; 4];
            for byte in ch.encode_utf8(&mut buf).bytes() {
                // Writing into a String cannot fail.
                let _ = write!(out, "\\x{byte:02x}");
            }
        } else {
            if ch == '"' || ch == '\\' {
                out.push('\\');
            }
            out.push(ch);
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_like_go_duration_string() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_000, "1µs"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (1_500_000, "1.5ms"),
            (3_300_000_000, "3.3s"),
            (15_012_000_000, "15.012s"),
            (15_000_000_000, "15s"),
            (60_000_000_000, "1m0s"),
            (60_015_000_000, "1m0.015s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (7_384_500_000_000, "2h3m4.5s"),
            (4_000_000_000, "4s"),
            (1_000_000_001, "1.000000001s"),
            (-1, "-1ns"),
            (-1_500_000, "-1.5ms"),
            (-60_000_000_000, "-1m0s"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
            (1_010, "1.01µs"),
            (1_000_001, "1.000001ms"),
        ];
        for &(nanos, expected) in cases {
            assert_eq!(format_go_duration(nanos), expected, "{nanos}");
        }
    }

    #[test]
    fn parses_like_go_parse_duration() {
        let cases: &[(&str, i64)] = &[
            ("15s", 15 * SECOND as i64),
            ("1m30s", 90 * SECOND as i64),
            ("500ms", 500 * MILLISECOND as i64),
            ("1.5h", 90 * MINUTE as i64),
            ("-2s", -2 * SECOND as i64),
            ("+3ns", 3),
            ("0", 0),
            ("-0", 0),
            ("1us", 1_000),
            ("1µs", 1_000),
            ("1μs", 1_000),
            ("2h45m", (2 * HOUR + 45 * MINUTE) as i64),
            (".5s", 500 * MILLISECOND as i64),
            ("1.s", SECOND as i64),
            (
                "1h1m1s1ms1us1ns",
                (HOUR + MINUTE + SECOND + MILLISECOND + MICROSECOND + 1) as i64,
            ),
            ("0.3333333333333333333h", 1_200_000_000_000),
            ("9223372036854775807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("1m0.015s", 60_015_000_000),
        ];
        for &(text, nanos) in cases {
            assert_eq!(parse_go_duration(text), Ok(nanos), "{text}");
        }
    }

    #[test]
    fn errors_carry_go_messages() {
        let cases: &[(&str, &str)] = &[
            ("x", r#"time: invalid duration "x""#),
            ("", r#"time: invalid duration """#),
            ("-", r#"time: invalid duration "-""#),
            ("10", r#"time: missing unit in duration "10""#),
            ("1d", r#"time: unknown unit "d" in duration "1d""#),
            (".s", r#"time: invalid duration ".s""#),
            ("1s ", r#"time: unknown unit "s " in duration "1s ""#),
            (
                "9223372036854775808ns",
                r#"time: invalid duration "9223372036854775808ns""#,
            ),
            ("3000000h", r#"time: invalid duration "3000000h""#),
            (
                "1é",
                r#"time: unknown unit "\xc3\xa9" in duration "1\xc3\xa9""#,
            ),
        ];
        for &(text, message) in cases {
            let error = parse_go_duration(text).unwrap_err();
            assert_eq!(error.to_string(), message, "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn formatted_durations_parse_back(nanos in any::<i64>()) {
            let text = format_go_duration(nanos);
            prop_assert_eq!(parse_go_duration(&text), Ok(nanos));
        }

        #[test]
        fn parse_never_panics(text in "[-+]?[0-9.]{0,25}(ns|us|µs|ms|s|m|h|x)?[0-9.]{0,5}[a-z]{0,2}") {
            let _ = parse_go_duration(&text);
        }

        #[test]
        fn parse_never_panics_on_any_text(text in "\\PC{0,30}") {
            let _ = parse_go_duration(&text);
        }
    }
}
