//! The ready executor: an XXL-JOB-compatible executor process with built-in handlers for command lines
//! (`commandJobHandler`), HTTP calls (`httpJobHandler`) and GLUE scripts, configured by file, environment and
//! flags. The executor machinery itself (endpoints, job threads, logs, callbacks) is the SDK's.

mod address;
mod app;
mod command;
mod config;
mod execution;
mod glue;
mod handlers;
mod http_call;
mod process;

pub use app::{ReadyExecutor, run, start};
pub use config::{AdminGeneration, ExecutorArgs, Secret};
