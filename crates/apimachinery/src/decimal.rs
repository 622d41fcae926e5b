//! A fixed-capacity text buffer for the allocation-free formatters.
//!
//! Quantities, times and durations are formatted once per object on the hot
//! JSON path. Building the text as bytes on the stack and validating it as
//! UTF-8 once at the end is measurably cheaper than many small `fmt::Write`
//! calls, and hands serde a `&str` without allocating.

use std::fmt;

/// Text of at most `N` bytes, built on the stack.
#[derive(Debug, Clone, Copy)]
pub struct TextBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Default for TextBuf<N> {
    fn default() -> Self {
        TextBuf::new()
    }
}

impl<const N: usize> TextBuf<N> {
    /// An empty buffer.
    pub fn new() -> Self {
        TextBuf {
            buf: [0; N],
            len: 0,
        }
    }

    /// Appends `s`. Capacities are sized for the longest possible output, so
    /// nothing is ever dropped; if it were, `as_str` would still be valid text.
    pub(crate) fn push_str(&mut self, s: &str) {
        let end = (self.len + s.len()).min(N);
        let take = end - self.len;
        self.buf[self.len..end].copy_from_slice(&s.as_bytes()[..take]);
        self.len = end;
    }

    /// Appends one ASCII byte.
    pub(crate) fn push_ascii(&mut self, byte: u8) {
        if self.len < N && byte.is_ascii() {
            self.buf[self.len] = byte;
            self.len += 1;
        }
    }

    /// Appends `value` in decimal.
    pub(crate) fn push_u64(&mut self, value: u64) {
        self.push_u64_padded(value, 1);
    }

    /// Appends `value` in decimal, zero-padded to at least `width` digits (`width` ≤ 20).
    pub(crate) fn push_u64_padded(&mut self, mut value: u64, width: usize) {
        let mut digits = [b'0'; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            // `value % 10` is below 10, so the cast cannot truncate.
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        let start = start.min(digits.len().saturating_sub(width));
        for &digit in &digits[start..] {
            self.push_ascii(digit);
        }
    }

    /// Appends a value below 100 as exactly two digits.
    pub(crate) fn push_two_digits(&mut self, value: u64) {
        // Both digits are below 10, so the casts cannot truncate.
        self.push_ascii(b'0' + (value / 10 % 10) as u8);
        self.push_ascii(b'0' + (value % 10) as u8);
    }

    /// The text; validated once here.
    pub fn as_str(&self) -> &str {
        match std::str::from_utf8(&self.buf[..self.len]) {
            Ok(text) => text,
            // Only reachable if a multi-byte character was cut at capacity.
            Err(error) => std::str::from_utf8(&self.buf[..error.valid_up_to()]).unwrap_or_default(),
        }
    }
}

impl<const N: usize> fmt::Write for TextBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.len + s.len() > N {
            return Err(fmt::Error);
        }
        self.push_str(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    #[test]
    fn pushes_integers_and_text() {
        let mut text = TextBuf::<64>::new();
        for value in [0, 7, 10, 1234567890, u64::MAX] {
            text.push_u64(value);
            text.push_ascii(b' ');
        }
        assert_eq!(text.as_str(), format!("0 7 10 1234567890 {} ", u64::MAX));
        let mut padded = TextBuf::<16>::new();
        padded.push_u64_padded(42, 4);
        padded.push_u64_padded(12345, 2);
        padded.push_str("µ");
        padded.push_two_digits(7);
        assert_eq!(padded.as_str(), "004212345µ07");
    }

    #[test]
    fn never_exceeds_capacity_or_breaks_utf8() {
        let mut small = TextBuf::<4>::new();
        assert!(small.write_str("abc").is_ok());
        assert!(small.write_str("de").is_err());
        assert_eq!(small.as_str(), "abc");
        small.push_str("µ"); // two bytes, one fits: the partial character is not shown
        assert_eq!(small.as_str(), "abc");
        small.push_u64(99);
        assert_eq!(small.as_str(), "abc");
    }
}
