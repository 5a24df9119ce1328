//! Fixed texts that travel in `msg` or `handleMsg`: the dispatcher failures of executor and admin, the
//! executor's trigger/kill/log replies, the results of interrupted executions and the reasons a job thread
//! stops ([`StopReason`]). Each text exists here once; the access-check texts are on
//! [`crate::AuthFailure`].
//!
//! Log-file lines and localized console messages are not here: they are not part of the protocol.

use std::fmt;

use crate::java::concat_text;
use crate::{BlockStrategy, Generation, GlueType, LogId};

/// Request method other than POST (executor and admin).
pub const METHOD_NOT_SUPPORTED: &str = "invalid request, HttpMethod not support.";

/// Empty request URI (executor) or endpoint name (admin).
pub const URI_MAPPING_EMPTY: &str = "invalid request, uri-mapping empty.";

/// Admin `/api/*` request without body (G2 and G3).
pub const REQUEST_BODY_EMPTY: &str = "invalid request, requestBody empty.";

/// `/idleBeat` for a job whose thread is executing or has queued triggers.
pub const JOB_THREAD_BUSY: &str = "job thread is running or has trigger queue.";

/// `/kill` for a job without thread: in `msg` (G1) or the payload (later); see
/// [`crate::Envelope::job_thread_already_killed`].
pub const JOB_THREAD_ALREADY_KILLED: &str = "job thread already killed.";

/// `logContent` of a `/log` reply when the log file does not exist.
pub const LOG_FILE_NOT_EXISTS: &str = "readLog fail, logFile not exists";

/// `logContent` of a `/log` reply when the log file name is blank.
pub const LOG_FILE_NOT_FOUND: &str = "readLog fail, logFile not found";

/// `handleMsg` of an execution that ran past its timeout (code 502; the trailing space is upstream's).
pub const JOB_EXECUTE_TIMEOUT: &str = "job execute timeout ";

/// `handleMsg` of an execution whose handler set a result code ≤ 0.
pub const JOB_HANDLE_RESULT_LOST: &str = "job handle result lost.";

/// Admin reply to a registration with a blank group, key or value.
pub const ILLEGAL_ARGUMENT: &str = "Illegal Argument.";

/// Admin reply (code 502) when the G3 job API's rate limit is exhausted.
pub const TOO_MANY_REQUESTS: &str = "Too many requests, please try again later.";

/// Why an executor stops a job thread; its [`Display`](fmt::Display) is upstream's reason text, which
/// prefixes the `handleMsg` of the executions the stop interrupts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// The admin called `/kill`.
    Killed,
    /// A `BEAN` trigger named a different handler.
    HandlerChanged,
    /// A GLUE trigger brought new source (`glueUpdatetime` changed) or another glue type.
    SourceChanged,
    /// A `COVER_EARLY` trigger arrived while the thread was busy.
    CoverEarly,
    /// The thread had no work for about 90 s (the typo is upstream's).
    Idle,
    /// The executor is shutting down.
    Shutdown,
}

/// Unknown request URI (executor, which passes the full URI such as `/run`) or endpoint name (admin, which
/// passes the name).
pub fn uri_mapping_not_found(uri: &str) -> String {
    format!("invalid request, uri-mapping({uri}) not found.")
}

/// An executor's reply when decoding or handling a request failed; upstream appends the full stack trace.
pub fn request_error(detail: &str) -> String {
    format!("request error:{detail}")
}

/// The admin's reply when decoding or handling an `/api/*` request failed.
pub fn openapi_invoke_error(detail: &str) -> String {
    format!("openapi invoke error: {detail}")
}

/// G3 trigger reply for a non-`BEAN` job when the executor has GLUE disabled.
pub fn glue_type_not_supported(glue_type: GlueType) -> String {
    format!(
        "fail, current glue type [{}] not supported.",
        glue_type.label(Generation::G3)
    )
}

/// Trigger reply for a `BEAN` job whose handler is not registered; a missing name prints as `null`.
pub fn job_handler_not_found(handler: Option<&str>) -> String {
    format!("job handler [{}] not found.", concat_text(handler))
}

/// Trigger reply for a missing or unknown glue type, showing it as received (`null` when missing).
pub fn glue_type_not_valid(glue_type: Option<&str>) -> String {
    format!("glueType[{}] is not valid.", concat_text(glue_type))
}

/// `block strategy effect：<title>` (full-width colon U+FF1A): the trigger reply when `DISCARD_LATER` drops a
/// trigger, and the stop reason when `COVER_EARLY` replaces a thread.
pub fn block_strategy_effect(strategy: BlockStrategy) -> String {
    format!("block strategy effect：{}", strategy.title())
}

/// Trigger reply when the same `logId` is already queued for the job. G1 and G2 spell it `repeate`; upstream
/// corrected it in 3.4.1, so 3.4.1 and 3.4.2 already send the G3 spelling.
pub fn repeat_trigger(log_id: LogId, generation: Generation) -> String {
    let repeat = match generation {
        Generation::G1 | Generation::G2 => "repeate",
        Generation::G3 => "repeat",
    };
    format!("{repeat} trigger job, logId:{log_id}")
}

impl StopReason {
    /// `handleMsg` of the execution that was running when the thread stopped (code 500).
    pub fn running_execution_killed(self) -> String {
        format!("{self} [job running, killed]")
    }

    /// `handleMsg` of each trigger still queued when the thread stopped (code 500).
    pub fn queued_trigger_killed(self) -> String {
        format!("{self} [job not executed, in the job queue, killed.]")
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            StopReason::Killed => "scheduling center kill job.",
            StopReason::HandlerChanged => "change jobhandler or glue type, and terminate the old job thread.",
            StopReason::SourceChanged => "change job source or glue type, and terminate the old job thread.",
            StopReason::CoverEarly => return f.write_str(&block_strategy_effect(BlockStrategy::CoverEarly)),
            StopReason::Idle => "excutor idle times over limit.",
            StopReason::Shutdown => "web container destroy and kill the job.",
        };
        f.write_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_replies() {
        fn check(produced: String, expected: &str) {
            assert_eq!(produced, expected);
        }
        check(
            uri_mapping_not_found("/run"),
            "invalid request, uri-mapping(/run) not found.",
        );
        check(
            uri_mapping_not_found("addJobs"),
            "invalid request, uri-mapping(addJobs) not found.",
        );
        check(
            request_error("java.lang.NullPointerException"),
            "request error:java.lang.NullPointerException",
        );
        check(openapi_invoke_error("boom"), "openapi invoke error: boom");
        check(
            glue_type_not_supported(GlueType::Shell),
            "fail, current glue type [GLUE(Shell)] not supported.",
        );
        check(
            glue_type_not_supported(GlueType::Python),
            "fail, current glue type [GLUE(Python3)] not supported.",
        );
        check(
            job_handler_not_found(Some("demoJobHandler")),
            "job handler [demoJobHandler] not found.",
        );
        check(job_handler_not_found(None), "job handler [null] not found.");
        check(
            glue_type_not_valid(Some("GLUE_RUBY")),
            "glueType[GLUE_RUBY] is not valid.",
        );
        check(glue_type_not_valid(None), "glueType[null] is not valid.");
        check(
            block_strategy_effect(BlockStrategy::DiscardLater),
            "block strategy effect\u{ff1a}Discard Later",
        );
        check(
            repeat_trigger(LogId(88231), Generation::G1),
            "repeate trigger job, logId:88231",
        );
        check(
            repeat_trigger(LogId(88231), Generation::G2),
            "repeate trigger job, logId:88231",
        );
        check(
            repeat_trigger(LogId(88231), Generation::G3),
            "repeat trigger job, logId:88231",
        );
    }

    #[test]
    fn stop_reasons() {
        use StopReason::*;
        fn check(reason: StopReason, text: &str) {
            assert_eq!(reason.to_string(), text);
        }
        check(Killed, "scheduling center kill job.");
        check(
            HandlerChanged,
            "change jobhandler or glue type, and terminate the old job thread.",
        );
        check(
            SourceChanged,
            "change job source or glue type, and terminate the old job thread.",
        );
        check(CoverEarly, "block strategy effect\u{ff1a}Cover Early");
        check(Idle, "excutor idle times over limit.");
        check(Shutdown, "web container destroy and kill the job.");
        assert_eq!(
            Killed.running_execution_killed(),
            "scheduling center kill job. [job running, killed]"
        );
        assert_eq!(
            CoverEarly.queued_trigger_killed(),
            "block strategy effect\u{ff1a}Cover Early [job not executed, in the job queue, killed.]"
        );
    }
}
