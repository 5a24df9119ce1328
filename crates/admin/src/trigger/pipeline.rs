//! The trigger pipeline: the one consumer of the [`TriggerQueue`](crate::trigger::TriggerQueue). It turns
//! each [`TriggerRequest`] into log rows, routes every row to an executor address, calls the executor and
//! records the outcome in the row.
//!
//! Work flows in three stages, each batched so the database sees few statements per trigger:
//!
//! 1. **Intake** drains what has queued up (up to [`PipelineLimits::batch`] requests), loads their jobs
//!    and groups with one query each, and inserts the log rows of the whole batch in one `insert_logs`
//!    call. Each request is answered with its log ids as soon as the rows exist.
//! 2. **Dispatch** runs each row on its own task: routing (with `/beat` or `/idleBeat` probes for
//!    FAILOVER and BUSYOVER), then `/run` or `/trigger` in the address's protocol generation. A bounded
//!    number of calls is in flight.
//! 3. **Results** are collected by one writer that stores whatever has arrived in one transaction.
//!
//! Slow jobs cannot starve the rest (upstream's fast and slow trigger pools): a job whose triggers took
//! longer than 500 ms more than ten times in the current minute is dispatched under a separate, smaller
//! concurrency limit, so its calls wait for each other instead of occupying the permits every other job
//! needs. Unlike upstream, whose full pools drop triggers after the row decision, a full pipeline pushes
//! back on the queue: nothing already accepted is dropped.
//!
//! Shutdown stops accepting requests, finishes everything already queued or in flight and writes every
//! result before it returns.

mod dispatch;
mod lanes;
mod writer;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use xjob_protocol::{JobId, LogId};

use crate::model::{Job, JobGroup, JobGroupId, LogTrigger, NewJobLog, RouteStrategy, address_tokens};
use crate::route::Router;
use crate::store::Store;
use crate::trigger::message::{MessageStyle, Registration};
use crate::trigger::pipeline::dispatch::Unit;
use crate::trigger::pipeline::lanes::Lanes;
use crate::trigger::{ExecutorClient, ExecutorGenerations, TriggerRejected, TriggerRequest};

/// Starts the trigger pipeline; see the module docs.
#[derive(Debug)]
pub struct Pipeline(());

/// What the pipeline needs besides the store and its queue.
#[derive(Clone)]
pub struct PipelineDeps {
    /// The client every executor call goes through (its timeout is the trigger timeout).
    pub client: ExecutorClient,
    /// The routing state shared with anything else that routes (one per admin).
    pub router: Arc<Router>,
    /// Which protocol generation each executor address speaks.
    pub generations: ExecutorGenerations,
    /// This admin's address as `trigger_msg` shows it.
    pub admin_address: String,
    /// Which release's `trigger_msg` layout to write.
    pub style: MessageStyle,
    /// The global access token sent to G1 and G2 executors (`xxl.job.accessToken`); G3 executors get
    /// their group's token instead.
    pub access_token: Option<String>,
    /// Batch sizes and concurrency limits.
    pub limits: PipelineLimits,
}

/// Batch sizes and concurrency limits of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PipelineLimits {
    /// Requests taken from the queue at once; their log rows are inserted together.
    pub batch: usize,
    /// Executor calls (with their routing probes) in flight at once for ordinary jobs (upstream's fast
    /// pool maximum, `xxl.job.triggerpool.fast.max`).
    pub in_flight: usize,
    /// Executor calls in flight at once for jobs demoted as slow (`xxl.job.triggerpool.slow.max`).
    pub slow_in_flight: usize,
    /// Log rows written but not yet dispatched or finished; when reached, intake waits, and the queue
    /// fills up and pushes back on its submitters.
    pub backlog: usize,
    /// Trigger results stored per transaction at most.
    pub result_batch: usize,
}

/// The running pipeline.
#[derive(Debug)]
pub struct PipelineHandle {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Default for PipelineLimits {
    /// Batches of 256 keep each write transaction short: on SQLite a result write waits for the write
    /// in progress, and larger batches save little once statements carry hundreds of rows.
    fn default() -> Self {
        PipelineLimits {
            batch: 256,
            in_flight: 300,
            slow_in_flight: 100,
            backlog: 20_000,
            result_batch: 256,
        }
    }
}

impl Pipeline {
    /// Starts consuming `receiver` (the receiving end of a [`TriggerQueue`](crate::trigger::TriggerQueue))
    /// on the current tokio runtime.
    pub fn start(
        store: Store,
        receiver: mpsc::Receiver<TriggerRequest>,
        deps: PipelineDeps,
    ) -> PipelineHandle {
        let limits = sanitize(deps.limits);
        let (results, results_receiver) = mpsc::channel(limits.result_batch.saturating_mul(2));
        let writer = tokio::spawn(writer::write_results(
            store.clone(),
            results_receiver,
            limits.result_batch,
        ));
        let shared = Arc::new(Shared {
            store,
            client: deps.client,
            router: deps.router,
            generations: deps.generations,
            admin_address: deps.admin_address,
            style: deps.style,
            access_token: deps.access_token,
            fast: Semaphore::new(limits.in_flight),
            slow: Semaphore::new(limits.slow_in_flight),
            lanes: Lanes::default(),
            results,
        });
        let cancel = CancellationToken::new();
        let intake = Intake {
            shared,
            receiver,
            backlog: Arc::new(Semaphore::new(limits.backlog)),
            tasks: JoinSet::new(),
            batch: limits.batch,
        };
        let task = tokio::spawn(run(intake, writer, cancel.clone()));
        PipelineHandle { cancel, task }
    }
}

impl PipelineHandle {
    /// Stops accepting requests (submitters then get [`TriggerRejected::Unavailable`]), triggers
    /// everything already queued, waits for every executor call and stores every result.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "trigger pipeline task failed");
        }
    }
}

/// What every dispatch task reads.
struct Shared {
    store: Store,
    client: ExecutorClient,
    router: Arc<Router>,
    generations: ExecutorGenerations,
    admin_address: String,
    style: MessageStyle,
    access_token: Option<String>,
    fast: Semaphore,
    slow: Semaphore,
    lanes: Lanes,
    results: mpsc::Sender<(LogId, LogTrigger)>,
}

struct Intake {
    shared: Arc<Shared>,
    receiver: mpsc::Receiver<TriggerRequest>,
    backlog: Arc<Semaphore>,
    tasks: JoinSet<()>,
    batch: usize,
}

/// One accepted request: its job, the addresses it routes over, and its rows to be.
struct Plan {
    request: TriggerRequest,
    job: Arc<Job>,
    group: Option<Arc<JobGroup>>,
    addresses: Arc<Vec<String>>,
    registration: Registration,
    trigger_time: DateTime<Utc>,
    param: Option<String>,
    fail_retry_count: i32,
    /// `(index, total)` of each row, and whether the rows are broadcast shards.
    shards: Vec<(u32, u32)>,
}

fn sanitize(limits: PipelineLimits) -> PipelineLimits {
    PipelineLimits {
        batch: limits.batch.max(1),
        in_flight: limits.in_flight.max(1),
        slow_in_flight: limits.slow_in_flight.max(1),
        backlog: limits.backlog.max(1),
        result_batch: limits.result_batch.max(1),
    }
}

async fn run(mut intake: Intake, writer: JoinHandle<()>, cancel: CancellationToken) {
    let mut batch = Vec::with_capacity(intake.batch);
    loop {
        let received = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            received = intake.receiver.recv_many(&mut batch, intake.batch) => received,
        };
        if received == 0 {
            break;
        }
        intake.process(std::mem::take(&mut batch)).await;
        while let Some(finished) = intake.tasks.try_join_next() {
            report_panic(finished);
        }
    }
    // Closing refuses new submissions; what is already queued is still received and triggered.
    intake.receiver.close();
    loop {
        batch.clear();
        if intake.receiver.recv_many(&mut batch, intake.batch).await == 0 {
            break;
        }
        intake.process(std::mem::take(&mut batch)).await;
    }
    while let Some(finished) = intake.tasks.join_next().await {
        report_panic(finished);
    }
    // The last sender of results goes with the shared state, which ends the writer after its last batch.
    drop(intake);
    if let Err(error) = writer.await {
        tracing::error!(%error, "trigger result writer failed");
    }
}

fn report_panic(finished: Result<(), tokio::task::JoinError>) {
    if let Err(error) = finished {
        tracing::error!(%error, "a trigger dispatch task failed; its log row keeps trigger code 0");
    }
}

impl Intake {
    /// Loads, inserts and answers one batch of requests, then hands each row to a dispatch task.
    async fn process(&mut self, requests: Vec<TriggerRequest>) {
        let plans = match self.plan(requests).await {
            Ok(plans) => plans,
            Err((requests, error)) => {
                tracing::error!(%error, count = requests.len(), "loading jobs for triggers failed");
                reject_all(requests, &error);
                return;
            }
        };
        let rows: Vec<NewJobLog> = plans
            .iter()
            .flat_map(|plan| {
                plan.shards.iter().map(|_| NewJobLog {
                    job_group: plan.job.group,
                    job_id: plan.job.id,
                    trigger_time: plan.trigger_time,
                })
            })
            .collect();
        let ids = match self.shared.store.insert_logs(&rows).await {
            Ok(ids) if ids.len() == rows.len() => ids,
            Ok(ids) => {
                let error = format!("{} log ids returned for {} rows", ids.len(), rows.len());
                tracing::error!(%error, "inserting trigger log rows failed");
                reject_all(plans.into_iter().map(|plan| plan.request).collect(), &error);
                return;
            }
            Err(error) => {
                tracing::error!(%error, count = rows.len(), "inserting trigger log rows failed");
                reject_all(plans.into_iter().map(|plan| plan.request).collect(), &error);
                return;
            }
        };
        let mut ids = ids.into_iter();
        for mut plan in plans {
            let plan_ids: Vec<LogId> = ids.by_ref().take(plan.shards.len()).collect();
            if let Some(reply) = plan.request.reply.take() {
                // The submitter may have stopped waiting; the trigger goes ahead regardless.
                let _ = reply.send(Ok(plan_ids.clone()));
            }
            self.dispatch(plan, plan_ids).await;
        }
    }

    /// Loads the jobs and groups of a batch and decides each request's rows; answers requests for
    /// missing jobs. On a storage error, gives the requests back with the error.
    async fn plan(
        &self,
        requests: Vec<TriggerRequest>,
    ) -> Result<Vec<Plan>, (Vec<TriggerRequest>, crate::store::StoreError)> {
        let mut job_ids: Vec<JobId> = requests.iter().map(|request| request.job_id).collect();
        job_ids.sort_unstable();
        job_ids.dedup();
        let jobs = match self.shared.store.jobs_by_ids(&job_ids).await {
            Ok(jobs) => jobs,
            Err(error) => return Err((requests, error)),
        };
        let mut group_ids: Vec<JobGroupId> = jobs.iter().map(|job| job.group).collect();
        group_ids.sort_unstable();
        group_ids.dedup();
        let groups = match self.shared.store.groups_by_ids(&group_ids).await {
            Ok(groups) => groups,
            Err(error) => return Err((requests, error)),
        };
        let jobs: HashMap<JobId, Arc<Job>> = jobs.into_iter().map(|job| (job.id, Arc::new(job))).collect();
        let groups: HashMap<JobGroupId, (Arc<JobGroup>, Arc<Vec<String>>)> = groups
            .into_iter()
            .map(|group| {
                let addresses = group.addresses().into_iter().map(str::to_owned).collect();
                (group.id, (Arc::new(group), Arc::new(addresses)))
            })
            .collect();
        let mut plans = Vec::with_capacity(requests.len());
        for request in requests {
            let Some(job) = jobs.get(&request.job_id) else {
                tracing::warn!(job_id = request.job_id.0, "trigger for a job that does not exist");
                if let Some(reply) = request.reply {
                    let _ = reply.send(Err(TriggerRejected::NoSuchJob(request.job_id)));
                }
                continue;
            };
            plans.push(plan_request(request, Arc::clone(job), groups.get(&job.group)));
        }
        Ok(plans)
    }

    async fn dispatch(&mut self, plan: Plan, ids: Vec<LogId>) {
        let broadcast = route_strategy(&plan.job) == Some(RouteStrategy::ShardingBroadcast);
        for (shard, log_id) in plan.shards.iter().zip(ids) {
            // Waiting here is the pipeline's back-pressure: the queue fills and submitters wait.
            let Ok(permit) = Arc::clone(&self.backlog).acquire_owned().await else {
                return;
            };
            let unit = Unit {
                log_id,
                job: Arc::clone(&plan.job),
                group: plan.group.clone(),
                addresses: Arc::clone(&plan.addresses),
                registration: plan.registration,
                trigger_type: plan.request.trigger_type,
                trigger_time_ms: plan.trigger_time.timestamp_millis(),
                param: plan.param.clone(),
                fail_retry_count: plan.fail_retry_count,
                shard: *shard,
                broadcast,
            };
            let shared = Arc::clone(&self.shared);
            self.tasks.spawn(async move {
                dispatch::run(&shared, unit).await;
                drop(permit);
            });
        }
    }
}

/// The rows of one request (upstream's trigger procedure, steps 2 to 6).
fn plan_request(
    request: TriggerRequest,
    job: Arc<Job>,
    group: Option<&(Arc<JobGroup>, Arc<Vec<String>>)>,
) -> Plan {
    let trigger_time = Utc::now();
    if let Some(planned) = request.planned_ms {
        let skew_ms = trigger_time.timestamp_millis() - planned;
        if skew_ms > 1000 {
            tracing::debug!(job_id = job.id.0, skew_ms, "trigger later than planned");
        }
    }
    let registered = group.map_or(&[][..], |(_, addresses)| addresses.as_slice());
    let chosen = chosen_addresses(&request, registered);
    if let Some(chosen) = &chosen
        && chosen.gone > 0
    {
        tracing::warn!(
            job_id = job.id.0,
            gone = chosen.gone,
            kept = chosen.addresses.len(),
            "chosen executors are no longer registered for the job's group"
        );
    }
    let (addresses, registration) = if let Some(chosen) = chosen {
        (Arc::new(chosen.addresses), Registration::Manual)
    } else {
        match group {
            Some((group, addresses)) => (
                Arc::clone(addresses),
                match group.address_type {
                    crate::model::AddressType::Automatic => Registration::Automatic,
                    crate::model::AddressType::Manual => Registration::Manual,
                },
            ),
            None => (Arc::new(Vec::new()), Registration::Automatic),
        }
    };
    let total = u32::try_from(addresses.len()).unwrap_or(u32::MAX);
    let shards = match request.shard {
        Some(shard) => vec![shard],
        None if route_strategy(&job) == Some(RouteStrategy::ShardingBroadcast) && total > 0 => {
            (0..total).map(|index| (index, total)).collect()
        }
        None => vec![(0, 1)],
    };
    let param = request
        .executor_param
        .clone()
        .or_else(|| job.settings.param.clone());
    let fail_retry_count = request
        .fail_retry_count
        .filter(|count| *count >= 0)
        .unwrap_or(job.settings.retry.count);
    Plan {
        request,
        group: group.map(|(group, _)| Arc::clone(group)),
        job,
        addresses,
        registration,
        trigger_time,
        param,
        fail_retry_count,
        shards,
    }
}

/// The executors a request chose instead of routing over the group.
#[derive(Debug, PartialEq, Eq)]
struct Chosen {
    /// The addresses to use; empty means no usable address (the row records a failed trigger).
    addresses: Vec<String>,
    /// Chosen addresses dropped because the group no longer lists them.
    gone: usize,
}

/// The request's chosen executors, or `None` to route over the group. With
/// [`TriggerRequest::only_registered_addresses`], only those among `registered` (the group's current
/// list) are kept.
fn chosen_addresses(request: &TriggerRequest, registered: &[String]) -> Option<Chosen> {
    let mut addresses: Vec<String> = request
        .address_list
        .iter()
        .flatten()
        .flat_map(|list| address_tokens(Some(list)))
        .map(str::to_owned)
        .collect();
    if addresses.is_empty() {
        return None;
    }
    let mut gone = 0;
    if request.only_registered_addresses {
        let before = addresses.len();
        addresses.retain(|address| registered.contains(address));
        gone = before - addresses.len();
    }
    Some(Chosen { addresses, gone })
}

/// The job's routing strategy, when it is one this admin knows.
fn route_strategy(job: &Job) -> Option<RouteStrategy> {
    job.settings
        .route_strategy
        .as_ref()
        .and_then(|strategy| strategy.known())
}

fn reject_all(requests: Vec<TriggerRequest>, error: &dyn std::fmt::Display) {
    for request in requests {
        if let Some(reply) = request.reply {
            let _ = reply.send(Err(TriggerRejected::Storage(error.to_string())));
        }
    }
}

#[cfg(test)]
mod tests {
    use xjob_protocol::JobId;

    use super::*;
    use crate::trigger::TriggerType;

    /// The chosen addresses of a request choosing `list` (re-checked or not) when the group lists
    /// `registered`.
    fn check(list: Option<&[&str]>, recheck: bool, registered: &[&str], expected: Option<(&[&str], usize)>) {
        let mut request = TriggerRequest::new(JobId(1), TriggerType::Manual);
        request.address_list = list.map(|list| list.iter().map(|address| (*address).to_owned()).collect());
        request.only_registered_addresses = recheck;
        let registered: Vec<String> = registered.iter().map(|address| (*address).to_owned()).collect();
        let expected = expected.map(|(addresses, gone)| Chosen {
            addresses: addresses.iter().map(|address| (*address).to_owned()).collect(),
            gone,
        });
        assert_eq!(
            chosen_addresses(&request, &registered),
            expected,
            "{list:?} {recheck}"
        );
    }

    #[test]
    fn chosen_addresses_replace_routing_and_are_rechecked_when_asked() {
        const A: &str = "http://a:9999/";
        const B: &str = "http://b:9999/";
        // Nothing chosen: route over the group.
        check(None, false, &[A], None);
        check(Some(&[" ", ""]), true, &[A], None);
        // Chosen now: taken as they are (the job API checked them a moment ago).
        check(Some(&[A, B]), false, &[], Some((&[A, B], 0)));
        check(
            Some(&["http://a:9999/,http://b:9999/"]),
            false,
            &[],
            Some((&[A, B], 0)),
        );
        // Chosen earlier: only those still registered, and none left means none at all.
        check(Some(&[A, B]), true, &[A, B], Some((&[A, B], 0)));
        check(Some(&[A, B]), true, &[B], Some((&[B], 1)));
        check(Some(&[A, B]), true, &[], Some((&[], 2)));
    }
}
