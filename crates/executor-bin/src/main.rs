//! `xjob-executor`: the ready executor on its own, for images that need no admin. The same as
//! `xjob executor`; see the crate documentation for settings.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use xjob_executor_bin::ExecutorArgs;

/// The ready XXL-JOB-compatible executor.
#[derive(Parser)]
#[command(name = "xjob-executor", version)]
struct Cli {
    #[command(flatten)]
    args: ExecutorArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(xjob_executor_bin::run(cli.args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
