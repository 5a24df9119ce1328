//! Recording execution results: the [`Completer`] writes results into their log rows (never over a result
//! already recorded) and, for each success, submits the job's child jobs as `Parent` triggers and appends
//! the child-trigger report to the parent's result message. The [`ResultWriter`] in front of it coalesces
//! the results of many concurrent callbacks into one transaction and answers each caller once its results
//! are durable.
//!
//! Callers: the executor-facing `/api/callback` (through the writer) and the lost-result detector. Parsing
//! callback bodies and deciding which logs are lost are theirs; SQL is the store's.

mod writer;

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use xjob_protocol::{JobId, LogId, code};

use crate::model::{ChildJob, LogHandle};
use crate::store::{Store, StoreError};
use crate::trigger::message::{self, escape};
use crate::trigger::{TriggerQueue, TriggerRequest, TriggerType};

pub use writer::{
    ResultSender, ResultWriter, ResultWriterHandle, ResultWriterOptions, WriteRefused, WriterStats,
};

/// One execution result to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionResult {
    /// The log row of the execution.
    pub log_id: LogId,
    /// `handle_code`: 200 success, 500 failure, 502 timeout; any value is stored as sent.
    pub code: i32,
    /// The result message.
    pub msg: Option<String>,
}

/// What one [`Completer::complete`] call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Completed {
    /// Logs whose result this call recorded; unknown logs and logs that already had a result are absent.
    pub written: Vec<LogId>,
    /// Child triggers handed to the trigger queue.
    pub children: Vec<JobId>,
}

/// Writes results and fires child jobs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Completer {
    store: Store,
    queue: TriggerQueue,
}

impl Completer {
    /// A completer writing to `store` and submitting child jobs to `queue`.
    pub fn new(store: Store, queue: TriggerQueue) -> Completer {
        Completer { store, queue }
    }

    /// The store results are written to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Records `results` in one transaction with `handle_time = now`.
    ///
    /// For a success (code 200) of a job that has child jobs, the child-trigger report is appended to the
    /// message before writing, as upstream does, and once the transaction has committed each valid child is
    /// submitted as a `Parent` trigger (only for logs this call actually wrote, so a repeated callback never
    /// fires children twice). A failed write records nothing and submits nothing.
    pub async fn complete(
        &self,
        results: &[ExecutionResult],
        now: DateTime<Utc>,
    ) -> Result<Completed, StoreError> {
        let children_of = self.child_lists(results).await?;
        let mut handles = Vec::with_capacity(results.len());
        let mut planned: HashMap<LogId, Vec<JobId>> = HashMap::new();
        for result in results {
            let mut msg = result.msg.clone();
            if let Some((parent, settings)) = children_of.get(&result.log_id) {
                let report = child_report(*parent, &settings.child_jobs());
                msg = Some(format!("{}{}", msg.unwrap_or_default(), report.text));
                planned.insert(result.log_id, report.triggers);
            }
            handles.push((
                result.log_id,
                LogHandle {
                    time: Some(now),
                    code: result.code,
                    msg,
                },
            ));
        }
        let written = self.store.complete_logs(&handles).await?;
        let mut children = Vec::new();
        for id in &written {
            if let Some(triggers) = planned.remove(id) {
                children.extend(triggers);
            }
        }
        if !children.is_empty() {
            self.submit_children(children.clone());
        }
        Ok(Completed { written, children })
    }

    /// For the successful results among `results` whose log still awaits its result and whose job has a
    /// child list: the parent job and its settings, by log.
    async fn child_lists(
        &self,
        results: &[ExecutionResult],
    ) -> Result<HashMap<LogId, (JobId, crate::model::JobSettings)>, StoreError> {
        let successes: Vec<LogId> = results
            .iter()
            .filter(|result| result.code == code::SUCCESS)
            .map(|result| result.log_id)
            .collect();
        if successes.is_empty() {
            return Ok(HashMap::new());
        }
        // Only logs of jobs with a child list come back, so the usual batch reads no job at all.
        let log_jobs = self.store.running_logs_with_child_jobs(&successes).await?;
        if log_jobs.is_empty() {
            return Ok(HashMap::new());
        }
        let mut job_ids: Vec<JobId> = log_jobs.iter().map(|(_, job)| *job).collect();
        job_ids.sort_unstable();
        job_ids.dedup();
        let jobs: HashMap<JobId, crate::model::JobSettings> = self
            .store
            .jobs_by_ids(&job_ids)
            .await?
            .into_iter()
            .filter(|job| !job.settings.child_jobs().is_empty())
            .map(|job| (job.id, job.settings))
            .collect();
        Ok(log_jobs
            .into_iter()
            .filter_map(|(log, job)| jobs.get(&job).map(|settings| (log, (job, settings.clone()))))
            .collect())
    }

    /// Hands child triggers to the queue without holding up the caller: a full queue must not stall the
    /// callbacks that are waiting for their results to be written.
    fn submit_children(&self, children: Vec<JobId>) {
        let queue = self.queue.clone();
        tokio::spawn(async move {
            for child in children {
                if let Err(error) = queue
                    .submit(TriggerRequest::new(child, TriggerType::Parent))
                    .await
                {
                    tracing::warn!(job_id = child.0, %error, "child job not triggered");
                }
            }
        });
    }
}

/// The child-trigger report of one successful parent and the children to trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildReport {
    /// HTML appended to the parent's result message; empty when the job has no child list.
    pub text: String,
    /// The valid children, in list order, without the parent itself.
    pub triggers: Vec<JobId>,
}

/// The report for `parent`'s child list: each valid id other than the parent's own is triggered and
/// reported as submitted (upstream reports the submission, not its outcome); the parent's own id is
/// skipped silently, so a job cannot loop on itself; anything else is reported as not valid.
pub fn child_report(parent: JobId, children: &[ChildJob<'_>]) -> ChildReport {
    if children.is_empty() {
        return ChildReport {
            text: String::new(),
            triggers: Vec::new(),
        };
    }
    let total = children.len();
    let mut text = message::section_header("Child jobs");
    let mut triggers = Vec::new();
    for (index, child) in children.iter().enumerate() {
        let position = index + 1;
        // Writing into a String cannot fail.
        match child {
            ChildJob::Id(id) if *id == parent => {}
            ChildJob::Id(id) => {
                triggers.push(*id);
                let _ = write!(
                    text,
                    "Child {position}/{total} [job {}]: trigger submitted<br>",
                    id.0
                );
            }
            ChildJob::Invalid(token) => {
                let _ = write!(
                    text,
                    "Child {position}/{total} [job {}]: not triggered, the job id is not valid<br>",
                    escape(token)
                );
            }
        }
    }
    ChildReport { text, triggers }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_reports() {
        fn check(children: &[ChildJob<'_>], text: &str, triggers: &[i32]) {
            let report = child_report(JobId(5), children);
            assert_eq!(report.text, text, "{children:?}");
            let ids: Vec<i32> = report.triggers.iter().map(|id| id.0).collect();
            assert_eq!(ids, triggers, "{children:?}");
        }
        let head = "<br><br><span style=\"color:#00c0ef;\" > >>>>>>>>>>>Child jobs<<<<<<<<<<< </span><br>";
        check(&[], "", &[]);
        check(
            &[ChildJob::Id(JobId(7))],
            &format!("{head}Child 1/1 [job 7]: trigger submitted<br>"),
            &[7],
        );
        check(
            &[
                ChildJob::Id(JobId(7)),
                ChildJob::Id(JobId(5)),
                ChildJob::Invalid("x<y"),
                ChildJob::Id(JobId(9)),
            ],
            &format!(
                "{head}Child 1/4 [job 7]: trigger submitted<br>\
                 Child 3/4 [job x&lt;y]: not triggered, the job id is not valid<br>\
                 Child 4/4 [job 9]: trigger submitted<br>"
            ),
            &[7, 9],
        );
        // Only the parent itself: the heading stays, nothing fires.
        check(&[ChildJob::Id(JobId(5))], head, &[]);
    }
}
