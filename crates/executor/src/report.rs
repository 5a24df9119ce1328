//! Reporting results of executions that no job thread runs: [`ResultReporter`], for handlers that pick up
//! work again after an executor restart (for example a Kubernetes pod that kept running while the executor
//! was down). Results go through the same callback queue and disk spool as every other result, so they
//! survive admin outages and further restarts alike.
//!
//! Running executions report through their job thread; this is only for work found outside one. Such work
//! can still be killed: [`ResultReporter::track_resumed`] makes it reachable by `/kill` of its job id.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use xjob_protocol::message::StopReason;
use xjob_protocol::{CallbackItem, JobId, LogId};

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
    resumed: ResumedExecutions,
}

/// The executions resumed outside job threads, by job id, so that `/kill` reaches them. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct ResumedExecutions(Arc<ResumedInner>);

#[derive(Default)]
struct ResumedInner {
    next: AtomicU64,
    by_job: Mutex<HashMap<JobId, Vec<(u64, CancellationToken)>>>,
}

/// A resumed execution that `/kill` of its job id reaches; obtained from [`ResultReporter::track_resumed`].
/// Dropping it stops the tracking.
pub struct ResumedExecution {
    executions: ResumedExecutions,
    job_id: JobId,
    id: u64,
    killed: CancellationToken,
}

impl ResultReporter {
    pub(crate) fn new(
        sink: CallbackSink,
        log_root: PathBuf,
        writer: LogWriter,
        resumed: ResumedExecutions,
    ) -> Self {
        ResultReporter {
            sink,
            log_root: Arc::new(log_root),
            writer,
            resumed,
        }
    }

    /// Makes a resumed execution of `job_id` reachable by `/kill`: the kill cancels
    /// [`ResumedExecution::killed`] (and the `/kill` reply says a running execution was killed). The caller
    /// stops the work and reports it, normally with [`ResumedExecution::killed_message`].
    pub fn track_resumed(&self, job_id: JobId) -> ResumedExecution {
        self.resumed.track(job_id)
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

impl ResumedExecutions {
    fn track(&self, job_id: JobId) -> ResumedExecution {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed);
        let killed = CancellationToken::new();
        self.map().entry(job_id).or_default().push((id, killed.clone()));
        ResumedExecution {
            executions: self.clone(),
            job_id,
            id,
            killed,
        }
    }

    /// Cancels every tracked execution of `job_id`; true when there was one.
    pub(crate) fn kill(&self, job_id: JobId) -> bool {
        let killed = self.map().remove(&job_id).unwrap_or_default();
        for (_, token) in &killed {
            token.cancel();
        }
        !killed.is_empty()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Vec<(u64, CancellationToken)>>> {
        self.0
            .by_job
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ResumedExecution {
    /// The result message of a killed execution: upstream's text for a kill of a running execution.
    pub fn killed_message() -> String {
        StopReason::Killed.running_execution_killed()
    }

    /// Cancelled when `/kill` names this execution's job.
    pub fn killed(&self) -> &CancellationToken {
        &self.killed
    }
}

impl Drop for ResumedExecution {
    fn drop(&mut self) {
        let mut map = self.executions.map();
        if let Some(entries) = map.get_mut(&self.job_id) {
            entries.retain(|(id, _)| *id != self.id);
            if entries.is_empty() {
                map.remove(&self.job_id);
            }
        }
    }
}
