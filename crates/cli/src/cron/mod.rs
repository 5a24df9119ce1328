//! `xjob cron …`: evaluate Quartz cron expressions from the command line (`next`) or as a JSON Lines filter
//! (`batch`). The evaluation itself is `xjob-cron`'s; this module handles arguments, defaults and output.

pub mod batch;
mod next;

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use chrono_tz::Tz;
use clap::Subcommand;

pub use crate::cron::next::NextArgs;

/// The `cron` subcommands.
#[derive(Debug, Subcommand)]
pub enum CronCommand {
    /// Print the next fire times of one expression, one `EPOCH_MS ISO-8601` line each.
    Next(NextArgs),
    /// Read JSON Lines requests on stdin, write one JSON line of fire times (or an error) per request.
    ///
    /// Each request is `{"expr": "...", "tz": "Europe/Berlin", "after_ms": 1700000000000, "count": 5}`;
    /// `tz` defaults to the machine's zone, `after_ms` to now and `count` to 1 (at most 1000). Each answer
    /// is `{"expr": "...", "next_ms": [...]}` or `{"expr": "...", "error": "..."}`, in input order.
    Batch,
}

/// Runs a `cron` subcommand.
///
/// # Errors
/// [`UsageError`](crate::UsageError) for an invalid expression or zone; other errors for I/O failures.
pub fn run(command: CronCommand) -> anyhow::Result<()> {
    match command {
        CronCommand::Next(args) => next::run(&args),
        CronCommand::Batch => {
            let defaults = batch::Defaults {
                zone: local_zone(),
                after_ms: now_ms()?,
            };
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            batch::run(stdin, stdout, defaults).context("processing cron requests")?;
            Ok(())
        }
    }
}

/// The machine's IANA zone, or UTC when it cannot be determined or is not a zone `chrono-tz` knows.
pub fn local_zone() -> Tz {
    iana_time_zone::get_timezone()
        .ok()
        .and_then(|name| name.parse().ok())
        .unwrap_or(Tz::UTC)
}

/// The current time in epoch milliseconds.
fn now_ms() -> anyhow::Result<i64> {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?;
    i64::try_from(elapsed.as_millis()).context("the system clock is out of range")
}
