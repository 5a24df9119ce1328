//! Quartz-dialect cron expressions.
