//! The `xjob` command line: one module per subcommand, each holding its clap arguments and the little
//! glue between them and the library crate that does the work. `main.rs` only parses and dispatches. The
//! scheduling logic itself lives in the library crates (`xjob-cron`, `xjob-admin` and the executors), never here.

pub mod admin;
pub mod cron;
mod failure;
pub mod service;

pub use crate::failure::UsageError;
