//! The fail-retry monitor: every few seconds, each failed log that no admin has examined yet is claimed
//! (`alarm_status` 0 → −1, so one admin of a cluster handles it), retried when it has retries left, alarmed,
//! and given its final alarm status (upstream's `JobFailMonitorHelper`).
//!
//! A job may ask to wait between attempts ([`RetryPolicy`](crate::model::RetryPolicy): an interval,
//! doubled per attempt with backoff). A log whose retry is not due yet is left untouched, so it is still
//! unclaimed at the next pass, on this admin or any other, after a restart too: every piece of state is in
//! the log rows. The delay runs from the failure: the result's time, or the trigger time for a trigger
//! that failed.
//!
//! Alarm channels plug in through [`FailAlarm`]. With none configured a log is marked as alarmed
//! successfully, as upstream marks it when the job has no alarm e-mail.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use xjob_protocol::{JobId, LogId};

use crate::model::{AlarmStatus, Job, JobLog};
use crate::store::{Store, StoreError};
use crate::trigger::{TriggerQueue, TriggerRequest, TriggerType, message};

/// The boxed future an alarm channel returns.
pub type AlarmFuture<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

/// An alarm channel (e-mail, webhook, …) told about every failed attempt of a job that still exists,
/// including attempts that will be retried.
pub trait FailAlarm: Send + Sync {
    /// Sends the alarm for `log` of `job`; true when it was delivered (or there was nothing to send).
    fn alarm<'a>(&'a self, job: &'a Job, log: &'a JobLog) -> AlarmFuture<'a>;
}

/// Starts the fail-retry monitor; see the module docs.
#[derive(Debug)]
pub struct RetryMonitor(());

/// Settings of the monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryOptions {
    /// Time between passes; passes start on multiples of it counted from the Unix epoch, as upstream's
    /// aligned 10 s cycle.
    pub interval: Duration,
    /// Failed logs read per query.
    pub page: u32,
    /// Queries per pass at most, so one pass stays bounded however many logs wait for their interval.
    pub max_pages: u32,
    /// A failed execution whose trigger result is not stored yet (trigger code still 0) is left alone
    /// this long after its trigger time, so the retry count it is examined with is the one the pipeline
    /// is about to write.
    pub pending_trigger_grace: Duration,
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassSummary {
    /// Logs claimed and given a final alarm status.
    pub handled: u32,
    /// Retry triggers submitted.
    pub retried: u32,
    /// Logs left for a later pass because their retry is not due yet.
    pub waiting: u32,
}

/// The running monitor.
#[derive(Debug)]
pub struct RetryMonitorHandle {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            interval: Duration::from_secs(10),
            page: 1000,
            max_pages: 20,
            pending_trigger_grace: Duration::from_secs(60),
        }
    }
}

/// The span appended to a retried log's `trigger_msg`.
fn retry_mark() -> String {
    message::section_header(TriggerType::Retry.title())
}

impl RetryMonitor {
    /// Starts the cycle on the current runtime: one pass now, then one per [`RetryOptions::interval`].
    pub fn start(
        store: Store,
        queue: TriggerQueue,
        alarms: Vec<Arc<dyn FailAlarm>>,
        options: RetryOptions,
    ) -> RetryMonitorHandle {
        let cancel = CancellationToken::new();
        let monitor = Monitor {
            store,
            queue,
            alarms,
            options,
        };
        let task = tokio::spawn(monitor.cycle(cancel.clone()));
        RetryMonitorHandle { cancel, task }
    }

    /// One pass at `now`: what the cycle runs, for callers that schedule passes themselves.
    pub async fn pass(
        store: &Store,
        queue: &TriggerQueue,
        alarms: &[Arc<dyn FailAlarm>],
        options: RetryOptions,
        now: DateTime<Utc>,
    ) -> Result<PassSummary, StoreError> {
        let monitor = Monitor {
            store: store.clone(),
            queue: queue.clone(),
            alarms: alarms.to_vec(),
            options,
        };
        monitor.pass(now).await
    }
}

impl RetryMonitorHandle {
    /// Stops after the pass in progress, if any.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "fail-retry monitor task failed");
        }
    }
}

struct Monitor {
    store: Store,
    queue: TriggerQueue,
    alarms: Vec<Arc<dyn FailAlarm>>,
    options: RetryOptions,
}

/// What happened to one log.
enum Outcome {
    Skipped,
    Waiting,
    Handled { retried: bool },
}

impl Monitor {
    async fn cycle(self, cancel: CancellationToken) {
        let period_ms = i64::try_from(self.options.interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        loop {
            let pass = tokio::select! {
                () = cancel.cancelled() => return,
                pass = self.pass(Utc::now()) => pass,
            };
            match pass {
                Ok(summary) if summary != PassSummary::default() => {
                    tracing::debug!(?summary, "fail-retry pass");
                }
                Ok(_) => {}
                Err(error) => tracing::error!(%error, "fail-retry pass failed; trying again next period"),
            }
            let now_ms = Utc::now().timestamp_millis();
            let wait = period_ms - now_ms.rem_euclid(period_ms);
            let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn pass(&self, now: DateTime<Utc>) -> Result<PassSummary, StoreError> {
        let mut summary = PassSummary::default();
        let mut jobs: HashMap<JobId, Option<Job>> = HashMap::new();
        let mut first = LogId(0);
        let page = self.options.page.max(1);
        for _ in 0..self.options.max_pages.max(1) {
            let ids = self.store.failed_log_ids_from(first, page).await?;
            for id in &ids {
                match self.examine(*id, now, &mut jobs).await? {
                    Outcome::Skipped => {}
                    Outcome::Waiting => summary.waiting += 1,
                    Outcome::Handled { retried } => {
                        summary.handled += 1;
                        summary.retried += u32::from(retried);
                    }
                }
            }
            match ids.last() {
                Some(last) if ids.len() == page as usize => first = LogId(last.0 + 1),
                _ => break,
            }
        }
        Ok(summary)
    }

    async fn examine(
        &self,
        id: LogId,
        now: DateTime<Utc>,
        jobs: &mut HashMap<JobId, Option<Job>>,
    ) -> Result<Outcome, StoreError> {
        let Some(log) = self.store.log(id).await? else {
            return Ok(Outcome::Skipped);
        };
        if log.alarm_status != AlarmStatus::Default || !log.is_failed() {
            return Ok(Outcome::Skipped);
        }
        if log.trigger.code == 0 {
            let grace = TimeDelta::from_std(self.options.pending_trigger_grace).unwrap_or(TimeDelta::MAX);
            let pending_until = log.trigger_time.map(|at| at.checked_add_signed(grace));
            // No representable end of the grace period counts as still pending.
            if pending_until.is_some_and(|until| until.is_none_or(|until| now < until)) {
                return Ok(Outcome::Waiting);
            }
        }
        if let Entry::Vacant(entry) = jobs.entry(log.job_id) {
            entry.insert(self.store.job(log.job_id).await?);
        }
        let job = jobs.get(&log.job_id).and_then(Option::as_ref);
        let remaining = log.trigger.executor_fail_retry_count;
        let retry = job.filter(|_| remaining > 0);
        if let Some(job) = retry
            && let Some(due) = retry_due(job, &log)
            && now < due
        {
            return Ok(Outcome::Waiting);
        }
        if !self
            .store
            .claim_alarm(id, AlarmStatus::Default, AlarmStatus::Locked)
            .await?
        {
            return Ok(Outcome::Skipped);
        }
        match self.handle_claimed(&log, job, retry.is_some()).await {
            Ok(outcome) => Ok(outcome),
            Err(error) => {
                // Hand the log back so a later pass (here or on another admin) examines it again.
                if let Err(release) = self
                    .store
                    .claim_alarm(id, AlarmStatus::Locked, AlarmStatus::Default)
                    .await
                {
                    tracing::error!(log_id = id.0, error = %release, "releasing a fail-monitor claim failed");
                }
                Err(error)
            }
        }
    }

    async fn handle_claimed(
        &self,
        log: &JobLog,
        job: Option<&Job>,
        retry: bool,
    ) -> Result<Outcome, StoreError> {
        let mut retried = false;
        if retry {
            let mut request = TriggerRequest::new(log.job_id, TriggerType::Retry);
            request.executor_param = log.trigger.executor_param.clone();
            request.shard = log
                .trigger
                .executor_sharding_param
                .as_deref()
                .and_then(parse_shard);
            request.fail_retry_count = Some(log.trigger.executor_fail_retry_count - 1);
            if self.queue.submit(request).await.is_err() {
                // The pipeline has stopped: leave the log for the next admin or the next start.
                self.store
                    .claim_alarm(log.id, AlarmStatus::Locked, AlarmStatus::Default)
                    .await?;
                return Ok(Outcome::Skipped);
            }
            retried = true;
            let mut trigger = log.trigger.clone();
            let mut msg = trigger.msg.take().unwrap_or_default();
            msg.push_str(&retry_mark());
            trigger.msg = Some(msg);
            self.store.update_log_trigger(log.id, &trigger).await?;
        }
        let status = match job {
            None => AlarmStatus::NotNeeded,
            Some(job) => {
                let mut delivered = true;
                for channel in &self.alarms {
                    delivered &= channel.alarm(job, log).await;
                }
                if delivered {
                    AlarmStatus::Sent
                } else {
                    AlarmStatus::Failed
                }
            }
        };
        self.store
            .claim_alarm(log.id, AlarmStatus::Locked, status)
            .await?;
        Ok(Outcome::Handled { retried })
    }
}

/// When the retry of a failed log may go out: the failure time plus the job's delay for this attempt;
/// `None` when the job has no interval.
fn retry_due(job: &Job, log: &JobLog) -> Option<DateTime<Utc>> {
    let policy = job.settings.retry;
    // The first retry is attempt 1: the job's count minus the retries this failed log had left, plus one.
    let attempt = policy
        .count
        .saturating_sub(log.trigger.executor_fail_retry_count)
        .saturating_add(1)
        .max(1);
    let delay = policy.delay(u32::try_from(attempt).unwrap_or(1))?;
    let failed_at = log.handle.time.or(log.trigger_time)?;
    // The delay is capped at a day, so neither conversion nor addition overflows for real dates.
    failed_at.checked_add_signed(TimeDelta::from_std(delay).ok()?)
}

/// `"index/total"`, both all digits, as upstream accepts a sharding parameter.
fn parse_shard(label: &str) -> Option<(u32, u32)> {
    let (index, total) = label.split_once('/')?;
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    if !digits(index) || !digits(total) {
        return None;
    }
    Some((index.parse().ok()?, total.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_labels() {
        fn check(label: &str, expected: Option<(u32, u32)>) {
            assert_eq!(parse_shard(label), expected, "{label}");
        }
        check("0/3", Some((0, 3)));
        check("12/40", Some((12, 40)));
        check("1/", None);
        check("-1/3", None);
        check("1/3/4", None);
        check(" 1/3", None);
        check("", None);
    }
}
