//! Job threads: one tokio task per job id with its FIFO queue of triggers, the trigger intake (handler
//! resolution, GLUE handler cache, block strategies, duplicate `logId` guard), execution with timeout, kill
//! and panic capture, idle reaping, and shutdown. Results leave through the callback queue.
//!
//! HTTP decoding is the server's; the log file format is [`crate::ExecutionLog`]'s.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use xjob_protocol::message::{self, StopReason};
use xjob_protocol::{BlockStrategy, CallbackItem, Generation, GlueType, JobId, LogId, TriggerRequest, code};

use crate::callback::CallbackSink;
use crate::context::{Cancellation, ContextParts};
use crate::execution_log::{ExecutionLog, LogWriter};
use crate::handler::{GlueHandlerFactory, GlueSpec, JobHandler, JobResult};
use crate::report::ResumedExecutions;
use crate::{CancelReason, JobContext};

/// Longest `handleMsg` reported; upstream truncates there and appends `...`.
const MAX_RESULT_MSG_CHARS: usize = 50_000;

/// The job-thread registry. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Jobs(Arc<JobsInner>);

/// What [`Jobs::new`] needs.
pub(crate) struct JobSetup {
    pub(crate) handlers: HashMap<String, Arc<dyn JobHandler>>,
    /// Executions resumed outside job threads, which `/kill` reaches too.
    pub(crate) resumed: ResumedExecutions,
    pub(crate) glue_factory: Option<Arc<dyn GlueHandlerFactory>>,
    pub(crate) glue_enabled: bool,
    pub(crate) log_root: std::path::PathBuf,
    pub(crate) log_writer: LogWriter,
    pub(crate) callbacks: CallbackSink,
    /// How long a job thread with an empty queue lives on ([`crate::ExecutorConfig::job_idle_timeout`]).
    pub(crate) idle_timeout: Duration,
    /// How long a cancelled handler may run on before it is aborted ([`crate::ExecutorConfig::cancel_grace`]).
    pub(crate) cancel_grace: Duration,
}

struct JobsInner {
    setup: JobSetup,
    threads: Mutex<HashMap<JobId, Arc<JobThread>>>,
    tasks: TaskTracker,
    closed: AtomicBool,
}

/// Which handler a thread runs; a trigger naming another one replaces the thread.
#[derive(Clone, PartialEq, Eq)]
enum HandlerKey {
    Bean(String),
    Glue { glue_type: GlueType, updated_at_ms: i64 },
}

struct JobThread {
    job_id: JobId,
    name: String,
    handler: Arc<dyn JobHandler>,
    key: HandlerKey,
    state: Mutex<ThreadState>,
    wake: Notify,
    stopped: CancellationToken,
}

#[derive(Default)]
struct ThreadState {
    queue: VecDeque<TriggerRequest>,
    pending: HashSet<LogId>,
    running: bool,
    stop_reason: Option<StopReason>,
    current: Option<Arc<Cancellation>>,
}

impl Jobs {
    pub(crate) fn new(setup: JobSetup) -> Self {
        Jobs(Arc::new(JobsInner {
            setup,
            threads: Mutex::new(HashMap::new()),
            tasks: TaskTracker::new(),
            closed: AtomicBool::new(false),
        }))
    }

    /// Accepts a trigger into its job's queue, or returns upstream's refusal text.
    pub(crate) fn trigger(&self, request: TriggerRequest, generation: Generation) -> Result<(), String> {
        if self.0.closed.load(Ordering::Acquire) {
            return Err("executor is shutting down".to_owned());
        }
        let Some(glue_type) = request.known_glue_type() else {
            let raw = request.glue_type.as_ref().map(|glue| glue.as_str().to_owned());
            return Err(message::glue_type_not_valid(raw.as_deref()));
        };
        if glue_type != GlueType::Bean && !self.0.setup.glue_enabled {
            return Err(message::glue_type_not_supported(glue_type));
        }
        let job_id = request.job_id;
        let (key, handler, replace_reason) = if glue_type == GlueType::Bean {
            let name = request.executor_handler.clone().unwrap_or_default();
            let Some(handler) = self.0.setup.handlers.get(&name) else {
                return Err(message::job_handler_not_found(
                    request.executor_handler.as_deref(),
                ));
            };
            (
                HandlerKey::Bean(name),
                Arc::clone(handler),
                StopReason::HandlerChanged,
            )
        } else {
            let key = HandlerKey::Glue {
                glue_type,
                updated_at_ms: request.glue_updatetime,
            };
            let existing = self
                .threads()
                .get(&job_id)
                .map(|thread| (thread.key.clone(), Arc::clone(&thread.handler)));
            let handler = match existing {
                Some((existing_key, handler)) if existing_key == key => handler,
                // The factory may be slow (it may compile or write files), so it runs outside the lock.
                _ => self.glue_handler(job_id, &request, glue_type)?,
            };
            (key, handler, StopReason::SourceChanged)
        };

        let mut threads = self.threads();
        let mut replace = None;
        let thread = match threads.get(&job_id) {
            Some(existing) if existing.key != key => {
                replace = Some(replace_reason);
                None
            }
            Some(existing) => match request.block_strategy() {
                BlockStrategy::DiscardLater if existing.is_busy() => {
                    return Err(message::block_strategy_effect(BlockStrategy::DiscardLater));
                }
                BlockStrategy::CoverEarly if existing.is_busy() => {
                    replace = Some(StopReason::CoverEarly);
                    None
                }
                _ => Some(Arc::clone(existing)),
            },
            None => None,
        };
        let thread = match thread {
            Some(thread) => thread,
            None => {
                let thread = Arc::new(JobThread::new(job_id, handler, key));
                if let Some(old) = threads.insert(job_id, Arc::clone(&thread))
                    && let Some(reason) = replace
                {
                    old.stop(reason);
                }
                let jobs = self.clone();
                let running = Arc::clone(&thread);
                self.0.tasks.spawn(async move { jobs.run_thread(running).await });
                thread
            }
        };
        thread.enqueue(request, generation)
    }

    /// Whether the job's thread is executing or has queued triggers (`/idleBeat`).
    pub(crate) fn is_busy(&self, job_id: JobId) -> bool {
        self.threads().get(&job_id).is_some_and(|thread| thread.is_busy())
    }

    /// Stops the job's thread (`/kill`) and its executions resumed outside threads; `false` when it had
    /// neither.
    pub(crate) fn kill(&self, job_id: JobId) -> bool {
        let removed = self.threads().remove(&job_id);
        let resumed = self.0.setup.resumed.kill(job_id);
        match removed {
            Some(thread) => {
                thread.stop(StopReason::Killed);
                true
            }
            None => resumed,
        }
    }

    /// Refuses new triggers, lets running executions finish for up to `grace`, then stops every thread and
    /// waits for them to report.
    pub(crate) async fn shutdown(&self, grace: Duration) {
        self.0.closed.store(true, Ordering::Release);
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline && self.threads().values().any(|thread| thread.is_busy())
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let threads: Vec<Arc<JobThread>> = self.threads().drain().map(|(_, thread)| thread).collect();
        for thread in &threads {
            thread.stop(StopReason::Shutdown);
        }
        self.0.tasks.close();
        if tokio::time::timeout(self.0.setup.cancel_grace * 2, self.0.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("job threads did not stop in time");
        }
        // Results leave through the log writer once their lines are written; let them reach the queue.
        self.0.setup.log_writer.flush().await;
    }

    fn threads(&self) -> MutexGuard<'_, HashMap<JobId, Arc<JobThread>>> {
        // The map stays consistent even if a holder panicked: every update is a single insert or remove.
        self.0
            .threads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn glue_handler(
        &self,
        job_id: JobId,
        request: &TriggerRequest,
        glue_type: GlueType,
    ) -> Result<Arc<dyn JobHandler>, String> {
        let Some(factory) = self.0.setup.glue_factory.as_ref() else {
            return Err(message::glue_type_not_supported(glue_type));
        };
        let spec = GlueSpec {
            glue_type,
            source: request.glue_source.clone().unwrap_or_default(),
            updated_at_ms: request.glue_updatetime,
        };
        factory.handler(job_id, &spec)
    }

    /// The job thread's loop: take triggers in order, execute them, end when stopped or idle too long.
    async fn run_thread(self, thread: Arc<JobThread>) {
        loop {
            let next = {
                let mut state = thread.state();
                if state.stop_reason.is_some() {
                    break;
                }
                state.running = false;
                let next = state.queue.pop_front();
                if let Some(request) = &next {
                    state.running = true;
                    state.pending.remove(&request.log_id);
                }
                next
            };
            match next {
                Some(request) => self.execute(&thread, request).await,
                // A trigger queued meanwhile has left a wake-up permit, so it is never missed. Upstream polls
                // 30 times for 3 s; one wait for the whole idle time ends the thread at the same moment.
                None => tokio::select! {
                    () = thread.wake.notified() => {}
                    () = thread.stopped.cancelled() => {}
                    () = tokio::time::sleep(self.0.setup.idle_timeout) => {
                        if self.reap_if_idle(&thread) {
                            break;
                        }
                    }
                },
            }
        }
        let (reason, left) = {
            let mut state = thread.state();
            state.running = false;
            state.pending.clear();
            (
                state.stop_reason.unwrap_or(StopReason::Idle),
                std::mem::take(&mut state.queue),
            )
        };
        if !left.is_empty() {
            // After the running execution's result, which waits for its log lines in the writer.
            let callbacks = self.0.setup.callbacks.clone();
            self.0.setup.log_writer.then(move || {
                for request in left {
                    callbacks.report(CallbackItem {
                        log_id: request.log_id,
                        log_date_time: request.log_date_time,
                        handle_code: code::FAILURE,
                        handle_msg: Some(reason.queued_trigger_killed()),
                    });
                }
            });
        }
    }

    /// Removes an idle thread from the registry, unless a trigger arrived meanwhile.
    fn reap_if_idle(&self, thread: &Arc<JobThread>) -> bool {
        let mut threads = self.threads();
        let mut state = thread.state();
        if !state.queue.is_empty() || state.stop_reason.is_some() {
            return state.stop_reason.is_some();
        }
        if threads
            .get(&thread.job_id)
            .is_some_and(|current| Arc::ptr_eq(current, thread))
        {
            threads.remove(&thread.job_id);
        }
        state.stop_reason = Some(StopReason::Idle);
        tracing::debug!(job_id = %thread.job_id, "job thread idle too long, ended");
        true
    }

    async fn execute(&self, thread: &Arc<JobThread>, request: TriggerRequest) {
        let cancellation = Arc::new(Cancellation::default());
        {
            let mut state = thread.state();
            if let Some(reason) = state.stop_reason {
                cancellation.cancel(cancel_reason(reason));
            }
            state.current = Some(Arc::clone(&cancellation));
        }
        let log = ExecutionLog::new(
            &self.0.setup.log_writer,
            &self.0.setup.log_root,
            request.log_date_time,
            request.log_id,
            thread.name.clone(),
        );
        let param = request.executor_params.clone().unwrap_or_default();
        let timeout = u64::try_from(request.executor_timeout)
            .ok()
            .filter(|seconds| *seconds > 0)
            .map(Duration::from_secs);
        let glue = match &thread.key {
            HandlerKey::Bean(_) => None,
            HandlerKey::Glue {
                glue_type,
                updated_at_ms,
            } => Some(GlueSpec {
                glue_type: *glue_type,
                source: request.glue_source.clone().unwrap_or_default(),
                updated_at_ms: *updated_at_ms,
            }),
        };
        log.line(&format!(
            "<br>----------- xxl-job job execute start -----------<br>----------- Param:{}",
            thread.handler.loggable_param(&param)
        ));
        let ctx = JobContext::new(ContextParts {
            job_id: request.job_id,
            log_id: request.log_id,
            log_date_time: request.log_date_time,
            param,
            shard_index: u32::try_from(request.broadcast_index).unwrap_or(0),
            shard_total: u32::try_from(request.broadcast_total)
                .ok()
                .filter(|total| *total > 0)
                .unwrap_or(1),
            timeout,
            glue,
            log: log.clone(),
            cancellation: Arc::clone(&cancellation),
        });

        let handler = Arc::clone(&thread.handler);
        let mut task = tokio::spawn(async move { handler.run(ctx).await });
        let timed_out = async {
            match timeout {
                Some(timeout) => tokio::time::sleep(timeout).await,
                None => std::future::pending().await,
            }
        };
        let joined = tokio::select! {
            joined = &mut task => Some(joined),
            () = timed_out => {
                cancellation.cancel(CancelReason::TimedOut);
                None
            }
            () = cancellation.token().cancelled() => None,
        };
        let joined = match joined {
            Some(joined) => Some(joined),
            None => match tokio::time::timeout(self.0.setup.cancel_grace, &mut task).await {
                Ok(joined) => Some(joined),
                Err(_) => {
                    task.abort();
                    None
                }
            },
        };
        thread.state().current = None;

        let stop_reason = thread.state().stop_reason;
        let result = match (stop_reason, cancellation.reason(), joined) {
            (Some(reason), _, _) => {
                log.line(&format!("<br>----------- JobThread toStop, stopReason:{reason}"));
                JobResult::fail(reason.running_execution_killed())
            }
            (None, Some(CancelReason::TimedOut), _) => {
                log.line("<br>----------- xxl-job job execute timeout");
                JobResult::timeout(message::JOB_EXECUTE_TIMEOUT)
            }
            (None, _, Some(Ok(result))) => normalize(result),
            (None, _, Some(Err(error))) => {
                let text = panic_text(error);
                log.line(&format!(
                    "<br>----------- JobThread Exception:{text}<br>----------- xxl-job job execute end(error) -----------"
                ));
                JobResult::fail(text)
            }
            (None, _, None) => JobResult::fail("job handler did not stop after cancellation"),
        };
        log_result_line(&log, &result);
        drop(log);
        // Reported once the execution's lines are in its file, so an admin that reads the log on seeing the
        // result finds it complete.
        let callbacks = self.0.setup.callbacks.clone();
        let item = CallbackItem {
            log_id: request.log_id,
            log_date_time: request.log_date_time,
            handle_code: result.code,
            handle_msg: result.msg,
        };
        self.0.setup.log_writer.then(move || callbacks.report(item));
    }
}

impl JobThread {
    fn new(job_id: JobId, handler: Arc<dyn JobHandler>, key: HandlerKey) -> Self {
        let started = chrono::Utc::now().timestamp_millis();
        JobThread {
            job_id,
            name: format!("xxl-job, JobThread-{job_id}-{started}"),
            handler,
            key,
            state: Mutex::new(ThreadState::default()),
            wake: Notify::new(),
            stopped: CancellationToken::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, ThreadState> {
        // Every update under this lock is a single field change or queue operation; a panicking holder cannot
        // leave it half-done.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_busy(&self) -> bool {
        let state = self.state();
        state.running || !state.queue.is_empty()
    }

    fn enqueue(&self, request: TriggerRequest, generation: Generation) -> Result<(), String> {
        let mut state = self.state();
        if !state.pending.insert(request.log_id) {
            return Err(message::repeat_trigger(request.log_id, generation));
        }
        state.queue.push_back(request);
        drop(state);
        self.wake.notify_one();
        Ok(())
    }

    /// Asks the thread to stop: the running execution is cancelled, queued triggers will be reported.
    fn stop(&self, reason: StopReason) {
        let current = {
            let mut state = self.state();
            if state.stop_reason.is_none() {
                state.stop_reason = Some(reason);
            }
            state.current.clone()
        };
        if let Some(current) = current {
            current.cancel(cancel_reason(reason));
        }
        self.stopped.cancel();
        self.wake.notify_one();
    }
}

/// The closing line of an execution log, with the reported result.
pub(crate) fn log_result_line(log: &ExecutionLog, result: &JobResult) {
    log.line(&format!(
        "<br>----------- xxl-job job execute end(finish) -----------<br>----------- Result: handleCode={}, handleMsg = {}",
        result.code,
        result.msg.as_deref().unwrap_or("null")
    ));
}

fn cancel_reason(reason: StopReason) -> CancelReason {
    match reason {
        StopReason::Killed => CancelReason::Killed,
        StopReason::Shutdown | StopReason::Idle => CancelReason::Shutdown,
        StopReason::HandlerChanged | StopReason::SourceChanged | StopReason::CoverEarly => {
            CancelReason::Replaced
        }
    }
}

/// Upstream's post-processing of a handler's result: a code ≤ 0 is "lost", long messages are truncated.
pub(crate) fn normalize(result: JobResult) -> JobResult {
    if result.code <= 0 {
        return JobResult::fail(message::JOB_HANDLE_RESULT_LOST);
    }
    let msg = result
        .msg
        .map(|msg| match msg.char_indices().nth(MAX_RESULT_MSG_CHARS) {
            Some((cut, _)) => format!("{}...", &msg[..cut]),
            None => msg,
        });
    JobResult {
        code: result.code,
        msg,
    }
}

fn panic_text(error: tokio::task::JoinError) -> String {
    if !error.is_panic() {
        return format!("job handler task ended: {error}");
    }
    let payload = error.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".to_owned());
    format!("job handler panicked: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_normalized() {
        assert_eq!(normalize(JobResult::success()), JobResult::success());
        assert_eq!(
            normalize(JobResult {
                code: 0,
                msg: Some("x".to_owned())
            }),
            JobResult::fail("job handle result lost.")
        );
        assert_eq!(normalize(JobResult { code: 302, msg: None }).code, 302);
        let long = "é".repeat(MAX_RESULT_MSG_CHARS + 10);
        let cut = normalize(JobResult::fail(long)).msg.unwrap();
        assert_eq!(cut.chars().count(), MAX_RESULT_MSG_CHARS + 3);
        assert!(cut.ends_with("é..."));
    }

    #[test]
    fn stop_reasons_map_to_cancel_reasons() {
        assert_eq!(cancel_reason(StopReason::Killed), CancelReason::Killed);
        assert_eq!(cancel_reason(StopReason::CoverEarly), CancelReason::Replaced);
        assert_eq!(cancel_reason(StopReason::SourceChanged), CancelReason::Replaced);
        assert_eq!(cancel_reason(StopReason::Shutdown), CancelReason::Shutdown);
    }
}
