//! Pieces of Prometheus text handling both `/metrics/resource` decoders share: the error type,
//! UTF-8 validation, line splitting and the value and timestamp token rules. Sharing them keeps
//! the two decoders' answers identical wherever they agree on how a line splits into tokens.

/// A `/metrics/resource` body that cannot be used, and the 1-based line where that was found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ResourceDecodeError {
    pub line: usize,
    pub kind: ResourceErrorKind,
}

impl ResourceDecodeError {
    pub(crate) fn new(line: usize, kind: ResourceErrorKind) -> Self {
        ResourceDecodeError { line, kind }
    }
}

/// What is wrong with the line a [`ResourceDecodeError`] points at.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResourceErrorKind {
    /// The line is not a sample, a comment or blank, as the Prometheus text format defines them.
    #[error("syntax error: {0}")]
    Syntax(&'static str),
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// NaN, an infinity or a negative number in a family that is used.
    #[error("{family} has value {value}, but it must be a finite number that is not negative")]
    InvalidValue { family: &'static str, value: String },
    #[error("negative timestamp {0}")]
    NegativeTimestamp(i64),
    #[error("{family} has no (or an empty) {label} label")]
    MissingLabel {
        family: &'static str,
        label: &'static str,
    },
    /// `resource_scrape_error` / `scrape_error` not 0: the kubelet's own stats provider failed.
    #[error("kubelet reported an error collecting metrics ({family} {value})")]
    KubeletReportedError { family: &'static str, value: String },
}

/// Checks the whole body once (much cheaper than per line) and names the line of the first
/// invalid byte.
pub(crate) fn validate_utf8(body: &[u8]) -> Result<&str, ResourceDecodeError> {
    std::str::from_utf8(body).map_err(|e| {
        let before = body.get(..e.valid_up_to()).unwrap_or_default();
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        ResourceDecodeError::new(line, ResourceErrorKind::InvalidUtf8)
    })
}

/// Lines with their 1-based numbers; a `\r` before the `\n` is dropped so CRLF bodies work.
pub(crate) fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .enumerate()
        .map(|(index, line)| (index + 1, line))
}

/// Parses a sample value the way Go's `strconv.ParseFloat` reads the forms Prometheus writes:
/// decimals, exponents (`1.5e+09`), `NaN`, `+Inf`/`-Inf` (any case).
pub(crate) fn parse_value(token: &str) -> Result<f64, ResourceErrorKind> {
    token
        .parse::<f64>()
        .map_err(|_| ResourceErrorKind::Syntax("invalid sample value"))
}

/// Parses a sample timestamp: an integer count of milliseconds, never negative (upstream's
/// lexer rejects negative timestamps too).
pub(crate) fn parse_timestamp(token: &str) -> Result<i64, ResourceErrorKind> {
    let ms = token
        .parse::<i64>()
        .map_err(|_| ResourceErrorKind::Syntax("invalid timestamp"))?;
    if ms < 0 {
        return Err(ResourceErrorKind::NegativeTimestamp(ms));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_error_names_the_line_of_the_bad_byte() {
        let body = b"a 1\nb 2\nc \xff 3\n";
        let err = validate_utf8(body).unwrap_err();
        assert_eq!(
            err,
            ResourceDecodeError::new(3, ResourceErrorKind::InvalidUtf8)
        );
    }

    #[test]
    fn crlf_is_stripped_and_lines_are_numbered_from_one() {
        let lines: Vec<_> = numbered_lines("a\r\nb\n\nc").collect();
        assert_eq!(lines, vec![(1, "a"), (2, "b"), (3, ""), (4, "c")]);
    }

    #[test]
    fn go_float_forms_parse() {
        assert_eq!(parse_value("1.5e+09").unwrap(), 1.5e9);
        assert_eq!(parse_value("3.328466944e+09").unwrap(), 3_328_466_944.0);
        assert!(parse_value("NaN").unwrap().is_nan());
        assert_eq!(parse_value("+Inf").unwrap(), f64::INFINITY);
        assert_eq!(parse_value("-Inf").unwrap(), f64::NEG_INFINITY);
        assert!(parse_value("1,5").is_err());
        assert!(parse_value("").is_err());
    }

    #[test]
    fn timestamps_are_non_negative_integers() {
        assert_eq!(parse_timestamp("1749556811482"), Ok(1_749_556_811_482));
        assert_eq!(
            parse_timestamp("-62135596800000"),
            Err(ResourceErrorKind::NegativeTimestamp(-62_135_596_800_000))
        );
        assert!(matches!(
            parse_timestamp("1.5"),
            Err(ResourceErrorKind::Syntax(_))
        ));
    }
}
