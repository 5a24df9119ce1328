//! What the parts of the admin hand to the trigger pipeline: one [`TriggerRequest`] per submitted trigger,
//! sent through a bounded [`TriggerQueue`], and the shared [`ExecutorGenerations`] directory that tells the
//! pipeline which protocol generation each executor address speaks.
//!
//! The scheduler, the completion path (child jobs), the retry monitor and the job API only build requests;
//! the pipeline alone loads jobs and groups, writes log rows, routes and calls executors.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, oneshot};
use xjob_protocol::{Generation, JobId, LogId};

/// Why a trigger happened (upstream's `TriggerTypeEnum`); its title heads `trigger_msg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TriggerType {
    /// "Run once" from the console or a trigger from the job API.
    Manual,
    /// The scheduler, for CRON and FIX_RATE jobs.
    Cron,
    /// A fail retry.
    Retry,
    /// A parent job succeeded.
    Parent,
    /// Reserved by upstream and never used there; kept for API callers that want it visible.
    Api,
    /// FIRE_ONCE_NOW after a misfire.
    Misfire,
}

impl TriggerType {
    /// The title shown in `trigger_msg`.
    pub fn title(self) -> &'static str {
        match self {
            TriggerType::Manual => "Manual trigger",
            TriggerType::Cron => "Cron trigger",
            TriggerType::Retry => "Fail retry trigger",
            TriggerType::Parent => "Parent job trigger",
            TriggerType::Api => "Api trigger",
            TriggerType::Misfire => "Misfire compensation trigger",
        }
    }
}

/// One submitted trigger: the inputs of the trigger procedure.
#[derive(Debug)]
pub struct TriggerRequest {
    /// The job to trigger.
    pub job_id: JobId,
    /// Why.
    pub trigger_type: TriggerType,
    /// The instant (Unix ms) this fire was planned for; `None` means "now". Scheduler fires carry it so the
    /// pipeline can measure and record skew.
    pub planned_ms: Option<i64>,
    /// Replaces the job's parameter when set.
    pub executor_param: Option<String>,
    /// Replaces the group's address list for this trigger only (a manual trigger's choice; the caller has
    /// already checked the addresses are registered for the job's group).
    pub address_list: Option<Vec<String>>,
    /// Keep only the addresses of `address_list` that the job's group lists when the trigger is
    /// processed: set for a planned trigger, whose choice was checked when it was planned, possibly long
    /// before. When none is left, the log row records a failed trigger with no usable address (it does
    /// not fall back to routing over the group, which the caller did not ask for).
    pub only_registered_addresses: bool,
    /// `(index, total)` to run one shard only (a retry of a broadcast shard); `None` lets
    /// SHARDING_BROADCAST fan out.
    pub shard: Option<(u32, u32)>,
    /// Retries left; `None` takes the job's `executor_fail_retry_count`.
    pub fail_retry_count: Option<i32>,
    /// When the caller wants to know the outcome: the log ids written (one per shard), or why none was.
    pub reply: Option<oneshot::Sender<Result<Vec<LogId>, TriggerRejected>>>,
}

impl TriggerRequest {
    /// A request with every optional input left to the job's own settings.
    pub fn new(job_id: JobId, trigger_type: TriggerType) -> TriggerRequest {
        TriggerRequest {
            job_id,
            trigger_type,
            planned_ms: None,
            executor_param: None,
            address_list: None,
            only_registered_addresses: false,
            shard: None,
            fail_retry_count: None,
            reply: None,
        }
    }
}

/// Why a request left no log row.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TriggerRejected {
    /// The job does not exist (any more).
    #[error("job {0} does not exist")]
    NoSuchJob(JobId),
    /// The pipeline is shutting down or its queue is full.
    #[error("the trigger queue is not accepting work: {0}")]
    Unavailable(&'static str),
    /// Storage failed before the log row existed.
    #[error("storage error: {0}")]
    Storage(String),
}

/// The sending side of the pipeline's queue. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TriggerQueue {
    sender: mpsc::Sender<TriggerRequest>,
}

impl TriggerQueue {
    /// A queue holding up to `capacity` requests, and its receiving end for the pipeline.
    pub fn bounded(capacity: usize) -> (TriggerQueue, mpsc::Receiver<TriggerRequest>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (TriggerQueue { sender }, receiver)
    }

    /// Submits a request, waiting while the queue is full. Fails only when the pipeline has stopped; the
    /// request's reply channel (if any) is then dropped.
    pub async fn submit(&self, request: TriggerRequest) -> Result<(), TriggerRejected> {
        self.sender
            .send(request)
            .await
            .map_err(|_| TriggerRejected::Unavailable("the pipeline has stopped"))
    }

    /// Submits without waiting; a full queue or a stopped pipeline rejects the request.
    pub fn try_submit(&self, request: TriggerRequest) -> Result<(), TriggerRejected> {
        self.sender.try_send(request).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => TriggerRejected::Unavailable("the queue is full"),
            mpsc::error::TrySendError::Closed(_) => TriggerRejected::Unavailable("the pipeline has stopped"),
        })
    }

    /// Submits and waits for the pipeline's answer.
    pub async fn trigger(&self, mut request: TriggerRequest) -> Result<Vec<LogId>, TriggerRejected> {
        let (tx, rx) = oneshot::channel();
        request.reply = Some(tx);
        self.submit(request).await?;
        rx.await.unwrap_or(Err(TriggerRejected::Unavailable(
            "the pipeline stopped before answering",
        )))
    }
}

/// The protocol generation each executor address speaks, learnt from its registrations (and, in a cluster,
/// from the registry table), read by the pipeline for every executor call. Addresses never seen take
/// the configured default.
#[derive(Clone, Debug)]
pub struct ExecutorGenerations {
    default: Generation,
    known: Arc<RwLock<HashMap<String, Generation>>>,
}

impl ExecutorGenerations {
    /// An empty directory answering `default` for unknown addresses.
    pub fn new(default: Generation) -> ExecutorGenerations {
        ExecutorGenerations {
            default,
            known: Arc::default(),
        }
    }

    /// The generation to speak to `address`.
    pub fn get(&self, address: &str) -> Generation {
        match self.known.read() {
            Ok(map) => map.get(address).copied().unwrap_or(self.default),
            Err(poisoned) => poisoned
                .into_inner()
                .get(address)
                .copied()
                .unwrap_or(self.default),
        }
    }

    /// Records what `address` speaks.
    pub fn set(&self, address: &str, generation: Generation) {
        let mut map = match self.known.write() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        if map.get(address) != Some(&generation) {
            map.insert(address.to_owned(), generation);
        }
    }

    /// The generation for addresses never seen.
    pub fn default_generation(&self) -> Generation {
        self.default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stopped_pipeline_rejects_and_a_full_queue_refuses_without_waiting() {
        let (queue, mut rx) = TriggerQueue::bounded(1);
        queue
            .try_submit(TriggerRequest::new(JobId(1), TriggerType::Manual))
            .unwrap();
        assert_eq!(
            queue.try_submit(TriggerRequest::new(JobId(2), TriggerType::Manual)),
            Err(TriggerRejected::Unavailable("the queue is full"))
        );
        assert_eq!(rx.recv().await.map(|r| r.job_id), Some(JobId(1)));
        drop(rx);
        assert!(
            queue
                .submit(TriggerRequest::new(JobId(3), TriggerType::Cron))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn trigger_returns_what_the_pipeline_answers() {
        let (queue, mut rx) = TriggerQueue::bounded(4);
        let answer = tokio::spawn(async move {
            let request = rx.recv().await.unwrap();
            request.reply.unwrap().send(Ok(vec![LogId(7)])).unwrap();
        });
        assert_eq!(
            queue
                .trigger(TriggerRequest::new(JobId(1), TriggerType::Api))
                .await,
            Ok(vec![LogId(7)])
        );
        answer.await.unwrap();
    }

    #[test]
    fn unknown_addresses_take_the_default_generation() {
        let generations = ExecutorGenerations::new(Generation::G3);
        generations.set("http://a:9999/", Generation::G1);
        assert_eq!(generations.get("http://a:9999/"), Generation::G1);
        assert_eq!(generations.get("http://b:9999/"), Generation::G3);
    }
}
