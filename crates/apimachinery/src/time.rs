//! `metav1.Time` text: RFC 3339 in UTC with whole seconds (`2025-06-10T12:00:11Z`).
//!
//! Go formats the time with `time.RFC3339` after `UTC()`, which drops the
//! sub-second part (times before 1970 round down, as Go's wall clock does).
//! The formatter is plain integer arithmetic so the hot JSON path needs no
//! allocation and no time-zone machinery; parsing accepts any RFC 3339 time.

use std::cell::Cell;
use std::fmt::{self, Write};

use crate::decimal::TextBuf;

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// `YYYY-MM-DDTHH:MM:SSZ` is 20 bytes; years before 1 or after 9999 are wider.
const MAX_TIME_LEN: usize = 32;

/// The instant `unix_nanos` (nanoseconds since the Unix epoch) as `metav1.Time` JSON text.
pub fn format_rfc3339_seconds(unix_nanos: i64) -> String {
    let mut out = String::with_capacity(20);
    // Writing into a String cannot fail.
    let _ = write_rfc3339_seconds(&mut out, unix_nanos);
    out
}

/// Writes [`format_rfc3339_seconds`]'s text without allocating.
pub fn write_rfc3339_seconds<W: Write + ?Sized>(out: &mut W, unix_nanos: i64) -> fmt::Result {
    out.write_str(time_text(unix_nanos).as_str())
}

/// The time's text, on the stack.
///
/// A list carries the same `creationTimestamp` on every item and many equal
/// sample times, so the last two seconds formatted on this thread are remembered.
pub fn time_text(unix_nanos: i64) -> TextBuf<MAX_TIME_LEN> {
    type Entry = Option<(i64, TextBuf<MAX_TIME_LEN>)>;
    thread_local! {
        static RECENT: Cell<[Entry; 2]> = const { Cell::new([None, None]) };
    }
    let seconds = unix_nanos.div_euclid(NANOS_PER_SECOND);
    RECENT.with(|recent| {
        let [newest, older] = recent.get();
        for (cached_seconds, text) in [newest, older].into_iter().flatten() {
            if cached_seconds == seconds {
                return text;
            }
        }
        let text = format_seconds(seconds);
        recent.set([Some((seconds, text)), newest]);
        text
    })
}

fn format_seconds(seconds: i64) -> TextBuf<MAX_TIME_LEN> {
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY).unsigned_abs();
    let (year, month, day) = civil_from_days(days);
    let mut text = TextBuf::new();
    // i64 nanoseconds span the years 1677..2262, always four digits.
    text.push_u64_padded(year.unsigned_abs(), 4);
    text.push_ascii(b'-');
    text.push_two_digits(u64::from(month));
    text.push_ascii(b'-');
    text.push_two_digits(u64::from(day));
    text.push_ascii(b'T');
    text.push_two_digits(second_of_day / 3600);
    text.push_ascii(b':');
    text.push_two_digits(second_of_day / 60 % 60);
    text.push_ascii(b':');
    text.push_two_digits(second_of_day % 60);
    text.push_ascii(b'Z');
    text
}

/// Why a time string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 3339 time {input:?}: {reason}")]
pub struct TimeError {
    input: String,
    reason: String,
}

/// Parses an RFC 3339 time (any offset, any fraction) into nanoseconds since the Unix epoch.
pub fn parse_rfc3339(text: &str) -> Result<i64, TimeError> {
    let error = |reason: String| TimeError {
        input: text.to_owned(),
        reason,
    };
    let timestamp: jiff::Timestamp = text
        .parse()
        .map_err(|e: jiff::Error| error(e.to_string()))?;
    i64::try_from(timestamp.as_nanosecond())
        .map_err(|_| error("outside the range of i64 nanoseconds".to_owned()))
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01,
/// using the well-known era-based conversion (400-year cycles of 146097 days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days since 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // March = 0
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // month is 1..=12 and day 1..=31 by construction.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_fixture_times() {
        assert_eq!(
            format_rfc3339_seconds(1_749_556_811_482_000_000),
            "2025-06-10T12:00:11Z"
        );
        assert_eq!(format_rfc3339_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339_seconds(999_999_999), "1970-01-01T00:00:00Z");
        // Before the epoch Go's clock rounds down, never toward zero.
        assert_eq!(format_rfc3339_seconds(-1), "1969-12-31T23:59:59Z");
        assert_eq!(
            format_rfc3339_seconds(951_782_400 * NANOS_PER_SECOND),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(format_rfc3339_seconds(i64::MIN), "1677-09-21T00:12:43Z");
        assert_eq!(format_rfc3339_seconds(i64::MAX), "2262-04-11T23:47:16Z");
    }

    #[test]
    fn remembered_seconds_never_leak_into_other_times() {
        let times = [
            0,
            1_749_556_811 * NANOS_PER_SECOND,
            -1,
            0,
            999_999_999,
            86_400 * NANOS_PER_SECOND,
        ];
        let expected = [
            "1970-01-01T00:00:00Z",
            "2025-06-10T12:00:11Z",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "1970-01-02T00:00:00Z",
        ];
        for _ in 0..3 {
            for (nanos, text) in times.iter().zip(expected) {
                assert_eq!(format_rfc3339_seconds(*nanos), text);
            }
        }
    }

    #[test]
    fn parses_rfc3339_with_offsets_and_fractions() {
        assert_eq!(
            parse_rfc3339("2025-06-10T12:00:11Z"),
            Ok(1_749_556_811 * NANOS_PER_SECOND)
        );
        assert_eq!(
            parse_rfc3339("2025-06-10T14:00:11.5+02:00"),
            Ok(1_749_556_811 * NANOS_PER_SECOND + 500_000_000)
        );
        assert!(parse_rfc3339("yesterday").is_err());
        assert!(parse_rfc3339("9999-12-31T23:59:59Z").is_err());
    }

    proptest! {
        #[test]
        fn agrees_with_jiff(nanos in any::<i64>()) {
            let expected = jiff::Timestamp::from_second(nanos.div_euclid(NANOS_PER_SECOND))
                .unwrap()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            prop_assert_eq!(format_rfc3339_seconds(nanos), expected);
        }

        #[test]
        fn round_trips_whole_seconds(seconds in -9_223_372_036i64..9_223_372_036) {
            let nanos = seconds * NANOS_PER_SECOND;
            prop_assert_eq!(parse_rfc3339(&format_rfc3339_seconds(nanos)), Ok(nanos));
        }
    }
}
