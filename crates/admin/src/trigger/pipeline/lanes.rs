//! Slow-job demotion: which concurrency lane a job's next trigger takes.
//!
//! Upstream counts, per job and per wall-clock minute, the triggers that took longer than 500 ms, and
//! sends a job with more than ten of them to its slow pool. The same counts decide the lane here; the lane
//! is a separate concurrency limit rather than a thread pool.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use xjob_protocol::JobId;

/// A trigger slower than this counts against its job.
pub(crate) const SLOW_TRIGGER: Duration = Duration::from_millis(500);

/// More slow triggers than this within the minute demote the job.
pub(crate) const SLOW_LIMIT: u32 = 10;

/// Where a trigger waits for an executor-call permit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    Fast,
    Slow,
}

/// Slow-trigger counts of the current minute.
#[derive(Debug, Default)]
pub(crate) struct Lanes {
    counts: Mutex<MinuteCounts>,
}

#[derive(Debug, Default)]
struct MinuteCounts {
    minute: i64,
    slow: HashMap<JobId, u32>,
}

impl Lanes {
    /// The lane of the job's next trigger.
    pub(crate) fn lane(&self, job_id: JobId) -> Lane {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        match counts.slow.get(&job_id) {
            Some(count) if *count > SLOW_LIMIT => Lane::Slow,
            _ => Lane::Fast,
        }
    }

    /// Records how long a trigger of the job took, finishing at `now_ms`; a new minute forgets every
    /// count first, as upstream does.
    pub(crate) fn record(&self, job_id: JobId, took: Duration, now_ms: i64) {
        let minute = now_ms.div_euclid(60_000);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.minute != minute {
            counts.minute = minute;
            counts.slow.clear();
        }
        if took > SLOW_TRIGGER {
            *counts.slow.entry(job_id).or_default() += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOW: Duration = Duration::from_millis(501);
    const QUICK: Duration = Duration::from_millis(500);

    #[test]
    fn eleven_slow_triggers_in_a_minute_demote_until_the_minute_ends() {
        let lanes = Lanes::default();
        let minute = 29_000_000 * 60_000;
        for _ in 0..10 {
            lanes.record(JobId(1), SLOW, minute + 1);
            lanes.record(JobId(2), QUICK, minute + 1);
        }
        assert_eq!(lanes.lane(JobId(1)), Lane::Fast);
        lanes.record(JobId(1), SLOW, minute + 59_999);
        assert_eq!(lanes.lane(JobId(1)), Lane::Slow);
        assert_eq!(lanes.lane(JobId(2)), Lane::Fast);
        lanes.record(JobId(2), QUICK, minute + 60_000);
        assert_eq!(lanes.lane(JobId(1)), Lane::Fast);
    }
}
