//! `/api/v1/jobs`: list, create, read, replace and delete jobs; start and stop their schedule; trigger one
//! now; and the next fire times of a job or of a schedule being edited.
//!
//! Start and a schedule edit of a running job compute the next fire time with
//! [`first_fire_after`] (from now + 5 s, as upstream) and wake the scheduler. "Trigger" checks any
//! chosen addresses against the executors registered for the job's group (so the API cannot be used to
//! send requests to arbitrary hosts), then either submits a MANUAL trigger and answers with the log ids
//! the pipeline wrote, or, for a future `triggerTime`, stores a planned trigger for the scheduler (see
//! [`crate::job_api::planned`]): the queue itself holds no durable future work.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use xjob_protocol::JobId;

use crate::job_api::JobApiState;
use crate::job_api::auth::Caller;
use crate::job_api::error::{ApiError, ErrorBody};
use crate::job_api::extract::{ApiJson, ApiPath, ApiQuery};
use crate::job_api::job_form::{self, JobForm, JobView, job_view};
use crate::job_api::planned::{self, PlannedTriggerAccepted};
use crate::job_api::{groups, view};
use crate::model::{Job, ScheduleState, ScheduleType, TriggerStatus};
use crate::schedule::{FireTimeError, fire_times, first_fire_after};
use crate::store::{JobFilter, NewJob};
use crate::trigger::{TriggerRequest, TriggerType};

/// The most fire times one request may ask for.
const MAX_FIRE_TIMES: usize = 100;

/// One page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobPage {
    /// The jobs of the page, newest first.
    items: Vec<JobView>,
    /// Jobs matching the filters.
    total: i64,
}

/// Filters of the job list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobListFilter {
    /// Only this executor group; required for a token limited to several groups.
    job_group: Option<i32>,
    /// `running` or `stopped`.
    trigger_status: Option<String>,
    /// Name contains (case-insensitive).
    name: Option<String>,
    /// Handler contains (case-insensitive).
    executor_handler: Option<String>,
    /// Author contains (case-insensitive).
    author: Option<String>,
    /// Rows to skip (default 0).
    offset: Option<u32>,
    /// Rows to return, 1 to 500 (default 20).
    limit: Option<u32>,
}

/// What to run, and when.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TriggerForm {
    /// Replaces the job's parameter for this trigger; absent or null keeps the job's own.
    #[serde(default)]
    pub(crate) executor_param: Option<String>,
    /// Run on these executors instead of routing over the group; each must be registered for the job's
    /// group. Absent or empty routes as usual.
    #[serde(default)]
    pub(crate) address_list: Vec<String>,
    /// When to trigger: RFC 3339 with an offset, e.g. `2026-11-24T08:00:00+01:00` (milliseconds
    /// allowed). Absent, null, or not in the future: now. Later (at most 366 days ahead): the trigger
    /// is stored and fired by the scheduler at that instant, and the answer is 202.
    #[serde(default)]
    #[schema(example = "2026-11-24T08:00:00+01:00")]
    pub(crate) trigger_time: Option<String>,
}

/// The answer to a trigger request: the log rows of a trigger run now (200), or the trigger stored for
/// later (202).
#[derive(Debug)]
pub(crate) enum TriggerAnswer {
    /// Triggered now.
    Done(TriggerResult),
    /// Planned for a later instant.
    Planned(PlannedTriggerAccepted),
}

/// The log rows a trigger wrote (one per shard of a broadcast).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TriggerResult {
    /// Ids of the trigger logs.
    log_ids: Vec<i64>,
}

/// How many fire times to compute.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FireTimeCount {
    /// 1 to 100 (default 5).
    count: Option<usize>,
}

/// A schedule to preview.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SchedulePreview {
    /// `NONE`, `CRON` or `FIX_RATE`.
    schedule_type: String,
    /// The cron expression or the rate in seconds.
    #[serde(default)]
    schedule_conf: Option<String>,
    /// IANA zone of the cron expression; null means the admin's zone.
    #[serde(default)]
    schedule_time_zone: Option<String>,
    /// 1 to 100 (default 5).
    #[serde(default)]
    count: Option<usize>,
}

/// Upcoming fire times, earliest first (empty for a schedule that never fires by itself).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FireTimes {
    /// Unix milliseconds.
    epoch_ms: Vec<i64>,
    /// The same instants in RFC 3339 (UTC).
    times: Vec<String>,
}

/// List jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobListFilter),
    responses((status = 200, body = JobPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_jobs(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiQuery(filter): ApiQuery<JobListFilter>,
) -> Result<Json<JobPage>, ApiError> {
    let page = view::page(filter.offset, filter.limit)?;
    let status = match filter.trigger_status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("running") => Some(TriggerStatus::Running),
        Some("stopped") => Some(TriggerStatus::Stopped),
        Some(other) => {
            return Err(ApiError::invalid(
                "triggerStatus",
                format!("must be `running` or `stopped`, got `{other}`"),
            ));
        }
    };
    let filter = JobFilter {
        group: caller.default_group(filter.job_group)?,
        status,
        name: filter.name.unwrap_or_default(),
        handler: filter.executor_handler.unwrap_or_default(),
        author: filter.author.unwrap_or_default(),
    };
    let paged = state.store().jobs_page(&filter, page).await?;
    Ok(Json(JobPage {
        items: paged.rows.iter().map(job_view).collect(),
        total: paged.total,
    }))
}

/// Create a job; it starts stopped.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", request_body = JobForm,
    responses((status = 201, body = JobView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn create_job(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiJson(form): ApiJson<JobForm>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    let valid = job_form::validate(&state, &caller, form, None).await?;
    let new = NewJob {
        group: valid.group,
        settings: valid.settings,
        glue: valid.glue,
    };
    let id = state.store().insert_job(&new, Utc::now()).await?;
    tracing::info!(job_id = %id, token_id = %caller.token.id, "job created through the job API");
    Ok((StatusCode::CREATED, Json(job_view(&load(&state, id).await?))))
}

/// One job.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = i32, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_job(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i32>,
) -> Result<Json<JobView>, ApiError> {
    let job = load_in_scope(&state, &caller, JobId(id)).await?;
    Ok(Json(job_view(&job)))
}

/// Replace a job's settings (its GLUE code and status stay). A running job whose schedule changed gets
/// a new next fire time.
#[utoipa::path(put, path = "/api/v1/jobs/{id}", tag = "jobs", request_body = JobForm,
    params(("id" = i32, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn update_job(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i32>,
    ApiJson(form): ApiJson<JobForm>,
) -> Result<Json<JobView>, ApiError> {
    let existing = load_in_scope(&state, &caller, JobId(id)).await?;
    let valid = job_form::validate(&state, &caller, form, Some(&existing)).await?;
    let now = Utc::now();
    let schedule_changed = valid.settings.schedule != existing.settings.schedule
        || valid.settings.time_zone != existing.settings.time_zone;
    let next_time = if existing.state.status == TriggerStatus::Running && schedule_changed {
        Some(next_fire(&state, &valid.settings, now).map_err(|error| error.for_field("scheduleConf"))?)
    } else {
        None
    };
    if !state
        .store()
        .update_job(existing.id, valid.group, &valid.settings, next_time, now)
        .await?
    {
        return Err(not_found(existing.id));
    }
    if next_time.is_some() {
        state.wake_scheduler();
    }
    Ok(Json(job_view(&load(&state, existing.id).await?)))
}

/// Delete a job with its logs and GLUE history.
#[utoipa::path(delete, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = i32, Path, description = "Job id")),
    responses((status = 204, description = "deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_job(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i32>,
) -> Result<StatusCode, ApiError> {
    let job = load_in_scope(&state, &caller, JobId(id)).await?;
    if !state.store().delete_job(job.id).await? {
        return Err(not_found(job.id));
    }
    tracing::info!(job_id = %job.id, token_id = %caller.token.id, "job deleted through the job API");
    Ok(StatusCode::NO_CONTENT)
}

/// Start scheduling a job: its next fire time is the first after now + 5 s. Refused for schedule type
/// NONE and for a schedule with no future fire time.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/start", tag = "jobs", params(("id" = i32, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the schedule never fires")))]
pub(crate) async fn start_job(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i32>,
) -> Result<Json<JobView>, ApiError> {
    let job = load_in_scope(&state, &caller, JobId(id)).await?;
    let now = Utc::now();
    let next = next_fire(&state, &job.settings, now).map_err(|error| error.conflict())?;
    if !state
        .store()
        .set_job_state(job.id, ScheduleState::started(next), now)
        .await?
    {
        return Err(not_found(job.id));
    }
    state.wake_scheduler();
    Ok(Json(job_view(&load(&state, job.id).await?)))
}

/// Stop scheduling a job (triggers already submitted still run).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/stop", tag = "jobs", params(("id" = i32, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn stop_job(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i32>,
) -> Result<Json<JobView>, ApiError> {
    let job = load_in_scope(&state, &caller, JobId(id)).await?;
    if !state
        .store()
        .set_job_state(job.id, ScheduleState::STOPPED, Utc::now())
        .await?
    {
        return Err(not_found(job.id));
    }
    Ok(Json(job_view(&load(&state, job.id).await?)))
}

/// Trigger a job (type MANUAL) now, or at a later `triggerTime`, optionally with another parameter or
/// on chosen registered executors. Now: answers 200 once the trigger logs are written. Later: answers
/// 202 with the planned trigger's id; the scheduler fires it once at that instant (at once if the admin
/// was down then), and it can be listed and cancelled until shortly before. Chosen executors must be
/// registered for the job's group when the request is made; a planned trigger checks them again when
/// it fires and runs only on those the group still lists, and if none is left its log row records a
/// failed trigger with an empty address list (it does not fall back to routing over the group).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/trigger", tag = "jobs", request_body = TriggerForm,
    params(("id" = i32, Path, description = "Job id")),
    responses((status = 200, body = TriggerResult, description = "triggered now"),
        (status = 202, body = PlannedTriggerAccepted, description = "stored for `triggerTime`"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody, description = "the trigger pipeline is busy or stopped")))]
pub(crate) async fn trigger_job(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i32>,
    ApiJson(form): ApiJson<TriggerForm>,
) -> Result<TriggerAnswer, ApiError> {
    let job = load_in_scope(&state, &caller, JobId(id)).await?;
    let later = planned::future_time(form.trigger_time.as_deref(), Utc::now())?;
    let chosen: Vec<String> = form
        .address_list
        .iter()
        .map(|address| address.trim().to_owned())
        .filter(|address| !address.is_empty())
        .collect();
    if !chosen.is_empty() {
        let registered = match state.store().group(job.group).await? {
            Some(group) => groups::registered_addresses(&state, &group).await?,
            None => Vec::new(),
        };
        if let Some(unknown) = chosen.iter().find(|address| !registered.contains(address)) {
            return Err(ApiError::invalid(
                "addressList",
                format!(
                    "`{unknown}` is not an executor registered for executor group {}",
                    job.group
                ),
            ));
        }
    }
    if let Some(at) = later {
        let accepted = planned::plan(&state, &caller, &job, form.executor_param, chosen, at).await?;
        return Ok(TriggerAnswer::Planned(accepted));
    }
    let mut request = TriggerRequest::new(job.id, TriggerType::Manual);
    request.executor_param = form.executor_param;
    if !chosen.is_empty() {
        request.address_list = Some(chosen);
    }
    let timeout = state.options().trigger_timeout;
    let log_ids = tokio::time::timeout(timeout, state.queue().trigger(request))
        .await
        .map_err(|_| {
            ApiError::unavailable(format!(
                "the trigger pipeline did not answer within {} s; the trigger may still run",
                timeout.as_secs()
            ))
        })??;
    tracing::info!(job_id = %job.id, token_id = %caller.token.id, logs = log_ids.len(), "job triggered through the job API");
    Ok(TriggerAnswer::Done(TriggerResult {
        log_ids: log_ids.into_iter().map(|id| id.0).collect(),
    }))
}

impl IntoResponse for TriggerAnswer {
    fn into_response(self) -> Response {
        match self {
            TriggerAnswer::Done(result) => (StatusCode::OK, Json(result)).into_response(),
            TriggerAnswer::Planned(accepted) => (StatusCode::ACCEPTED, Json(accepted)).into_response(),
        }
    }
}

/// The job's next fire times from now, in its zone.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/fire-times", tag = "jobs",
    params(("id" = i32, Path, description = "Job id"), FireTimeCount),
    responses((status = 200, body = FireTimes), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn job_fire_times(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i32>,
    ApiQuery(count): ApiQuery<FireTimeCount>,
) -> Result<Json<FireTimes>, ApiError> {
    let job = load_in_scope(&state, &caller, JobId(id)).await?;
    let zone = job.settings.time_zone.unwrap_or(state.store().time_zone());
    upcoming(&job.settings.schedule, zone, count.count).map(Json)
}

/// Preview the next fire times of a schedule (as a job form would send it), from now.
#[utoipa::path(post, path = "/api/v1/fire-times", tag = "jobs", request_body = SchedulePreview,
    responses((status = 200, body = FireTimes), (status = 400, body = ErrorBody)))]
pub(crate) async fn preview_fire_times(
    State(state): State<JobApiState>,
    _caller: Caller,
    ApiJson(preview): ApiJson<SchedulePreview>,
) -> Result<Json<FireTimes>, ApiError> {
    let schedule_type =
        job_form::parse_enum::<ScheduleType>("scheduleType", Some(&preview.schedule_type), None)?;
    let schedule = job_form::schedule(schedule_type, preview.schedule_conf)?;
    let zone = match preview.schedule_time_zone.as_deref().map(str::trim) {
        None | Some("") => state.store().time_zone(),
        Some(zone) => zone
            .parse::<Tz>()
            .map_err(|_| ApiError::invalid("scheduleTimeZone", format!("unknown IANA time zone `{zone}`")))?,
    };
    upcoming(&schedule, zone, preview.count).map(Json)
}

/// The job, if the token's scope covers its group.
pub(crate) async fn load_in_scope(state: &JobApiState, caller: &Caller, id: JobId) -> Result<Job, ApiError> {
    let job = load(state, id).await?;
    caller.require_group(job.group)?;
    Ok(job)
}

async fn load(state: &JobApiState, id: JobId) -> Result<Job, ApiError> {
    state.store().job(id).await?.ok_or_else(|| not_found(id))
}

fn not_found(id: JobId) -> ApiError {
    ApiError::not_found(format!("job {id} does not exist"))
}

/// Why a job has no next fire time, to be reported against a field or as a conflict.
struct NoFireTime(String);

impl NoFireTime {
    fn for_field(self, field: &str) -> ApiError {
        ApiError::invalid(field, self.0)
    }

    fn conflict(self) -> ApiError {
        ApiError::conflict(self.0)
    }
}

/// The first fire of a job started or rescheduled at `now`.
fn next_fire(
    state: &JobApiState,
    settings: &crate::model::JobSettings,
    now: DateTime<Utc>,
) -> Result<i64, NoFireTime> {
    match first_fire_after(settings, state.store().time_zone(), now.timestamp_millis()) {
        Ok(Some(next)) => Ok(next),
        Ok(None) => Err(NoFireTime("the schedule has no future fire time".to_owned())),
        Err(FireTimeError::NeverScheduled) => Err(NoFireTime(
            "a job with schedule type NONE is never scheduled; trigger it instead".to_owned(),
        )),
        Err(error) => Err(NoFireTime(error.to_string())),
    }
}

fn upcoming(
    schedule: &crate::model::Schedule,
    zone: Tz,
    count: Option<usize>,
) -> Result<FireTimes, ApiError> {
    let count = count.unwrap_or(5);
    if !(1..=MAX_FIRE_TIMES).contains(&count) {
        return Err(ApiError::invalid(
            "count",
            format!("must be between 1 and {MAX_FIRE_TIMES}"),
        ));
    }
    let epoch_ms = match fire_times(schedule, zone, Utc::now().timestamp_millis(), count) {
        Ok(times) => times,
        Err(FireTimeError::NeverScheduled) => Vec::new(),
        Err(error) => return Err(ApiError::invalid("scheduleConf", error)),
    };
    let times = epoch_ms
        .iter()
        .filter_map(|ms| DateTime::<Utc>::from_timestamp_millis(*ms))
        .map(view::time)
        .collect();
    Ok(FireTimes { epoch_ms, times })
}
