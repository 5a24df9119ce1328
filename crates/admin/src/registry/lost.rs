//! The lost-result detector: an execution accepted more than ten minutes ago that still has no result,
//! and whose executor address no longer has a registration, will never report; it is recorded as failed,
//! so the fail monitor retries or alarms it like any failure.
//!
//! Executions on manually listed executors (never registered) are therefore failed after ten minutes
//! without a result, as upstream does.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use xjob_protocol::code;

use crate::complete::{Completed, Completer, ExecutionResult};
use crate::registry::{LoopHandle, cycle};
use crate::store::StoreError;

/// The result message of an execution found lost: upstream's `joblog_lost_fail` text, which consoles and
/// alarm filters of upstream installations know.
pub const LOST_RESULT_MESSAGE: &str = "Job result lost, marked as failure";

/// Settings of the [`LostResultDetector`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LostResultOptions {
    /// Time between passes (upstream 60 s).
    pub period: Duration,
    /// How long after its trigger an execution without result may be declared lost (upstream 10 min).
    pub grace: Duration,
}

impl Default for LostResultOptions {
    fn default() -> Self {
        LostResultOptions {
            period: Duration::from_secs(60),
            grace: Duration::from_secs(10 * 60),
        }
    }
}

/// The detector; [`LostResultDetector::pass`] runs one pass, [`LostResultDetector::start`] the loop.
#[derive(Clone, Debug)]
pub struct LostResultDetector {
    completer: Completer,
    options: LostResultOptions,
}

impl LostResultDetector {
    /// A detector recording lost results through `completer`.
    pub fn new(completer: Completer, options: LostResultOptions) -> LostResultDetector {
        LostResultDetector { completer, options }
    }

    /// One pass at `now`: records every lost execution as failed (code 500, [`LOST_RESULT_MESSAGE`]).
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<Completed, StoreError> {
        let grace = TimeDelta::from_std(self.options.grace).unwrap_or(TimeDelta::minutes(10));
        let lost = self.completer.store().lost_log_ids(now - grace).await?;
        if lost.is_empty() {
            return Ok(Completed::default());
        }
        let results: Vec<ExecutionResult> = lost
            .into_iter()
            .map(|log_id| ExecutionResult {
                log_id,
                code: code::FAILURE,
                msg: Some(LOST_RESULT_MESSAGE.to_owned()),
            })
            .collect();
        let completed = self.completer.complete(&results, now).await?;
        tracing::info!(logs = completed.written.len(), "lost results recorded as failed");
        Ok(completed)
    }

    /// Runs a pass now and then every period until the handle is shut down.
    pub fn start(self) -> LoopHandle {
        let period = self.options.period;
        cycle::spawn("lost-result detector", period, move || {
            let detector = self.clone();
            async move { detector.pass(Utc::now()).await.map(drop) }
        })
    }
}
