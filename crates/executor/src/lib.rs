//! The embeddable executor SDK for XXL-JOB-compatible scheduling centers ("admins") of all three protocol
//! generations.
//!
//! An application registers named [`JobHandler`]s (or closures), starts an [`Executor`], and the SDK does the
//! rest: it serves the executor endpoints (`/beat`, `/idleBeat`, `/run` or `/trigger`, `/kill`, `/log`) on an
//! embedded axum server, runs one job thread per job id with the block strategies, timeout and kill, writes
//! the execution log files, registers with every configured admin every 30 s, and reports results by
//! callback — batched, retried, and spooled to disk while no admin answers, so no result is lost across an
//! admin outage or an executor restart.
//!
//! What is not here: configuration loading and the built-in handlers (command line, HTTP, GLUE scripts) are
//! the ready executor binary's; the wire bodies are `xjob-protocol`'s.
//!
//! # Example
//!
//! ```no_run
//! use xjob_executor::{Executor, ExecutorConfig, JobContext, JobResult};
//!
//! # async fn demo() -> Result<(), xjob_executor::ExecutorError> {
//! let mut config = ExecutorConfig::new(
//!     "xxl-job-executor-sample",
//!     vec!["http://127.0.0.1:8080/xxl-job-admin".to_owned()],
//!     Some("default_token".to_owned()),
//! );
//! config.bind = "0.0.0.0:9999".parse().expect("a valid socket address");
//! config.log_path = "/var/log/xjob/jobhandler".into();
//! let handle = Executor::builder(config)
//!     .handler_fn("echo", |ctx: JobContext| async move {
//!         ctx.log(&format!("shard {} of {}", ctx.shard_index(), ctx.shard_total()));
//!         JobResult::success_with(ctx.param().to_owned())
//!     })
//!     .start()
//!     .await?;
//! // ... until the application stops:
//! handle.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! A runnable version of the same, against a stand-in admin, is the crate's `tests/it` suite.
//!
//! # Protocol generations
//!
//! With [`AdminGenerationMode::Fixed`] the executor speaks one generation. With the default
//! [`AdminGenerationMode::Auto`]:
//!
//! * **Requests to the executor** are answered in the generation they show: the `/trigger` path or an
//!   `XXL-JOB-APPNAME` header mean G3 (and the G3 token-plus-AppName check applies); an `Accept-Charset` of
//!   `UTF-8` means G2; an `Accept-Charset` of `application/json;charset=UTF-8` means G1. Anything else is
//!   answered in the redundant form every generation reads (payload under both `content` and `data`).
//! * **Calls to an admin** learn its generation once per admin address, before the first callback, with
//!   empty callbacks that change nothing on any admin: a bare `[]` is accepted by G1 admins (whose reply
//!   carries `content`) and G2 admins (reply with `data`); a G3 admin cannot parse an array and refuses it,
//!   but accepts `{"callbackList":[]}`. Heartbeats need no detection: their body is the same in every
//!   generation and both auth headers are always sent. What was learnt is forgotten when the admin stops
//!   answering, since another release may come back at that address.
#![warn(missing_docs)]

mod admin_client;
mod callback;
mod config;
mod context;
mod error;
mod execution_log;
mod executor;
mod handler;
mod jobs;
mod registry;
mod report;
mod server;

pub use config::{AccessToken, AdminGenerationMode, ExecutorConfig};
pub use context::{CancelReason, JobContext};
pub use error::ExecutorError;
pub use execution_log::ExecutionLog;
pub use executor::{Executor, ExecutorBuilder, ExecutorHandle};
pub use handler::{BoxFuture, FnHandler, GlueHandlerFactory, GlueSpec, JobHandler, JobResult};
pub use report::{ResultReporter, ResumedExecution};
pub use xjob_protocol::{CallbackItem, Generation, GlueType, JobId, LogId};
