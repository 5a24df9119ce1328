//! Reporting results of executions that no job thread runs: [`ResultReporter`], for handlers that pick up
//! work again after an executor restart (for example a Kubernetes pod that kept running while the executor
//! was down). Results go through the same callback queue and disk spool as every other result, so they
//! survive admin outages and further restarts alike.
//!
//! Running executions report through their job thread; this is only for work found outside one.

use std::path::PathBuf;
use std::sync::Arc;

use xjob_protocol::{CallbackItem, LogId};

use crate::callback::CallbackSink;
use crate::execution_log::{ExecutionLog, LogWriter};
use crate::handler::JobResult;
use crate::jobs;

/// Thread name shown in log lines written through a reporter's [`ResultReporter::execution_log`].
const RESUMED_THREAD_NAME: &str = "xxl-job, resumed execution";

/// Reports the result of an execution by its log id, outside any job thread. Cheap to clone; obtained from
/// [`crate::ExecutorHandle::reporter`].
#[derive(Clone)]
pub struct ResultReporter {
    sink: CallbackSink,
    log_root: Arc<PathBuf>,
    writer: LogWriter,
}

impl ResultReporter {
    pub(crate) fn new(sink: CallbackSink, log_root: PathBuf, writer: LogWriter) -> Self {
        ResultReporter {
            sink,
            log_root: Arc::new(log_root),
            writer,
        }
    }

    /// The log of execution `log_id` triggered at `log_date_time` (epoch ms): the same file the job thread
    /// wrote (`<logpath>/yyyy-MM-dd/<logId>.log`), appended to.
    pub fn execution_log(&self, log_id: LogId, log_date_time: i64) -> ExecutionLog {
        ExecutionLog::new(
            &self.writer,
            &self.log_root,
            log_date_time,
            log_id,
            RESUMED_THREAD_NAME.to_owned(),
        )
    }

    /// Reports `result` for execution `log_id`: normalised like a handler's result (a code ≤ 0 becomes
    /// `job handle result lost.`, long messages are truncated), written as the closing line of its log, and
    /// queued for the callback to the admin. Reporting twice is harmless: admins ignore a second result for
    /// the same log.
    pub fn report(&self, log_id: LogId, log_date_time: i64, result: JobResult) {
        let result = jobs::normalize(result);
        jobs::log_result_line(&self.execution_log(log_id, log_date_time), &result);
        // Queued once the closing line is in the file, as for results of job threads.
        let sink = self.sink.clone();
        let item = CallbackItem {
            log_id,
            log_date_time,
            handle_code: result.code,
            handle_msg: result.msg,
        };
        self.writer.then(move || sink.report(item));
    }
}
