//! Kubernetes `resource.Quantity`: Go's canonical text form, and an exact parser.
//!
//! metrics-server builds CPU as `NewScaledQuantity(nanocores, -9)` (DecimalSI)
//! and memory as `NewQuantity(bytes, BinarySI)`, both through a helper that,
//! for values above `i64::MAX`, drops the last decimal digit (`v/10` at one
//! higher scale) because Go quantities are built from `int64`. [`format_cpu`]
//! and [`format_memory`] reproduce that, including the lost digit.
//!
//! Canonical form (apimachinery `CanonicalizeBytes`):
//! - DecimalSI: strip trailing decimal zeros into the exponent, lower the
//!   exponent to a multiple of 3, then use `n u m "" k M G T P E`
//!   (`412434431n`, `5m`, `2k`).
//! - BinarySI: magnitudes below 1024 and non-integers are printed as DecimalSI;
//!   otherwise divide by 1024 while exact and use `Ki Mi Gi Ti Pi Ei`
//!   (`3250456Ki`; `1536` stays plain).
//!
//! [`parse`] accepts every string `resource.ParseQuantity` accepts and keeps
//! the value exactly, as nano-units in an `i128` (Go rounds finer values up to
//! `1n` as well). Values beyond about 1.7e29 units are rejected rather than
//! approximated.

use std::fmt::{self, Write};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::decimal::TextBuf;

const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// Go caps a parsed BinarySI quantity at `2^63 - 1` (apimachinery `maxAllowed`).
const BINARY_SI_CAP_NANOS: i128 = i64::MAX as i128 * NANOS_PER_UNIT;

/// The longest canonical text of a `u64` CPU or memory value (`18446744073709551610n` is 21).
const MAX_U64_QUANTITY_LEN: usize = 24;

/// Which suffix family a quantity is written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Powers of ten as an exponent: `12e6`.
    DecimalExponent,
    /// Powers of 1024: `12Mi`.
    BinarySI,
    /// Powers of ten as SI suffixes: `12M`, `5m`.
    DecimalSI,
}

/// An exact quantity: a value in nano-units plus the suffix family it prints with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

/// Why a string is not a valid quantity. The messages are Go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text does not have the shape `<number><suffix>`.
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    FormatWrong,
    /// The number has no digits where Go needs some.
    #[error("unable to parse numeric part of quantity")]
    Numeric,
    /// The suffix is not one Kubernetes knows.
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// Valid in Go, but too large for this exact representation.
    #[error("quantity is too large to be represented exactly")]
    OutOfRange,
}

/// The canonical text of a CPU usage in nanocores (`412434431n`, `5m`, `1`, `2k`, `0`).
pub fn format_cpu(nanocores: u64) -> String {
    let mut out = String::with_capacity(12);
    // Writing into a String cannot fail.
    let _ = write_cpu(&mut out, nanocores);
    out
}

/// The canonical text of a memory size in bytes (`3250456Ki`, `1k`, `600`, `1536`, `16Mi`).
pub fn format_memory(bytes: u64) -> String {
    let mut out = String::with_capacity(12);
    // Writing into a String cannot fail.
    let _ = write_memory(&mut out, bytes);
    out
}

/// Writes [`format_cpu`]'s text without allocating.
pub fn write_cpu<W: Write + ?Sized>(out: &mut W, nanocores: u64) -> fmt::Result {
    out.write_str(cpu_text(nanocores).as_str())
}

/// Writes [`format_memory`]'s text without allocating.
pub fn write_memory<W: Write + ?Sized>(out: &mut W, bytes: u64) -> fmt::Result {
    out.write_str(memory_text(bytes).as_str())
}

/// The canonical text of a u64 CPU value, on the stack.
pub fn cpu_text(nanocores: u64) -> TextBuf<MAX_U64_QUANTITY_LEN> {
    decimal_si_u64(through_int64(nanocores), -9)
}

/// The canonical text of a u64 memory value, on the stack.
pub fn memory_text(bytes: u64) -> TextBuf<MAX_U64_QUANTITY_LEN> {
    let bytes = through_int64(bytes);
    if bytes < 1024 {
        return decimal_si_u64(bytes, 0);
    }
    let (mantissa, power) = strip_1024_factors(u128::from(bytes));
    let mut text = TextBuf::new();
    // The mantissa is at most the u64 input.
    text.push_u64(u64::try_from(mantissa).unwrap_or(u64::MAX));
    text.push_str(BINARY_SUFFIXES[power]);
    text
}

/// metrics-server's `uint64Quantity`: above `i64::MAX` the last decimal digit is lost.
fn through_int64(value: u64) -> u64 {
    if value > i64::MAX as u64 {
        value / 10 * 10
    } else {
        value
    }
}

/// Parses any valid Kubernetes quantity string, exactly.
pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
    s.parse()
}

impl Quantity {
    /// Zero, printed `0`.
    pub const ZERO: Quantity = Quantity {
        nanos: 0,
        format: Format::DecimalSI,
    };

    /// A quantity of `nanos` billionths of a unit, printed in `format`.
    pub fn from_nanos(nanos: i128, format: Format) -> Quantity {
        Quantity { nanos, format }
    }

    /// The quantity metrics-server serves for a CPU usage (DecimalSI, with the `> i64::MAX` digit loss).
    pub fn from_cpu_nanocores(nanocores: u64) -> Quantity {
        Quantity::from_nanos(i128::from(through_int64(nanocores)), Format::DecimalSI)
    }

    /// The quantity metrics-server serves for a memory size (BinarySI, with the `> i64::MAX` digit loss).
    pub fn from_memory_bytes(bytes: u64) -> Quantity {
        let nanos = i128::from(through_int64(bytes)) * NANOS_PER_UNIT;
        Quantity::from_nanos(nanos, Format::BinarySI)
    }

    /// The exact value in billionths of a unit (nanocores for CPU).
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The suffix family used when printing.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// Go's `MilliValue()`: thousandths of a unit, rounded away from zero (`1n` → 1).
    pub fn milli_value_ceil(&self) -> i128 {
        divide_away_from_zero(self.nanos, 1_000_000)
    }

    /// Go's `Value()`: whole units, rounded away from zero (`1m` → 1).
    pub fn value_ceil(&self) -> i128 {
        divide_away_from_zero(self.nanos, NANOS_PER_UNIT)
    }

    /// Go's `Quantity.Add`: the sum keeps this quantity's format, unless this one is zero.
    /// `None` when the sum leaves the representable range.
    pub fn checked_add(&self, other: &Quantity) -> Option<Quantity> {
        let format = if self.is_zero() {
            other.format
        } else {
            self.format
        };
        Some(Quantity {
            nanos: self.nanos.checked_add(other.nanos)?,
            format,
        })
    }

    /// Writes the canonical text (the same as `Display`).
    pub fn write_canonical<W: Write + ?Sized>(&self, out: &mut W) -> fmt::Result {
        if self.nanos == 0 {
            return out.write_str("0");
        }
        if self.nanos < 0 {
            out.write_char('-')?;
        }
        let magnitude = self.nanos.unsigned_abs();
        let format = match self.format {
            Format::BinarySI => {
                let below_1024 = magnitude < 1024 * NANOS_PER_UNIT.unsigned_abs();
                let fractional = !magnitude.is_multiple_of(NANOS_PER_UNIT.unsigned_abs());
                if below_1024 || fractional {
                    Format::DecimalSI
                } else {
                    Format::BinarySI
                }
            }
            other => other,
        };
        if format == Format::BinarySI {
            let units = magnitude / NANOS_PER_UNIT.unsigned_abs();
            let (mantissa, power) = strip_1024_factors(units);
            write!(out, "{mantissa}")?;
            return out.write_str(BINARY_SUFFIXES[power]);
        }
        let (mantissa, exponent) = canonical_decimal(magnitude, -9);
        write!(out, "{mantissa}")?;
        write_decimal_suffix(out, exponent, format)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_canonical(f)
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_quantity(s)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// Divides by 1024 while exact, at most up to `Ei` (Go has no larger suffix).
fn strip_1024_factors(mut value: u128) -> (u128, usize) {
    let mut power = 0;
    while value != 0 && value.is_multiple_of(1024) && power < BINARY_SUFFIXES.len() - 1 {
        value /= 1024;
        power += 1;
    }
    (value, power)
}

/// Moves trailing zeros into the exponent, then lowers the exponent to a multiple of 3.
fn canonical_decimal(mut mantissa: u128, mut exponent: i32) -> (u128, i32) {
    if mantissa == 0 {
        return (0, 0);
    }
    while mantissa.is_multiple_of(10) {
        mantissa /= 10;
        exponent += 1;
    }
    // Multiplying back by at most 100 restores no more zeros than were removed,
    // so the mantissa cannot overflow.
    match exponent.rem_euclid(3) {
        1 => (mantissa * 10, exponent - 1),
        2 => (mantissa * 100, exponent - 2),
        _ => (mantissa, exponent),
    }
}

/// The u64 fast path of [`canonical_decimal`] plus the DecimalSI suffix.
fn decimal_si_u64(value: u64, exponent: i32) -> TextBuf<MAX_U64_QUANTITY_LEN> {
    let mut text = TextBuf::new();
    if value == 0 {
        text.push_ascii(b'0');
        return text;
    }
    let (mut mantissa, mut exponent) = (value, exponent);
    while mantissa.is_multiple_of(10) {
        mantissa /= 10;
        exponent += 1;
    }
    // Multiplying back restores no more zeros than were removed: no overflow.
    match exponent.rem_euclid(3) {
        1 => {
            mantissa *= 10;
            exponent -= 1;
        }
        2 => {
            mantissa *= 100;
            exponent -= 2;
        }
        _ => {}
    }
    text.push_u64(mantissa);
    // u64 inputs at scale -9 or 0 stay within n..G, all DecimalSI suffixes.
    text.push_str(decimal_si_suffix(exponent).unwrap_or(""));
    text
}

fn decimal_si_suffix(exponent: i32) -> Option<&'static str> {
    Some(match exponent {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => return None,
    })
}

/// DecimalSI suffix, falling back (as current apimachinery does) to `e<exp>` beyond `E`.
fn write_decimal_suffix<W: Write + ?Sized>(
    out: &mut W,
    exponent: i32,
    format: Format,
) -> fmt::Result {
    if format == Format::DecimalSI
        && let Some(suffix) = decimal_si_suffix(exponent)
    {
        return out.write_str(suffix);
    }
    if exponent == 0 {
        return Ok(());
    }
    write!(out, "e{exponent}")
}

fn divide_away_from_zero(value: i128, divisor: i128) -> i128 {
    let quotient = value / divisor;
    match (value % divisor).signum() {
        1 => quotient + 1,
        -1 => quotient - 1,
        _ => quotient,
    }
}

/// The pieces of a quantity string, as apimachinery's `parseQuantityString` splits it.
struct Pieces<'a> {
    negative: bool,
    /// Integer digits without leading zeros (may be empty).
    integer: &'a str,
    /// Fraction digits (may be empty).
    fraction: &'a str,
    /// Whether the number part contained any digit at all (leading zeros count).
    has_digit: bool,
    suffix: &'a str,
}

fn split_quantity(s: &str) -> Result<Pieces<'_>, QuantityError> {
    let bytes = s.as_bytes();
    let mut pos = 0;
    let mut negative = false;
    if let Some(&sign) = bytes.first()
        && (sign == b'-' || sign == b'+')
    {
        negative = sign == b'-';
        pos = 1;
    }
    let number_start = pos;
    while bytes.get(pos) == Some(&b'0') {
        pos += 1;
    }
    let integer_start = pos;
    while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
        pos += 1;
    }
    let integer = &s[integer_start..pos];
    let mut fraction = "";
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        let fraction_start = pos;
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        fraction = &s[fraction_start..pos];
    }
    let has_digit = s[number_start..pos].bytes().any(|b| b.is_ascii_digit());

    // Suffix: letters from the suffix alphabet, an optional sign, then digits.
    let suffix_start = pos;
    while bytes.get(pos).is_some_and(|b| b"eEinumkKMGTP".contains(b)) {
        pos += 1;
    }
    if matches!(bytes.get(pos), Some(b'-' | b'+')) {
        pos += 1;
    }
    while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
        pos += 1;
    }
    if pos != bytes.len() {
        return Err(QuantityError::FormatWrong);
    }
    Ok(Pieces {
        negative,
        integer,
        fraction,
        has_digit,
        suffix: &s[suffix_start..],
    })
}

/// apimachinery's `suffixHandler.interpret`: (base, exponent, format).
fn interpret_suffix(suffix: &str) -> Option<(u32, i32, Format)> {
    let decimal = match suffix {
        "n" => Some(-9),
        "u" => Some(-6),
        "m" => Some(-3),
        "" => Some(0),
        "k" => Some(3),
        "M" => Some(6),
        "G" => Some(9),
        "T" => Some(12),
        "P" => Some(15),
        "E" => Some(18),
        _ => None,
    };
    if let Some(exponent) = decimal {
        return Some((10, exponent, Format::DecimalSI));
    }
    let binary = match suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    if let Some(exponent) = binary {
        return Some((2, exponent, Format::BinarySI));
    }
    let rest = suffix
        .strip_prefix('e')
        .or_else(|| suffix.strip_prefix('E'))?;
    if rest.is_empty() {
        return None;
    }
    // Go parses an int64 and then converts to int32, wrapping silently.
    let exponent: i64 = rest.parse().ok()?;
    Some((10, exponent as i32, Format::DecimalExponent))
}

fn parse_quantity(s: &str) -> Result<Quantity, QuantityError> {
    if s.is_empty() {
        return Err(QuantityError::FormatWrong);
    }
    let pieces = split_quantity(s)?;
    let (base, exponent, mut format) =
        interpret_suffix(pieces.suffix).ok_or(QuantityError::Suffix)?;

    if !pieces.has_digit {
        // Go's fast path turns a digit-less number ("k", "-", ".") into zero,
        // but its slow path fails to read it. Mirror which path Go would take.
        let slow_path = match base {
            10 => exponent < -9,
            // Go's precision estimate for binary suffixes goes negative from `Pi` on.
            _ => exponent >= 50,
        };
        if slow_path {
            return Err(QuantityError::Numeric);
        }
        return Ok(Quantity::from_nanos(0, format));
    }

    let magnitude = exact_nanos(&pieces, base, exponent)?;
    let magnitude = match (format, magnitude) {
        (Format::BinarySI, Magnitude::Exact(n)) if n > BINARY_SI_CAP_NANOS => {
            Magnitude::Exact(BINARY_SI_CAP_NANOS)
        }
        (Format::BinarySI, Magnitude::TooLarge) => Magnitude::Exact(BINARY_SI_CAP_NANOS),
        (_, other) => other,
    };
    let Magnitude::Exact(nanos) = magnitude else {
        return Err(QuantityError::OutOfRange);
    };
    if format == Format::BinarySI && nanos > 0 && nanos < NANOS_PER_UNIT {
        // Go shows binary values between 0 and 1 as DecimalSI to avoid rounding.
        format = Format::DecimalSI;
    }
    let nanos = if pieces.negative { -nanos } else { nanos };
    Ok(Quantity::from_nanos(nanos, format))
}

enum Magnitude {
    Exact(i128),
    TooLarge,
}

/// |value| in nano-units, rounded up to a whole nano-unit as Go does.
fn exact_nanos(pieces: &Pieces<'_>, base: u32, exponent: i32) -> Result<Magnitude, QuantityError> {
    // All digits of the number as one integer D; the value is D * 10^-len(fraction).
    let mut digits: Vec<u8> = pieces
        .integer
        .bytes()
        .chain(pieces.fraction.bytes())
        .map(|b| b - b'0')
        .collect();
    let fraction_len =
        i64::try_from(pieces.fraction.len()).map_err(|_| QuantityError::OutOfRange)?;
    let mut decimal_exponent = -fraction_len;
    if base == 2 {
        // Multiply D by 2^exponent (exponent ≤ 60) in one pass over the digits.
        let factor = 1u128 << exponent;
        let mut carry = 0u128;
        for digit in digits.iter_mut().rev() {
            let product = u128::from(*digit) * factor + carry;
            *digit = (product % 10) as u8;
            carry = product / 10;
        }
        let mut high = Vec::new();
        while carry > 0 {
            high.push((carry % 10) as u8);
            carry /= 10;
        }
        high.reverse();
        high.extend_from_slice(&digits);
        digits = high;
    } else {
        decimal_exponent += i64::from(exponent);
    }

    // Now |value| = D * 10^decimal_exponent; we want ceil(D * 10^(decimal_exponent + 9)).
    let first_significant = digits.iter().position(|&d| d != 0);
    let Some(first_significant) = first_significant else {
        return Ok(Magnitude::Exact(0));
    };
    let digits = &digits[first_significant..];
    let shift = decimal_exponent + 9;
    let len = i64::try_from(digits.len()).map_err(|_| QuantityError::OutOfRange)?;
    // i128::MAX has 39 digits; anything longer cannot fit.
    if len + shift > 39 {
        return Ok(Magnitude::TooLarge);
    }
    let integer_len = len + shift;
    let (integer_digits, dropped): (&[u8], &[u8]) = if shift >= 0 {
        (digits, &[])
    } else if integer_len <= 0 {
        (&[], digits)
    } else {
        // integer_len is within 1..len here, so the conversion cannot fail.
        let split = usize::try_from(integer_len).map_err(|_| QuantityError::OutOfRange)?;
        digits.split_at(split)
    };
    let mut value: i128 = 0;
    for &digit in integer_digits {
        value = match value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(digit)))
        {
            Some(v) => v,
            None => return Ok(Magnitude::TooLarge),
        };
    }
    if shift > 0 {
        for _ in 0..shift {
            value = match value.checked_mul(10) {
                Some(v) => v,
                None => return Ok(Magnitude::TooLarge),
            };
        }
    }
    if dropped.iter().any(|&d| d != 0) {
        value = match value.checked_add(1) {
            Some(v) => v,
            None => return Ok(Magnitude::TooLarge),
        };
    }
    Ok(Magnitude::Exact(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cpu_examples_from_the_contract() {
        let cases: &[(u64, &str)] = &[
            (412434431, "412434431n"),
            (5_000_000, "5m"),
            (1_000_000_000, "1"),
            (2_000_000_000_000, "2k"),
            (0, "0"),
            (20_000, "20u"),
            (120_000_000, "120m"),
            (1_500_000_000, "1500m"),
            (500_000_000, "500m"),
            (2_500_000_000, "2500m"),
            (123_456_789, "123456789n"),
            (123_000, "123u"),
            (1, "1n"),
            (10, "10n"),
            (100, "100n"),
            (1000, "1u"),
            (10_000_000_000, "10"),
            (100_000_000_000, "100"),
            (1_000_000_000_000_000_000, "1G"),
            (i64::MAX as u64, "9223372036854775807n"),
            // Above i64::MAX metrics-server keeps v/10 at scale -8.
            (i64::MAX as u64 + 1, "9223372036854775800n"),
            (u64::MAX, "18446744073709551610n"),
            (10_000_000_000_000_000_000, "10G"),
        ];
        for &(value, expected) in cases {
            assert_eq!(format_cpu(value), expected, "cpu {value}");
        }
    }

    #[test]
    fn memory_examples_from_the_contract() {
        let cases: &[(u64, &str)] = &[
            (3_328_466_944, "3250456Ki"),
            (1000, "1k"),
            (600, "600"),
            (1536, "1536"),
            (16_777_216, "16Mi"),
            (0, "0"),
            (1023, "1023"),
            (1024, "1Ki"),
            (1010, "1010"),
            (1_000_000, "1000000"),
            (3_145_728, "3Mi"),
            (12_533_760, "12240Ki"),
            (1_234_567, "1234567"),
            (1 << 60, "1Ei"),
            (i64::MAX as u64, "9223372036854775807"),
            // Above i64::MAX the last digit is lost: 2^63 → 9223372036854775800.
            (1 << 63, "9223372036854775800"),
            (11_529_215_046_068_469_760, "10Ei"),
            (u64::MAX, "18446744073709551610"),
        ];
        for &(value, expected) in cases {
            assert_eq!(format_memory(value), expected, "memory {value}");
        }
    }

    #[test]
    fn parses_common_forms_exactly() {
        let cases: &[(&str, i128)] = &[
            ("123n", 123),
            ("0.5", 500_000_000),
            ("1e3", 1_000_000_000_000),
            ("100M", 100_000_000 * NANOS_PER_UNIT),
            ("3Ki", 3072 * NANOS_PER_UNIT),
            ("1.5Gi", 1_610_612_736 * NANOS_PER_UNIT),
            ("0.5Ki", 512 * NANOS_PER_UNIT),
            ("-2m", -2_000_000),
            ("+7", 7 * NANOS_PER_UNIT),
            ("1.", NANOS_PER_UNIT),
            (".5", 500_000_000),
            ("0.1n", 1),
            ("-0.1n", -1),
            ("1E-3", 1_000_000),
            ("12e6", 12_000_000 * NANOS_PER_UNIT),
            ("1e-12", 1),
            ("0", 0),
            ("000", 0),
            ("k", 0),
            ("Ki", 0),
            ("-", 0),
            ("+", 0),
            (".", 0),
            ("8Ei", i64::MAX as i128 * NANOS_PER_UNIT),
            ("1e-99999999999", 1),
            ("0.000000000000000000000000000000000000000000001", 1),
        ];
        for &(text, nanos) in cases {
            let q = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(q.nanos(), nanos, "{text}");
        }
    }

    #[test]
    fn rejects_malformed_strings_with_go_errors() {
        let cases: &[(&str, QuantityError)] = &[
            ("", QuantityError::FormatWrong),
            ("abc", QuantityError::FormatWrong),
            ("1 ", QuantityError::FormatWrong),
            ("1.2.3", QuantityError::FormatWrong),
            ("1Mi1x", QuantityError::FormatWrong),
            ("1ki", QuantityError::Suffix),
            ("1e", QuantityError::Suffix),
            ("1KiB", QuantityError::FormatWrong),
            ("1mm", QuantityError::Suffix),
            ("Ei", QuantityError::Numeric),
            ("e-10", QuantityError::Numeric),
            ("1e40", QuantityError::OutOfRange),
        ];
        for (text, error) in cases {
            assert_eq!(parse(text).as_ref().err(), Some(error), "{text:?}");
        }
    }

    #[test]
    fn canonical_text_of_parsed_quantities() {
        let cases: &[(&str, &str)] = &[
            ("1.5", "1500m"),
            ("1.5Gi", "1536Mi"),
            ("1e3", "1e3"),
            ("1.5e3", "1500"),
            ("12e6", "12e6"),
            ("0.5Ki", "512"),
            ("0.5Mi", "512Ki"),
            ("1.1Ki", "1126400m"),
            ("100M", "100M"),
            ("1000E", "1e21"),
            ("-1536Ki", "-1536Ki"),
            ("-5m", "-5m"),
            ("0.9n", "1n"),
            ("1.2345", "1234500u"),
            ("0Ki", "0"),
        ];
        for &(text, canonical) in cases {
            assert_eq!(parse(text).unwrap().to_string(), canonical, "{text}");
        }
    }

    #[test]
    fn milli_value_and_value_round_up_like_go() {
        let sum = parse("200807775n")
            .unwrap()
            .checked_add(&parse("10002836n").unwrap())
            .unwrap();
        assert_eq!(sum.milli_value_ceil(), 211);
        assert_eq!(parse("412434431n").unwrap().milli_value_ceil(), 413);
        assert_eq!(parse("3250456Ki").unwrap().value_ceil() / 1_048_576, 3174);
        assert_eq!(parse("1n").unwrap().value_ceil(), 1);
        assert_eq!(parse("-1n").unwrap().milli_value_ceil(), -1);
        assert_eq!(parse("2").unwrap().milli_value_ceil(), 2000);
    }

    #[test]
    fn addition_keeps_the_left_format_unless_it_is_zero() {
        let a = parse("1Ki").unwrap();
        let b = parse("1k").unwrap();
        assert_eq!(a.checked_add(&b).unwrap().format(), Format::BinarySI);
        assert_eq!(
            Quantity::ZERO.checked_add(&a).unwrap().format(),
            Format::BinarySI
        );
        assert_eq!(Quantity::ZERO.checked_add(&a).unwrap().to_string(), "1Ki");
    }

    #[test]
    fn serde_uses_the_canonical_string() {
        let q: Quantity = serde_json::from_str("\"1.5Gi\"").unwrap();
        assert_eq!(serde_json::to_string(&q).unwrap(), "\"1536Mi\"");
        assert!(serde_json::from_str::<Quantity>("\"nope\"").is_err());
    }

    proptest! {
        #[test]
        fn cpu_text_reads_back_exactly(nanocores in any::<u64>()) {
            let text = format_cpu(nanocores);
            let q = parse(&text).unwrap();
            prop_assert_eq!(q.nanos(), i128::from(through_int64(nanocores)));
            prop_assert_eq!(q.to_string(), text.clone());
            prop_assert_eq!(Quantity::from_cpu_nanocores(nanocores).to_string(), text);
        }

        #[test]
        fn memory_text_reads_back_exactly(bytes in any::<u64>()) {
            let text = format_memory(bytes);
            let q = parse(&text).unwrap();
            // Go (and we) cap a parsed BinarySI value at i64::MAX; plain digits stay exact.
            let expected = if text.ends_with('i') {
                i128::from(through_int64(bytes)).min(i128::from(i64::MAX))
            } else {
                i128::from(through_int64(bytes))
            };
            prop_assert_eq!(q.value_ceil(), expected);
            prop_assert_eq!(q.nanos() % NANOS_PER_UNIT, 0);
            prop_assert_eq!(Quantity::from_memory_bytes(bytes).to_string(), text);
        }

        #[test]
        fn small_memory_values_round_trip(bytes in 0u64..5_000_000) {
            let q = parse(&format_memory(bytes)).unwrap();
            prop_assert_eq!(q.value_ceil(), i128::from(bytes));
        }

        #[test]
        fn canonical_text_is_a_fixed_point(nanos in -(1i128 << 100)..(1i128 << 100), binary in any::<bool>()) {
            let format = if binary { Format::BinarySI } else { Format::DecimalSI };
            let q = Quantity::from_nanos(nanos, format);
            let text = q.to_string();
            let back = parse(&text).unwrap();
            prop_assert_eq!(back.nanos(), nanos);
            prop_assert_eq!(back.to_string(), text);
        }

        #[test]
        fn parse_never_panics(text in "[-+]?[0-9.]{0,30}[eEinumkKMGTP]{0,3}[-+]?[0-9]{0,12}") {
            let _ = parse(&text);
        }

        #[test]
        fn parse_never_panics_on_any_text(text in "\\PC{0,40}") {
            let _ = parse(&text);
        }
    }
}
