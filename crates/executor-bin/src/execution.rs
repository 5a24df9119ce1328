//! What a built-in handler sees of one execution and what it answers, independent of the SDK's types so the
//! handlers can be tested on their own; `handlers.rs` translates between the two.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::process::LogSink;

/// One execution as a built-in handler sees it.
#[derive(Clone)]
pub(crate) struct Execution {
    /// The job parameter (`executorParams`), empty when absent.
    pub(crate) param: String,
    /// The shard index (`broadcastIndex`), 0 for a job that is not broadcast.
    pub(crate) shard_index: u32,
    /// The shard count (`broadcastTotal`), 1 for a job that is not broadcast.
    pub(crate) shard_total: u32,
    /// The execution log.
    pub(crate) log: Arc<dyn LogSink>,
    /// Trips when the execution is killed, times out, is replaced or the executor shuts down.
    pub(crate) cancel: CancellationToken,
}

/// The result of a built-in handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Code 200 without message.
    Success,
    /// Code 500 with this message.
    Fail(String),
}

impl Execution {
    pub(crate) fn log(&self, line: &str) {
        self.log.line(line);
    }
}

#[cfg(test)]
impl Execution {
    /// An execution whose log lines are recorded, for tests.
    pub(crate) fn recorded(
        param: &str,
        shard_index: u32,
        shard_total: u32,
    ) -> (Execution, Arc<crate::process::tests::RecordedLines>) {
        let sink = Arc::new(crate::process::tests::RecordedLines::default());
        let execution = Execution {
            param: param.to_owned(),
            shard_index,
            shard_total,
            log: sink.clone(),
            cancel: CancellationToken::new(),
        };
        (execution, sink)
    }
}
