//! `kubernetesJobHandler` as the executor SDK sees it: one trigger becomes one prepared object, created and
//! supervised by the lifecycle, its verdict the execution's result. Kill, timeout, replacement and shutdown
//! reach it through the SDK's cancellation token; the SDK then reports upstream's texts for them.

use std::sync::Arc;

use xjob_executor::{BoxFuture, CancelReason, JobContext, JobHandler, JobResult};

use crate::config::OnShutdown;
use crate::lifecycle::{self, LiveGuard, OnCancel, Outcome, Shared, Target};
use crate::normalise::{self, Execution};
use crate::{prepare, rbac};

/// The Kubernetes job handler; register it under [`crate::HANDLER_NAME`]. Built by
/// [`crate::KubernetesExecutor`].
#[derive(Clone)]
pub struct KubernetesJobHandler {
    pub(crate) shared: Arc<Shared>,
}

impl JobHandler for KubernetesJobHandler {
    fn run<'a>(&'a self, ctx: JobContext) -> BoxFuture<'a, JobResult> {
        Box::pin(run(Arc::clone(&self.shared), ctx))
    }

    fn loggable_param(&self, param: &str) -> String {
        normalise::masked_parameter(param)
    }
}

async fn run(shared: Arc<Shared>, ctx: JobContext) -> JobResult {
    let settings = Arc::clone(&shared.settings);
    let config = &settings.config;
    let execution = Execution {
        job_id: ctx.job_id(),
        log_id: ctx.log_id(),
        log_date_time: ctx.log_date_time(),
        executor_timeout: ctx
            .timeout()
            .map_or(0, |timeout| i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX)),
        broadcast_index: i32::try_from(ctx.shard_index()).unwrap_or(i32::MAX),
        broadcast_total: i32::try_from(ctx.shard_total()).unwrap_or(i32::MAX),
    };
    let prepared = match prepare(ctx.param(), &execution, &settings) {
        Ok(prepared) => prepared,
        Err(error) => {
            let message = error.to_string();
            ctx.log(&message);
            return JobResult::fail(message);
        }
    };
    for note in &prepared.notes {
        ctx.log(note);
    }
    ctx.log(&format!(
        "kubernetes object:\n{}",
        normalise::masked_manifest(&prepared.workload).trim_end()
    ));
    let target = Target::of(&prepared.workload, execution.log_id.0);
    if let Some(missing) = rbac::first_needed(
        &shared.missing,
        &target.namespace,
        target.kind,
        config.copy_events,
    ) {
        let message = missing.message();
        ctx.log(&message);
        return JobResult::fail(message);
    }

    let cancel = ctx.cancelled();
    let _slot = match Arc::clone(&shared.slots).try_acquire_owned() {
        Ok(slot) => slot,
        Err(_) => {
            ctx.log(&format!(
                "waiting for a free slot: {} objects of this executor are running (max_running)",
                config.max_running
            ));
            tokio::select! {
                slot = Arc::clone(&shared.slots).acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => return JobResult::fail("executor is shutting down"),
                },
                () = cancel.cancelled() => return JobResult::fail("cancelled while waiting for a slot"),
            }
        }
    };
    let Some(_live) = LiveGuard::claim(&shared, &target) else {
        let message = format!(
            "{} is already followed by another execution on this executor",
            target.describe()
        );
        ctx.log(&message);
        return JobResult::fail(message);
    };
    match lifecycle::create(&shared, &prepared.workload, &target).await {
        Ok(line) => ctx.log(&line),
        Err(message) => {
            ctx.log(&message);
            return JobResult::fail(message);
        }
    }
    tracing::info!(
        job_id = %execution.job_id,
        log_id = %execution.log_id,
        namespace = %target.namespace,
        name = %target.name,
        "kubernetes execution started"
    );
    let log = ctx.logger();
    let on_cancel = || match ctx.cancel_reason() {
        Some(CancelReason::Shutdown) if config.on_shutdown == OnShutdown::Detach => OnCancel::Detach,
        _ => OnCancel::Delete,
    };
    match lifecycle::supervise(&shared, &target, &prepared.options, &log, &cancel, on_cancel).await {
        Outcome::Verdict(verdict) => JobResult {
            code: verdict.code,
            msg: Some(verdict.message),
        },
        // The SDK reports kills, timeouts and shutdowns with upstream's texts whatever is returned here.
        Outcome::Cancelled => JobResult::fail("cancelled"),
    }
}
