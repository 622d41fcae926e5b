//! Typed access to raw flag values, collecting every conversion error instead of stopping.

use std::net::IpAddr;
use std::time::Duration;

use super::parse::RawFlags;
use super::spec::{self, Kind};

/// Reads typed values out of [`RawFlags`], falling back to each flag's default, and remembers
/// every value that did not convert.
#[derive(Debug)]
pub struct Reader<'a> {
    raw: &'a RawFlags,
    pub errors: Vec<String>,
}

impl<'a> Reader<'a> {
    pub fn new(raw: &'a RawFlags) -> Self {
        Reader {
            raw,
            errors: Vec::new(),
        }
    }

    /// The last value given, else the default (`None` when both are empty).
    fn last(&self, name: &str) -> Option<String> {
        match self.raw.get(name).and_then(|values| values.last()) {
            Some(value) => Some(value.clone()),
            None => spec::find(name)
                .map(|spec| spec.default.to_string())
                .filter(|d| !d.is_empty()),
        }
    }

    fn convert<T>(
        &mut self,
        name: &str,
        fallback: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        debug_assert!(spec::find(name).is_some(), "unknown flag {name}");
        let Some(value) = self.last(name) else {
            return fallback;
        };
        match parse(&value) {
            Ok(parsed) => parsed,
            Err(reason) => {
                self.errors.push(format!(
                    "invalid argument \"{value}\" for \"--{name}\" flag: {reason}"
                ));
                fallback
            }
        }
    }

    pub fn bool(&mut self, name: &str) -> bool {
        self.convert(name, false, parse_go_bool)
    }

    pub fn string(&mut self, name: &str) -> String {
        self.last(name).unwrap_or_default()
    }

    pub fn optional_string(&mut self, name: &str) -> Option<String> {
        self.last(name).filter(|value| !value.is_empty())
    }

    pub fn int<T: TryFrom<i64>>(&mut self, name: &str, fallback: T) -> T {
        self.convert(name, fallback, |value| {
            let parsed = parse_go_int(value)?;
            T::try_from(parsed).map_err(|_| "value out of range".to_string())
        })
    }

    pub fn float(&mut self, name: &str) -> f64 {
        self.convert(name, 0.0, |value| {
            value
                .trim()
                .parse::<f64>()
                .map_err(|_| "invalid syntax".to_string())
        })
    }

    pub fn duration(&mut self, name: &str) -> Duration {
        self.convert(name, Duration::ZERO, |value| {
            let nanos =
                apimachinery::duration::parse_go_duration(value).map_err(|e| e.to_string())?;
            u64::try_from(nanos)
                .map(Duration::from_nanos)
                .map_err(|_| "must not be negative".to_string())
        })
    }

    pub fn ip(&mut self, name: &str, fallback: IpAddr) -> IpAddr {
        self.convert(name, fallback, |value| {
            value
                .parse::<IpAddr>()
                .map_err(|_| "invalid IP address".to_string())
        })
    }

    /// A list flag: each use is comma-separated and appends; given flags replace the default.
    pub fn strings(&mut self, name: &str) -> Vec<String> {
        let joined: Vec<String> = match self.raw.get(name) {
            Some(values) => values.to_vec(),
            None => spec::find(name)
                .map(|spec| vec![spec.default.to_string()])
                .unwrap_or_default(),
        };
        joined
            .iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// A Kubernetes quantity such as `64Mi`, as a whole number of bytes.
    pub fn quantity_bytes(&mut self, name: &str) -> u64 {
        self.convert(name, 0, |value| {
            let quantity = apimachinery::quantity::parse(value).map_err(|e| e.to_string())?;
            u64::try_from(quantity.value_ceil())
                .map_err(|_| "must be a non-negative size".to_string())
        })
    }

    /// Checks a flag whose value we accept but do not interpret still has the right type.
    pub fn check_kind(&mut self, name: &str) {
        let Some(spec) = spec::find(name) else { return };
        match spec.kind {
            Kind::Bool => {
                self.bool(name);
            }
            Kind::Int => {
                self.int::<i64>(name, 0);
            }
            Kind::Float => {
                self.float(name);
            }
            Kind::Duration => {
                self.duration(name);
            }
            Kind::Ip => {
                self.ip(name, IpAddr::from([0, 0, 0, 0]));
            }
            Kind::Quantity => {
                if self.last(name).is_some() {
                    self.quantity_bytes(name);
                }
            }
            Kind::String | Kind::Strings | Kind::Level | Kind::Opaque(_) => {}
        }
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err("invalid syntax".to_string()),
    }
}

/// pflag's integers: `strconv.ParseInt(s, 0, 64)`, so `0x`, `0o` and `0b` prefixes and `_` separators work.
fn parse_go_int(value: &str) -> Result<i64, String> {
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    let (radix, digits) = match digits.get(..2) {
        Some("0x" | "0X") => (16, &digits[2..]),
        Some("0o" | "0O") => (8, &digits[2..]),
        Some("0b" | "0B") => (2, &digits[2..]),
        _ => (10, digits),
    };
    let cleaned: String = digits.chars().filter(|c| *c != '_').collect();
    if cleaned.is_empty() {
        return Err("invalid syntax".to_string());
    }
    let magnitude = i64::from_str_radix(&cleaned, radix).map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
            "value out of range".to_string()
        }
        _ => "invalid syntax".to_string(),
    })?;
    Ok(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bools() {
        for yes in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(yes), Ok(true));
        }
        for no in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(no), Ok(false));
        }
        assert!(parse_go_bool("yes").is_err());
    }

    #[test]
    fn go_ints() {
        assert_eq!(parse_go_int("10250"), Ok(10250));
        assert_eq!(parse_go_int("0x10"), Ok(16));
        assert_eq!(parse_go_int("-1_000"), Ok(-1000));
        assert!(parse_go_int("12a").is_err());
        assert!(parse_go_int("").is_err());
        assert_eq!(
            parse_go_int("99999999999999999999"),
            Err("value out of range".to_string())
        );
    }

    #[test]
    fn conversion_errors_name_the_flag_and_value_and_fall_back() {
        let raw =
            RawFlags::from_pairs(&[("kubelet-port", "http"), ("kubelet-insecure-tls", "maybe")]);
        let mut reader = Reader::new(&raw);
        assert_eq!(reader.int::<u16>("kubelet-port", 10250), 10250);
        assert!(!reader.bool("kubelet-insecure-tls"));
        assert_eq!(
            reader.errors,
            [
                "invalid argument \"http\" for \"--kubelet-port\" flag: invalid syntax",
                "invalid argument \"maybe\" for \"--kubelet-insecure-tls\" flag: invalid syntax",
            ]
        );
    }

    #[test]
    fn list_flags_append_and_replace_the_default() {
        let raw = RawFlags::default();
        let mut reader = Reader::new(&raw);
        assert_eq!(
            reader.strings("authorization-always-allow-paths"),
            ["/healthz", "/readyz", "/livez"]
        );
        let raw = RawFlags::from_pairs(&[
            ("authorization-always-allow-paths", "/metrics"),
            ("authorization-always-allow-paths", "/livez,/readyz"),
        ]);
        let mut reader = Reader::new(&raw);
        assert_eq!(
            reader.strings("authorization-always-allow-paths"),
            ["/metrics", "/livez", "/readyz"]
        );
    }
}
