//! Log output: klog-style verbosity (`-v`) mapped onto tracing levels, text or JSON.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

use crate::flags::{LogFormat, LoggingOptions};

/// Upstream logs scrape results at V(1)/V(2)/V(6) and readiness changes at V(2); `-v=2` and up
/// shows our debug lines, `-v=6` and up our trace lines. `RUST_LOG` overrides everything.
fn filter(verbosity: u8) -> EnvFilter {
    if let Ok(filter) = EnvFilter::try_from_default_env() {
        return filter;
    }
    let ours = match verbosity {
        0..=1 => "info",
        2..=5 => "debug",
        _ => "trace",
    };
    // Dependencies stay quiet unless the operator asks for a lot.
    let theirs = if verbosity >= 8 { "debug" } else { "warn" };
    EnvFilter::new(format!(
        "{theirs},metrics_server={ours},kubelet_scraper={ours},metric_store={ours},cluster_state={ours},generic_apiserver={ours},metrics_api={ours}"
    ))
}

pub fn init(options: &LoggingOptions) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(options.verbosity))
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    // With split streams, errors and warnings go to stderr and the rest to stdout.
    let result = match (options.format, options.split_stream) {
        (LogFormat::Json, true) => builder
            .json()
            .with_writer(
                std::io::stderr
                    .with_max_level(tracing::Level::WARN)
                    .or_else(std::io::stdout),
            )
            .try_init(),
        (LogFormat::Json, false) => builder.json().with_writer(std::io::stderr).try_init(),
        (LogFormat::Text, true) => builder
            .with_writer(
                std::io::stderr
                    .with_max_level(tracing::Level::WARN)
                    .or_else(std::io::stdout),
            )
            .try_init(),
        (LogFormat::Text, false) => builder.with_writer(std::io::stderr).try_init(),
    };
    if let Err(error) = result {
        eprintln!("logging was already initialised: {error}");
    }
}
