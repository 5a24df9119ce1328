//! `/api/v1/logs`: trigger logs (list with filters and paging, one log), the live execution log read
//! from the executor that ran it, and kill.
//!
//! Executors are called at the log row's address, in the protocol generation recorded for that address,
//! with the group's credentials. A kill that the executor accepts is recorded as upstream's manual kill:
//! the log completes with code 500 and "Manual operation, kill job:<executor message>", so the executor's
//! own later callback for it changes nothing.

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use xjob_protocol::{Generation, JobId, LogId, LogRequest, code};

use crate::job_api::JobApiState;
use crate::job_api::auth::Caller;
use crate::job_api::error::{ApiError, ErrorBody};
use crate::job_api::extract::{ApiPath, ApiQuery};
use crate::job_api::jobs::load_in_scope as load_job_in_scope;
use crate::job_api::view;
use crate::model::{JobGroup, JobGroupId, JobLog, LogHandle, LogStatus};
use crate::store::LogFilter;
use crate::trigger::ExecutorTarget;

/// What a manual kill writes before the executor's message (upstream's English text).
const KILL_MESSAGE: &str = "Manual operation, kill job";

/// A trigger log.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogView {
    /// Log id.
    id: i64,
    /// Executor group of the job at trigger time.
    job_group: i32,
    /// The job.
    job_id: i32,
    /// Executor the trigger went to.
    executor_address: Option<String>,
    /// Handler at trigger time.
    executor_handler: Option<String>,
    /// Parameter sent.
    executor_param: Option<String>,
    /// `index/total` of a broadcast shard.
    executor_sharding_param: Option<String>,
    /// Retries left for this attempt.
    executor_fail_retry_count: i32,
    /// Trigger time.
    trigger_time: Option<String>,
    /// 0 in progress, 200 accepted, 500 failed.
    trigger_code: i32,
    /// The trigger report (HTML, as the console shows it).
    trigger_msg: Option<String>,
    /// When the result arrived.
    handle_time: Option<String>,
    /// 0 no result yet, 200 success, 500 failure, 502 timeout.
    handle_code: i32,
    /// Execution message.
    handle_msg: Option<String>,
    /// Fail-alarm progress: 0 default, -1 locked, 1 not needed, 2 sent, 3 failed.
    alarm_status: i16,
}

/// One page of logs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LogPage {
    /// The logs of the page, newest first.
    items: Vec<LogView>,
    /// Logs matching the filters.
    total: i64,
}

/// Filters of the log list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogListFilter {
    /// Only this executor group; required for a token limited to several groups unless `jobId` is given.
    job_group: Option<i32>,
    /// Only this job.
    job_id: Option<i32>,
    /// `all` (default), `success`, `failed` or `running`.
    status: Option<String>,
    /// Triggered at or after (RFC 3339).
    from: Option<String>,
    /// Triggered at or before (RFC 3339).
    to: Option<String>,
    /// Rows to skip (default 0).
    offset: Option<u32>,
    /// Rows to return, 1 to 500 (default 20).
    limit: Option<u32>,
}

/// Where to start reading an execution log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContentFrom {
    /// First line to return, 1-based (default 1).
    from_line: Option<i32>,
}

/// Lines of an execution log.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogContent {
    /// First line returned.
    from_line: i32,
    /// Last line returned (0 when there is nothing new); ask again from `toLine + 1`.
    to_line: i32,
    /// The lines, each ending with a line break, as the executor wrote them.
    content: String,
    /// Whether the execution finished and everything was read.
    end: bool,
}

/// The outcome of a kill.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KillResult {
    /// The executor's answer.
    message: String,
}

/// List trigger logs, newest first.
#[utoipa::path(get, path = "/api/v1/logs", tag = "logs", params(LogListFilter),
    responses((status = 200, body = LogPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_logs(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiQuery(filter): ApiQuery<LogListFilter>,
) -> Result<Json<LogPage>, ApiError> {
    let page = view::page(filter.offset, filter.limit)?;
    let status = match filter.status.as_deref().map(str::trim) {
        None | Some("") | Some("all") => LogStatus::All,
        Some("success") => LogStatus::Success,
        Some("failed") => LogStatus::Failed,
        Some("running") => LogStatus::Running,
        Some(other) => {
            return Err(ApiError::invalid(
                "status",
                format!("must be all, success, failed or running, got `{other}`"),
            ));
        }
    };
    let (job_group, job_id) = match filter.job_id.filter(|id| *id > 0) {
        Some(id) => {
            let job = load_job_in_scope(&state, &caller, JobId(id)).await?;
            let group = filter.job_group.filter(|group| *group > 0).map(JobGroupId);
            if let Some(group) = group {
                caller.require_group(group)?;
            }
            (group, Some(job.id))
        }
        None => (caller.default_group(filter.job_group)?, None),
    };
    let filter = LogFilter {
        job_group,
        job_id,
        trigger_from: view::parse_time("from", filter.from.as_deref())?,
        trigger_to: view::parse_time("to", filter.to.as_deref())?,
        status,
    };
    let paged = state.store().logs_page(&filter, page).await?;
    Ok(Json(LogPage {
        items: paged.rows.iter().map(log_view).collect(),
        total: paged.total,
    }))
}

/// One trigger log.
#[utoipa::path(get, path = "/api/v1/logs/{id}", tag = "logs", params(("id" = i64, Path, description = "Log id")),
    responses((status = 200, body = LogView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_log(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<LogView>, ApiError> {
    let log = load_in_scope(&state, &caller, LogId(id)).await?;
    Ok(Json(log_view(&log)))
}

/// Read an execution's log from the executor that runs or ran it.
#[utoipa::path(get, path = "/api/v1/logs/{id}/content", tag = "logs",
    params(("id" = i64, Path, description = "Log id"), ContentFrom),
    responses((status = 200, body = LogContent), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the trigger never reached an executor"),
        (status = 502, body = ErrorBody, description = "the executor failed or refused")))]
pub(crate) async fn log_content(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(from): ApiQuery<ContentFrom>,
) -> Result<Json<LogContent>, ApiError> {
    let log = load_in_scope(&state, &caller, LogId(id)).await?;
    let from_line = from.from_line.unwrap_or(1);
    if from_line < 1 {
        return Err(ApiError::invalid("fromLine", "must be at least 1"));
    }
    let address = executed_at(&log)?;
    let trigger_ms = log.trigger_time.map_or(0, |at| at.timestamp_millis());
    let group = state.store().group(log.job_group).await?;
    let target = target(&state, address, group.as_ref());
    let reply = state
        .client()
        .log(
            &target,
            &LogRequest {
                log_id: log.id,
                log_date_time: trigger_ms,
                from_line_num: from_line,
            },
        )
        .await?;
    if reply.code != code::SUCCESS {
        return Err(ApiError::bad_gateway(format!(
            "executor {address} refused: {}",
            reply.msg.unwrap_or_default()
        )));
    }
    let data = reply.data.unwrap_or_default();
    // As upstream: nothing new while the execution has a result means the log is complete.
    let end = data.is_end || (data.from_line_num > data.to_line_num && log.handle.code > 0);
    Ok(Json(LogContent {
        from_line: data.from_line_num,
        to_line: data.to_line_num,
        content: data.log_content,
        end,
    }))
}

/// Kill the job's thread on the executor that runs this log's execution, and record the log as killed.
#[utoipa::path(post, path = "/api/v1/logs/{id}/kill", tag = "logs", params(("id" = i64, Path, description = "Log id")),
    responses((status = 200, body = KillResult), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the trigger failed, nothing runs"),
        (status = 502, body = ErrorBody, description = "the executor failed or refused")))]
pub(crate) async fn kill_log(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<KillResult>, ApiError> {
    let log = load_in_scope(&state, &caller, LogId(id)).await?;
    let job = load_job_in_scope(&state, &caller, log.job_id).await?;
    let address = executed_at(&log)?;
    let group = state.store().group(job.group).await?;
    let target = target(&state, address, group.as_ref());
    let reply = state.client().kill(&target, job.id).await?;
    let message = reply.msg.unwrap_or_default();
    if reply.code != code::SUCCESS {
        return Err(ApiError::bad_gateway(format!(
            "executor {address} refused to kill: {message}"
        )));
    }
    let handle = LogHandle {
        time: Some(Utc::now()),
        code: code::FAILURE,
        msg: Some(format!("{KILL_MESSAGE}:{message}")),
    };
    state.store().complete_log(log.id, &handle).await?;
    tracing::info!(log_id = %log.id, job_id = %job.id, token_id = %caller.token.id, "execution killed through the job API");
    Ok(Json(KillResult { message }))
}

/// The log, if the token's scope covers its group.
async fn load_in_scope(state: &JobApiState, caller: &Caller, id: LogId) -> Result<JobLog, ApiError> {
    let log = state
        .store()
        .log(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("log {id} does not exist")))?;
    caller.require_group(log.job_group)?;
    Ok(log)
}

/// The executor a log's execution runs on; a failed trigger has none.
fn executed_at(log: &JobLog) -> Result<&str, ApiError> {
    match log.trigger.executor_address.as_deref() {
        Some(address) if log.trigger.code == code::SUCCESS && !address.is_empty() => Ok(address),
        _ => Err(ApiError::conflict(format!(
            "log {} has no execution: its trigger did not reach an executor",
            log.id
        ))),
    }
}

fn target<'a>(state: &'a JobApiState, address: &'a str, group: Option<&'a JobGroup>) -> ExecutorTarget<'a> {
    let generation = state.generations().get(address);
    ExecutorTarget {
        address,
        generation,
        access_token: match generation {
            Generation::G3 => group.and_then(|group| group.access_token.as_deref()),
            Generation::G1 | Generation::G2 => state.executor_token(),
        },
        app_name: group.map(|group| group.app_name.as_str()),
    }
}

fn log_view(log: &JobLog) -> LogView {
    LogView {
        id: log.id.0,
        job_group: log.job_group.0,
        job_id: log.job_id.0,
        executor_address: log.trigger.executor_address.clone(),
        executor_handler: log.trigger.executor_handler.clone(),
        executor_param: log.trigger.executor_param.clone(),
        executor_sharding_param: log.trigger.executor_sharding_param.clone(),
        executor_fail_retry_count: log.trigger.executor_fail_retry_count,
        trigger_time: view::time_opt(log.trigger_time),
        trigger_code: log.trigger.code,
        trigger_msg: log.trigger.msg.clone(),
        handle_time: view::time_opt(log.handle.time),
        handle_code: log.handle.code,
        handle_msg: log.handle.msg.clone(),
        alarm_status: log.alarm_status.code(),
    }
}
