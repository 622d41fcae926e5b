//! Command-line flags: upstream metrics-server's names, defaults and validation.
//!
//! Unlike upstream, which panics on the first invalid option, every problem is collected and
//! reported together, and the process exits with status 2.

mod options;
mod parse;
mod reader;
#[cfg(test)]
mod readme;
pub mod spec;

pub use options::{KubeletOptions, LogFormat, LoggingOptions, Options};
pub use parse::{ParseOutcome, RawFlags};

/// Parses and validates `args` (including the program name).
pub fn parse_args<I, T>(args: I) -> Result<Options, ParseOutcome>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let raw = RawFlags::parse(args)?;
    Options::from_raw(&raw).map_err(ParseOutcome::Errors)
}
