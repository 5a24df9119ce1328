//! The ready executor: an XXL-JOB-compatible executor process with built-in handlers for command lines
//! (`commandJobHandler`), HTTP calls (`httpJobHandler`) and GLUE scripts, configured by file, environment and
//! flags. The executor machinery itself (endpoints, job threads, logs, callbacks) is the SDK's.
// The handlers are connected to the executor in a following change; until then nothing calls them.
#![allow(dead_code)]

mod address;
mod command;
mod config;
mod execution;
mod glue;
mod http_call;
mod process;

pub use config::{AdminGeneration, ExecutorArgs, Secret};
