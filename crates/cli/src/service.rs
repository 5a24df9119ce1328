//! What every long-running subcommand (`executor`, `admin`) needs around its library entry point:
//! the diagnostics subscriber (installed here, once, since library crates never install one) and a
//! multi-threaded tokio runtime to run the service on.

use std::future::Future;

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;

/// Installs the `tracing` subscriber (level from `RUST_LOG`, `info` by default, written to stderr) and runs
/// `service` to completion on a multi-threaded runtime.
pub fn run(service: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(service)
}
