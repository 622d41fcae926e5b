//! `metrics-server`: scrapes every kubelet and serves `metrics.k8s.io/v1beta1` as an aggregated
//! extension apiserver. This binary only wires the crates together:
//! cluster watches → kubelet scraper → metric store → API.

mod allocator;
mod app;
mod flags;
mod kube_config;
mod logging;
mod manager;
mod node_events;
mod timeliness;

use std::process::ExitCode;

fn main() -> ExitCode {
    allocator::limit_arenas();
    let options = match flags::parse_args(std::env::args_os()) {
        Ok(options) => options,
        Err(flags::ParseOutcome::Help(help)) => {
            println!("{help}");
            return ExitCode::SUCCESS;
        }
        Err(flags::ParseOutcome::Errors(errors)) => {
            for error in errors {
                eprintln!("Error: {error}");
            }
            eprintln!("Run 'metrics-server --help' for usage.");
            return ExitCode::from(2);
        }
    };
    if options.show_version {
        println!("v{}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    logging::init(&options.logging);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("Error: unable to start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(app::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
