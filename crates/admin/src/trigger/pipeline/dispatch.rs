//! One log row's trip to an executor: choose the address, call `/run` or `/trigger`, and describe the
//! outcome as the row's trigger fields (upstream's `processTrigger`, steps 3 to 7).

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use xjob_protocol::{
    BlockStrategy, Envelope, Generation, JobId, Lenient, LogId, TriggerRequest as RunRequest,
};

use crate::model::{Job, JobGroup, LogTrigger};
use crate::route::{Probe, RouteFailure, shard_address};
use crate::trigger::message::{
    AddressChoice, Registration, TriggerReport, TriggerResult, escape, trigger_msg,
};
use crate::trigger::pipeline::Shared;
use crate::trigger::pipeline::lanes::Lane;
use crate::trigger::{ExecutorTarget, TriggerType};

/// One log row to trigger.
pub(crate) struct Unit {
    pub(crate) log_id: LogId,
    pub(crate) job: Arc<Job>,
    pub(crate) group: Option<Arc<JobGroup>>,
    pub(crate) addresses: Arc<Vec<String>>,
    pub(crate) registration: Registration,
    pub(crate) trigger_type: TriggerType,
    pub(crate) trigger_time_ms: i64,
    pub(crate) param: Option<String>,
    pub(crate) fail_retry_count: i32,
    pub(crate) shard: (u32, u32),
    /// The job broadcasts: the shard picks the address and the row records `index/total`.
    pub(crate) broadcast: bool,
}

/// Waits for a permit of the job's lane, triggers, and hands the result to the writer.
pub(crate) async fn run(shared: &Shared, unit: Unit) {
    let job_id = unit.job.id;
    let semaphore = match shared.lanes.lane(job_id) {
        Lane::Fast => &shared.fast,
        Lane::Slow => &shared.slow,
    };
    // The semaphores are never closed, so a permit always comes.
    let Ok(permit) = semaphore.acquire().await else {
        return;
    };
    let started = Instant::now();
    let trigger = trigger(shared, &unit).await;
    drop(permit);
    shared
        .lanes
        .record(job_id, started.elapsed(), Utc::now().timestamp_millis());
    tracing::debug!(
        job_id = job_id.0,
        log_id = unit.log_id.0,
        executor = trigger.executor_address.as_deref().unwrap_or(""),
        code = trigger.code,
        "trigger sent"
    );
    if shared.results.send((unit.log_id, trigger)).await.is_err() {
        tracing::error!(log_id = unit.log_id.0, "trigger result writer has stopped");
    }
}

/// Routes, calls the executor and renders the row's trigger fields.
async fn trigger(shared: &Shared, unit: &Unit) -> LogTrigger {
    let job = &unit.job;
    let Some(strategy) = job.settings.route_strategy.as_ref().and_then(Lenient::known) else {
        return unknown_strategy(unit);
    };
    let block_strategy = job
        .settings
        .block_strategy
        .as_ref()
        .and_then(Lenient::known)
        .unwrap_or(BlockStrategy::SerialExecution);
    let addresses = unit.addresses.as_slice();
    let probe = GroupCredentials {
        shared,
        group: unit.group.as_deref(),
    };
    let choice = if addresses.is_empty() {
        AddressChoice::Failed(RouteFailure::NoAddress)
    } else if unit.broadcast {
        match shard_address(addresses, unit.shard.0 as usize) {
            Some(address) => AddressChoice::Shard(address),
            None => AddressChoice::Failed(RouteFailure::NoAddress),
        }
    } else {
        let now_ms = Utc::now().timestamp_millis();
        match shared
            .router
            .route(strategy, job.id, addresses, now_ms, &probe)
            .await
        {
            Ok(routed) => AddressChoice::Routed(routed),
            Err(failure) => AddressChoice::Failed(failure),
        }
    };
    let result = match choice.address() {
        Some(address) => {
            let request = run_request(unit);
            let target = probe.target(address);
            match shared.client.trigger(&target, &request).await {
                Ok(reply) => TriggerResult::from_reply(address, &reply),
                Err(error) => TriggerResult::from_error(&error),
            }
        }
        None => TriggerResult::no_address(shared.style),
    };
    let shard = unit
        .broadcast
        .then_some((unit.shard.0 as usize, unit.shard.1 as usize));
    let report = TriggerReport {
        trigger_type: unit.trigger_type.title(),
        admin_address: &shared.admin_address,
        registration: unit.registration,
        addresses: (!addresses.is_empty()).then_some(addresses),
        route_strategy: strategy,
        shard,
        block_strategy,
        timeout: job.settings.timeout_seconds,
        fail_retry_count: unit.fail_retry_count,
        handler: job.settings.handler.as_deref(),
        param: unit.param.as_deref(),
        choice: &choice,
        result: &result,
    };
    let msg = trigger_msg(&report, shared.style);
    LogTrigger {
        executor_address: choice.address().map(str::to_owned),
        executor_handler: job.settings.handler.clone(),
        executor_param: unit.param.clone(),
        executor_sharding_param: sharding_label(unit),
        executor_fail_retry_count: unit.fail_retry_count,
        code: result.code,
        msg: Some(msg),
    }
}

/// The body of `/run` or `/trigger`.
fn run_request(unit: &Unit) -> RunRequest {
    let job = &unit.job;
    RunRequest {
        job_id: job.id,
        executor_handler: job.settings.handler.clone(),
        executor_params: unit.param.clone(),
        executor_block_strategy: job.settings.block_strategy.clone(),
        executor_timeout: job.settings.timeout_seconds,
        log_id: unit.log_id,
        log_date_time: unit.trigger_time_ms,
        glue_type: Some(job.glue.glue_type.clone()),
        glue_source: job.glue.source.clone(),
        glue_updatetime: job.glue.update_time.map_or(0, |time| time.timestamp_millis()),
        broadcast_index: i32::try_from(unit.shard.0).unwrap_or(i32::MAX),
        broadcast_total: i32::try_from(unit.shard.1).unwrap_or(i32::MAX),
    }
}

fn sharding_label(unit: &Unit) -> Option<String> {
    unit.broadcast
        .then(|| format!("{}/{}", unit.shard.0, unit.shard.1))
}

/// A stored routing strategy this admin does not know. Upstream fails such a trigger with an exception
/// and leaves the row in progress; here the row records the failure.
fn unknown_strategy(unit: &Unit) -> LogTrigger {
    let name = match &unit.job.settings.route_strategy {
        Some(Lenient::Unknown(name)) => name.as_str(),
        _ => "null",
    };
    LogTrigger {
        executor_address: None,
        executor_handler: unit.job.settings.handler.clone(),
        executor_param: unit.param.clone(),
        executor_sharding_param: None,
        executor_fail_retry_count: unit.fail_retry_count,
        code: xjob_protocol::code::FAILURE,
        msg: Some(format!(
            "Trigger type：{}<br>Trigger result：error, unknown routing strategy `{}`",
            unit.trigger_type.title(),
            escape(name)
        )),
    }
}

/// Calls executors with the credentials their generation expects: the group's token and AppName for
/// G3, the admin's global token for G1 and G2. Also the FAILOVER/BUSYOVER probe, asking each address in
/// its own generation.
struct GroupCredentials<'a> {
    shared: &'a Shared,
    group: Option<&'a JobGroup>,
}

impl GroupCredentials<'_> {
    fn target<'t>(&'t self, address: &'t str) -> ExecutorTarget<'t> {
        let generation = self.shared.generations.get(address);
        let access_token = match generation {
            Generation::G3 => self.group.and_then(|group| group.access_token.as_deref()),
            Generation::G1 | Generation::G2 => self.shared.access_token.as_deref(),
        };
        ExecutorTarget {
            address,
            generation,
            access_token,
            app_name: self.group.map(|group| group.app_name.as_str()),
        }
    }
}

impl Probe for GroupCredentials<'_> {
    async fn beat(&self, address: &str) -> Envelope<String> {
        let target = self.target(address);
        failure_as_envelope(self.shared.client.beat(&target).await)
    }

    async fn idle_beat(&self, address: &str, job_id: JobId) -> Envelope<String> {
        let target = self.target(address);
        failure_as_envelope(self.shared.client.idle_beat(&target, job_id).await)
    }
}

/// A failed probe reads as a failure envelope with the error text, as upstream shows the exception.
fn failure_as_envelope(result: Result<Envelope<String>, crate::trigger::ClientError>) -> Envelope<String> {
    result.unwrap_or_else(|error| Envelope::failure(error.to_string()))
}
