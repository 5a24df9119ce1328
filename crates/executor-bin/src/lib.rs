//! The ready executor: an XXL-JOB-compatible executor process with built-in handlers for command lines
//! (`commandJobHandler`), HTTP calls (`httpJobHandler`) and GLUE scripts, configured by file, environment and
//! flags. The executor machinery itself (endpoints, job threads, logs, callbacks) is the SDK's.
//!
//! A binary embeds it with [`ExecutorArgs`] (clap flags, each with an `XJOB_EXECUTOR_…` variable) and
//! [`run`], which returns when SIGTERM or Ctrl-C has stopped the executor gracefully; tests use [`start`]
//! and [`ReadyExecutor::shutdown`]. Reading order: `app.rs` (composition), `config.rs` (settings),
//! `handlers.rs` (SDK adapters), then one module per handler (`command`, `http_call`, `glue`) and `process`,
//! which runs child processes in their own process group so that nothing outlives a job.

mod address;
mod app;
mod command;
mod config;
mod execution;
mod glue;
mod handlers;
mod http_call;
mod process;

pub use app::{ReadyExecutor, run, shutdown_signal, start};
pub use config::{AdminGeneration, ExecutorArgs, Secret};
