//! `xjob cron next EXPR`: the next fire times of one expression, as `EPOCH_MS ISO-8601` lines.

use std::io::Write as _;

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat};
use chrono_tz::Tz;
use clap::Args;
use xjob_cron::CronExpr;

use crate::UsageError;

/// Arguments of `xjob cron next`.
#[derive(Debug, Args)]
pub struct NextArgs {
    /// The Quartz cron expression (6 or 7 fields; quote it).
    pub expr: String,
    /// IANA time zone to evaluate in [default: the machine's zone, or UTC when unknown].
    #[arg(long)]
    pub tz: Option<String>,
    /// Start after this instant, epoch milliseconds (exclusive) [default: now].
    #[arg(long, allow_negative_numbers = true)]
    pub after: Option<i64>,
    /// How many fire times to print; fewer are printed when the expression stops firing.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
}

pub(crate) fn run(args: &NextArgs) -> anyhow::Result<()> {
    let expr = CronExpr::parse(&args.expr).map_err(|error| UsageError(error.to_string()))?;
    let zone = match &args.tz {
        Some(name) => parse_zone(name)?,
        None => crate::cron::local_zone(),
    };
    let after = match args.after {
        Some(after) => after,
        None => crate::cron::now_ms()?,
    };
    let mut out = std::io::stdout().lock();
    for fire in expr.fire_times(after, zone).take(args.count) {
        writeln!(out, "{}", format_fire(fire, zone)).context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")
}

fn parse_zone(name: &str) -> Result<Tz, UsageError> {
    name.parse().map_err(|_| {
        UsageError(format!(
            "unknown time zone `{name}` (expected an IANA name such as Europe/Berlin)"
        ))
    })
}

/// `1700000000000 2023-11-14T23:13:20+01:00`.
fn format_fire(fire_ms: i64, zone: Tz) -> String {
    match DateTime::from_timestamp_millis(fire_ms) {
        Some(utc) => format!(
            "{fire_ms} {}",
            utc.with_timezone(&zone)
                .to_rfc3339_opts(SecondsFormat::AutoSi, false)
        ),
        // Fire times come from chrono-representable instants, so this is not reached; print the number alone.
        None => fire_ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::cron::next::{format_fire, parse_zone};

    #[test]
    fn fire_lines_carry_the_zone_offset() {
        let cases = [
            (
                1_700_000_000_000,
                "Europe/Berlin",
                "1700000000000 2023-11-14T23:13:20+01:00",
            ),
            (
                1_700_000_000_000,
                "UTC",
                "1700000000000 2023-11-14T22:13:20+00:00",
            ),
            (
                1_700_000_000_000,
                "Asia/Kolkata",
                "1700000000000 2023-11-15T03:43:20+05:30",
            ),
        ];
        for (fire, zone, expected) in cases {
            assert_eq!(format_fire(fire, parse_zone(zone).unwrap()), expected);
        }
    }

    #[test]
    fn unknown_zones_are_usage_errors() {
        let error = parse_zone("Mars/Olympus").unwrap_err();
        assert_eq!(
            error.0,
            "unknown time zone `Mars/Olympus` (expected an IANA name such as Europe/Berlin)"
        );
    }
}
