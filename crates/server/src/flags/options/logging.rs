//! Logging flags: the log format, verbosity and whether errors go to a stream of their own,
//! which `crate::logging` sets the subscriber up with.

use super::super::reader::Reader;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct LoggingOptions {
    pub format: LogFormat,
    pub verbosity: u8,
    pub split_stream: bool,
}

impl LoggingOptions {
    pub(super) fn from_flags(r: &mut Reader<'_>) -> Self {
        LoggingOptions {
            format: log_format(r),
            verbosity: r.int("v", 0),
            split_stream: r.bool("log-json-split-stream") || r.bool("log-text-split-stream"),
        }
    }
}

fn log_format(r: &mut Reader<'_>) -> LogFormat {
    match r.string("logging-format").as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            r.errors.push(format!(
                "invalid argument \"{other}\" for \"--logging-format\" flag: permitted formats are \"json\", \"text\""
            ));
            LogFormat::Text
        }
    }
}
