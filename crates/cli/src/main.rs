//! The `xjob` binary: parses the command line and hands each subcommand to its module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xjob::UsageError;

// See the workspace manifest for why the binary does not use the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// xjob: a distributed job scheduler compatible with XXL-JOB.
#[derive(Debug, Parser)]
#[command(name = "xjob", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The scheduling center: console, APIs, scheduler and monitors; `admin reset-password USER` too.
    Admin(Box<xjob::admin::AdminCommand>),
    /// Quartz cron expressions: next fire times, one or in bulk.
    #[command(subcommand)]
    Cron(xjob::cron::CronCommand),
    /// The ready executor: command-line, HTTP and GLUE script handlers for an XXL-JOB-compatible admin.
    Executor(xjob_executor_bin::ExecutorArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Admin(command) => xjob::service::run(xjob::admin::run(*command)),
        Command::Cron(command) => xjob::cron::run(command),
        Command::Executor(args) => xjob::service::run(xjob_executor_bin::run(args)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line on stderr; the cause chain joined with ": ".
            eprintln!("xjob: {error:#}");
            if error.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
