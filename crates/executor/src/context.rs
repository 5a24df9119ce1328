//! What one execution knows ([`JobContext`]) and why it may be asked to stop early ([`CancelReason`]).
//!
//! The execution log file itself is [`crate::ExecutionLog`]; the job thread that creates contexts and
//! trips their cancellation is in the job-thread module.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use xjob_protocol::{JobId, LogId};

use crate::execution_log::ExecutionLog;
use crate::handler::GlueSpec;

/// What one execution knows. Cheap to clone (an `Arc` inside), `Send + Sync`.
#[derive(Clone, Debug)]
pub struct JobContext(Arc<ContextInner>);

/// Why an execution was cancelled before it returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// The admin called `/kill` for the job; reported as 500 with upstream's kill text.
    Killed,
    /// The execution ran past `executorTimeout`; reported as 502 `job execute timeout `.
    TimedOut,
    /// A newer trigger replaced the job's thread (`COVER_EARLY`, another handler, new GLUE source).
    Replaced,
    /// The executor is shutting down.
    Shutdown,
}

/// A cancellation whose reason is recorded before the token trips, so a handler that sees the token
/// cancelled always finds a reason.
#[derive(Debug, Default)]
pub(crate) struct Cancellation {
    token: CancellationToken,
    reason: OnceLock<CancelReason>,
}

#[derive(Debug)]
struct ContextInner {
    job_id: JobId,
    log_id: LogId,
    log_date_time: i64,
    param: String,
    shard_index: u32,
    shard_total: u32,
    timeout: Option<Duration>,
    glue: Option<GlueSpec>,
    log: ExecutionLog,
    cancellation: Arc<Cancellation>,
}

/// The parts of a context the job thread fills in from the trigger.
pub(crate) struct ContextParts {
    pub(crate) job_id: JobId,
    pub(crate) log_id: LogId,
    pub(crate) log_date_time: i64,
    pub(crate) param: String,
    pub(crate) shard_index: u32,
    pub(crate) shard_total: u32,
    pub(crate) timeout: Option<Duration>,
    pub(crate) glue: Option<GlueSpec>,
    pub(crate) log: ExecutionLog,
    pub(crate) cancellation: Arc<Cancellation>,
}

impl JobContext {
    pub(crate) fn new(parts: ContextParts) -> Self {
        JobContext(Arc::new(ContextInner {
            job_id: parts.job_id,
            log_id: parts.log_id,
            log_date_time: parts.log_date_time,
            param: parts.param,
            shard_index: parts.shard_index,
            shard_total: parts.shard_total,
            timeout: parts.timeout,
            glue: parts.glue,
            log: parts.log,
            cancellation: parts.cancellation,
        }))
    }

    /// The job id.
    pub fn job_id(&self) -> JobId {
        self.0.job_id
    }

    /// The id of this execution's log row.
    pub fn log_id(&self) -> LogId {
        self.0.log_id
    }

    /// Trigger time in epoch milliseconds (`logDateTime`).
    pub fn log_date_time(&self) -> i64 {
        self.0.log_date_time
    }

    /// The job parameter (`executorParams`), `""` when absent.
    pub fn param(&self) -> &str {
        &self.0.param
    }

    /// Shard index (`broadcastIndex`), 0 when absent.
    pub fn shard_index(&self) -> u32 {
        self.0.shard_index
    }

    /// Shard count (`broadcastTotal`), 1 when absent.
    pub fn shard_total(&self) -> u32 {
        self.0.shard_total
    }

    /// The execution timeout, when `executorTimeout > 0`.
    pub fn timeout(&self) -> Option<Duration> {
        self.0.timeout
    }

    /// The GLUE source; `None` for `BEAN` jobs.
    pub fn glue(&self) -> Option<&GlueSpec> {
        self.0.glue.as_ref()
    }

    /// Appends one line, timestamped like upstream, to this execution's log file. Never panics; a write
    /// failure is reported through `tracing` once per execution.
    #[track_caller]
    pub fn log(&self, line: &str) {
        self.0.log.line(line);
    }

    /// A handle with the same [`ExecutionLog::line`] for tasks the handler spawns.
    pub fn logger(&self) -> ExecutionLog {
        self.0.log.clone()
    }

    /// The path of this execution's log file (`<logpath>/yyyy-MM-dd/<logId>.log`).
    pub fn log_file(&self) -> &Path {
        self.0.log.path()
    }

    /// A token tripped by kill, timeout, replacement of the job's thread, or shutdown.
    pub fn cancelled(&self) -> CancellationToken {
        self.0.cancellation.token.clone()
    }

    /// Why [`cancelled`](Self::cancelled) tripped; `None` while it has not.
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.0.cancellation.reason()
    }
}

impl Cancellation {
    /// Records `reason` (the first reason wins) and trips the token.
    pub(crate) fn cancel(&self, reason: CancelReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    pub(crate) fn reason(&self) -> Option<CancelReason> {
        self.reason.get().copied()
    }

    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }
}
