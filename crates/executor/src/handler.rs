//! What user code plugs into the executor: named job handlers ([`JobHandler`], closures through
//! [`FnHandler`]), their result ([`JobResult`]), and the factory for GLUE jobs ([`GlueHandlerFactory`]) with
//! the source it receives ([`GlueSpec`]).
//!
//! How and when handlers run (job threads, timeouts, kill) is in the job-thread module; what a running handler
//! can see is [`crate::JobContext`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use xjob_protocol::{GlueType, JobId, code};

use crate::JobContext;

/// A boxed, sendable future: what [`JobHandler::run`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A named job handler. Executed on the executor's tokio runtime, one execution at a time per job id.
///
/// When [`JobContext::cancelled`] trips (kill, timeout, replacement, shutdown) the handler should stop
/// promptly — killing any child processes it started — and return; the executor then reports the result
/// the cancellation implies, whatever the handler returns. A panic is reported as a failed execution.
pub trait JobHandler: Send + Sync + 'static {
    /// Runs one execution.
    fn run<'a>(&'a self, ctx: JobContext) -> BoxFuture<'a, JobResult>;

    /// The job parameter as the `Param:` start line of the execution log shows it. The default shows it
    /// unchanged; a handler whose parameters may carry literal secrets (e.g. manifests with `env` values)
    /// returns a masked copy.
    fn loggable_param(&self, param: &str) -> String {
        param.to_owned()
    }
}

/// A [`JobHandler`] made from an async closure; see [`crate::ExecutorBuilder::handler_fn`].
pub struct FnHandler<F>(pub F);

/// The result of one execution, reported to the admin by callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobResult {
    /// [`code::SUCCESS`], [`code::FAILURE`], [`code::TIMEOUT`] or any positive code (stored as sent). A code
    /// ≤ 0 is reported as a failure with upstream's `job handle result lost.`.
    pub code: i32,
    /// The result message (`handleMsg`); upstream truncates it to 50 000 characters.
    pub msg: Option<String>,
}

/// The GLUE source of a trigger whose `glueType` is not `BEAN`.
#[derive(Clone, PartialEq, Eq)]
pub struct GlueSpec {
    /// The GLUE type.
    pub glue_type: GlueType,
    /// The source text as the admin sent it.
    pub source: String,
    /// Epoch milliseconds of the last source change (`glueUpdatetime`); a change replaces the job's thread.
    pub updated_at_ms: i64,
}

/// Builds handlers for GLUE jobs. The executor calls it when a trigger's `glueType` is not `BEAN` and caches
/// the handler per job id until `updated_at_ms` (or the type) changes; then the job's thread is replaced, as
/// upstream does.
pub trait GlueHandlerFactory: Send + Sync + 'static {
    /// A handler for `glue`, or the message the trigger is refused with (e.g. a compile error).
    fn handler(&self, job_id: JobId, glue: &GlueSpec) -> Result<Arc<dyn JobHandler>, String>;
}

impl<F, Fut> JobHandler for FnHandler<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = JobResult> + Send + 'static,
{
    fn run<'a>(&'a self, ctx: JobContext) -> BoxFuture<'a, JobResult> {
        Box::pin((self.0)(ctx))
    }
}

impl JobResult {
    /// Success without message.
    pub fn success() -> Self {
        JobResult {
            code: code::SUCCESS,
            msg: None,
        }
    }

    /// Success with a message.
    pub fn success_with(msg: impl Into<String>) -> Self {
        JobResult {
            code: code::SUCCESS,
            msg: Some(msg.into()),
        }
    }

    /// Failure (500) with a message.
    pub fn fail(msg: impl Into<String>) -> Self {
        JobResult {
            code: code::FAILURE,
            msg: Some(msg.into()),
        }
    }

    /// Timeout (502) with a message.
    pub fn timeout(msg: impl Into<String>) -> Self {
        JobResult {
            code: code::TIMEOUT,
            msg: Some(msg.into()),
        }
    }

    /// Whether the code is success.
    pub fn is_success(&self) -> bool {
        self.code == code::SUCCESS
    }
}

// GLUE sources may embed credentials; Debug shows only their size.
impl fmt::Debug for GlueSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlueSpec")
            .field("glue_type", &self.glue_type)
            .field("source_len", &self.source.len())
            .field("updated_at_ms", &self.updated_at_ms)
            .finish()
    }
}
