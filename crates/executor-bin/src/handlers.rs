//! The built-in handlers as the SDK sees them: each wraps one of the handler modules (`command`, `http_call`,
//! `glue`) and translates between the SDK's [`JobContext`]/[`JobResult`] and the crate's own
//! [`Execution`]/[`Verdict`]. No job logic lives here.

use std::sync::Arc;

use xjob_executor::{
    BoxFuture, ExecutionLog, GlueHandlerFactory, GlueSpec, JobContext, JobHandler, JobResult,
};
use xjob_protocol::JobId;

use crate::command::CommandRunner;
use crate::execution::{Execution, Verdict};
use crate::glue::{GlueScript, GlueScripts};
use crate::http_call::HttpCaller;
use crate::process::LogSink;

/// `commandJobHandler`.
pub(crate) struct CommandHandler(pub(crate) CommandRunner);

/// `httpJobHandler`.
pub(crate) struct HttpHandler(pub(crate) HttpCaller);

/// One version of one job's GLUE script.
struct ScriptHandler(GlueScript);

/// Makes a [`ScriptHandler`] for each GLUE job and source version.
pub(crate) struct ScriptFactory(pub(crate) GlueScripts);

impl JobHandler for CommandHandler {
    fn run<'a>(&'a self, context: JobContext) -> BoxFuture<'a, JobResult> {
        Box::pin(async move { result(self.0.run(&execution(&context)).await) })
    }
}

impl JobHandler for HttpHandler {
    fn run<'a>(&'a self, context: JobContext) -> BoxFuture<'a, JobResult> {
        Box::pin(async move { result(self.0.run(&execution(&context)).await) })
    }
}

impl JobHandler for ScriptHandler {
    fn run<'a>(&'a self, context: JobContext) -> BoxFuture<'a, JobResult> {
        Box::pin(async move { result(self.0.run(&execution(&context)).await) })
    }
}

impl GlueHandlerFactory for ScriptFactory {
    fn handler(&self, job_id: JobId, glue: &GlueSpec) -> Result<Arc<dyn JobHandler>, String> {
        let script = self
            .0
            .script(job_id, glue.glue_type, &glue.source, glue.updated_at_ms)?;
        Ok(Arc::new(ScriptHandler(script)))
    }
}

impl LogSink for ExecutionLog {
    fn line(&self, text: &str) {
        ExecutionLog::line(self, text);
    }

    /// Process output goes into the log file as it is, without the time and caller prefix, as upstream
    /// copies it.
    fn output(&self, text: &str) {
        let mut line = String::with_capacity(text.len() + 1);
        line.push_str(text);
        line.push('\n');
        ExecutionLog::raw(self, line.as_bytes());
    }
}

fn execution(context: &JobContext) -> Execution {
    Execution {
        param: context.param().to_owned(),
        shard_index: context.shard_index(),
        shard_total: context.shard_total(),
        log: Arc::new(context.logger()),
        cancel: context.cancelled(),
    }
}

fn result(verdict: Verdict) -> JobResult {
    match verdict {
        Verdict::Success => JobResult::success(),
        Verdict::Fail(message) => JobResult::fail(message),
    }
}
