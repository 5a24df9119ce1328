//! A job as the API reads and writes it, and the validation that turns a request body into the model's
//! settings with upstream's rules: known schedule type and a configuration that parses (the cron error
//! names the field and token), known misfire, route, block and GLUE types, a handler for BEAN jobs, child
//! jobs that exist and are in the token's scope, and the column sizes of the database.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use xjob_cron::CronExpr;
use xjob_protocol::{BlockStrategy, GlueType, JobId, Lenient, WireEnum};

use crate::job_api::JobApiState;
use crate::job_api::auth::Caller;
use crate::job_api::error::ApiError;
use crate::job_api::view;
use crate::model::{
    ChildJob, Glue, Job, JobGroupId, JobSettings, MisfireStrategy, RetryPolicy, RouteStrategy, Schedule,
    ScheduleType, TriggerStatus,
};

/// A job.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobView {
    /// Job id.
    pub(crate) id: i32,
    /// The executor group it runs in.
    job_group: i32,
    /// Name.
    name: String,
    /// Owner.
    author: Option<String>,
    /// Comma-separated alarm e-mail addresses.
    alarm_email: Option<String>,
    /// `NONE`, `CRON` or `FIX_RATE`.
    #[schema(example = "CRON")]
    schedule_type: String,
    /// The cron expression or the rate in seconds.
    #[schema(example = "0 30 2 * * ?")]
    schedule_conf: Option<String>,
    /// IANA zone the cron expression is evaluated in; null means the admin's zone.
    schedule_time_zone: Option<String>,
    /// `DO_NOTHING` or `FIRE_ONCE_NOW`.
    misfire_strategy: String,
    /// One of the ten route strategies, e.g. `ROUND`.
    executor_route_strategy: Option<String>,
    /// Handler name (BEAN jobs).
    executor_handler: Option<String>,
    /// Parameter passed to the handler.
    executor_param: Option<String>,
    /// `SERIAL_EXECUTION`, `DISCARD_LATER` or `COVER_EARLY`.
    executor_block_strategy: Option<String>,
    /// Execution timeout in seconds, 0 for none.
    executor_timeout: i32,
    /// Retries after a failure.
    executor_fail_retry_count: i32,
    /// Seconds between retries; null retries at the monitor's next pass.
    fail_retry_interval: Option<u32>,
    /// Whether the retry interval doubles per attempt.
    fail_retry_backoff: bool,
    /// Comma-separated ids of jobs triggered when this one succeeds.
    child_job_id: Option<String>,
    /// `BEAN` or a `GLUE_*` type.
    glue_type: String,
    /// The GLUE source.
    glue_source: Option<String>,
    /// Remark of the GLUE source.
    glue_remark: Option<String>,
    /// When the GLUE source last changed.
    glue_update_time: Option<String>,
    /// `running` (scheduled) or `stopped`.
    #[schema(example = "running")]
    trigger_status: String,
    /// Previous scheduled fire, Unix milliseconds (0 when none).
    trigger_last_time: i64,
    /// Next scheduled fire, Unix milliseconds (0 when stopped).
    trigger_next_time: i64,
    /// Creation time.
    add_time: Option<String>,
    /// Last change.
    update_time: Option<String>,
}

/// A job to create, or the new settings of one. Omitted strategies take upstream's defaults
/// (`DO_NOTHING`, `FIRST`, `SERIAL_EXECUTION`, `BEAN`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct JobForm {
    /// The executor group (must exist and be in the token's scope).
    pub(crate) job_group: i32,
    /// Name, required.
    pub(crate) name: String,
    /// Owner, required.
    pub(crate) author: String,
    /// Comma-separated alarm e-mail addresses.
    #[serde(default)]
    pub(crate) alarm_email: Option<String>,
    /// `NONE`, `CRON` or `FIX_RATE`.
    pub(crate) schedule_type: String,
    /// A Quartz cron expression (CRON) or whole seconds >= 1 (FIX_RATE).
    #[serde(default)]
    pub(crate) schedule_conf: Option<String>,
    /// IANA zone for the cron expression; null means the admin's zone.
    #[serde(default)]
    pub(crate) schedule_time_zone: Option<String>,
    /// `DO_NOTHING` (default) or `FIRE_ONCE_NOW`.
    #[serde(default)]
    pub(crate) misfire_strategy: Option<String>,
    /// A route strategy, default `FIRST`.
    #[serde(default)]
    pub(crate) executor_route_strategy: Option<String>,
    /// Handler name, required for BEAN jobs.
    #[serde(default)]
    pub(crate) executor_handler: Option<String>,
    /// Parameter passed to the handler.
    #[serde(default)]
    pub(crate) executor_param: Option<String>,
    /// `SERIAL_EXECUTION` (default), `DISCARD_LATER` or `COVER_EARLY`.
    #[serde(default)]
    pub(crate) executor_block_strategy: Option<String>,
    /// Execution timeout in seconds, 0 (default) for none.
    #[serde(default)]
    pub(crate) executor_timeout: i32,
    /// Retries after a failure (default 0).
    #[serde(default)]
    pub(crate) executor_fail_retry_count: i32,
    /// Seconds between retries.
    #[serde(default)]
    pub(crate) fail_retry_interval: Option<u32>,
    /// Double the retry interval per attempt.
    #[serde(default)]
    pub(crate) fail_retry_backoff: bool,
    /// Comma-separated ids of jobs to trigger when this one succeeds.
    #[serde(default)]
    pub(crate) child_job_id: Option<String>,
    /// `BEAN` (default) or a `GLUE_*` type; fixed after creation.
    #[serde(default)]
    pub(crate) glue_type: Option<String>,
    /// Initial GLUE source (creation only).
    #[serde(default)]
    pub(crate) glue_source: Option<String>,
    /// Remark of the initial GLUE source (creation only).
    #[serde(default)]
    pub(crate) glue_remark: Option<String>,
}

/// A validated job body.
#[derive(Debug)]
pub(crate) struct ValidJob {
    pub(crate) group: JobGroupId,
    pub(crate) settings: JobSettings,
    pub(crate) glue: Glue,
}

/// The view of a stored job.
pub(crate) fn job_view(job: &Job) -> JobView {
    let settings = &job.settings;
    JobView {
        id: job.id.0,
        job_group: job.group.0,
        name: settings.name.clone(),
        author: settings.author.clone(),
        alarm_email: settings.alarm_email.clone(),
        schedule_type: settings.schedule.schedule_type.as_str().to_owned(),
        schedule_conf: settings.schedule.conf.clone(),
        schedule_time_zone: settings.time_zone.map(|zone| zone.name().to_owned()),
        misfire_strategy: settings.misfire_strategy.as_str().to_owned(),
        executor_route_strategy: settings.route_strategy.as_ref().map(|s| s.as_str().to_owned()),
        executor_handler: settings.handler.clone(),
        executor_param: settings.param.clone(),
        executor_block_strategy: settings.block_strategy.as_ref().map(|s| s.as_str().to_owned()),
        executor_timeout: settings.timeout_seconds,
        executor_fail_retry_count: settings.retry.count,
        fail_retry_interval: settings.retry.interval_seconds,
        fail_retry_backoff: settings.retry.backoff,
        child_job_id: settings.child_job_id.clone(),
        glue_type: job.glue.glue_type.as_str().to_owned(),
        glue_source: job.glue.source.clone(),
        glue_remark: job.glue.remark.clone(),
        glue_update_time: view::time_opt(job.glue.update_time),
        trigger_status: match job.state.status {
            TriggerStatus::Running => "running",
            TriggerStatus::Stopped => "stopped",
        }
        .to_owned(),
        trigger_last_time: job.state.last_time,
        trigger_next_time: job.state.next_time,
        add_time: view::time_opt(job.add_time),
        update_time: view::time_opt(job.update_time),
    }
}

/// Checks a body for a new job (`existing` = `None`) or an edit of `existing`.
pub(crate) async fn validate(
    state: &JobApiState,
    caller: &Caller,
    form: JobForm,
    existing: Option<&Job>,
) -> Result<ValidJob, ApiError> {
    let group = JobGroupId(form.job_group);
    caller.require_group(group)?;
    if state.store().group(group).await?.is_none() {
        return Err(ApiError::invalid(
            "jobGroup",
            format!("executor group {group} does not exist"),
        ));
    }
    let name = required("name", &form.name, 255)?;
    let author = required("author", &form.author, 64)?;
    let alarm_email = optional("alarmEmail", form.alarm_email, 255)?;

    let schedule_type = parse_enum::<ScheduleType>("scheduleType", Some(&form.schedule_type), None)?;
    let time_zone = form
        .schedule_time_zone
        .as_deref()
        .map(str::trim)
        .filter(|zone| !zone.is_empty())
        .map(|zone| {
            zone.parse::<Tz>().map_err(|_| {
                ApiError::invalid("scheduleTimeZone", format!("unknown IANA time zone `{zone}`"))
            })
        })
        .transpose()?;
    let schedule = schedule(schedule_type, form.schedule_conf)?;

    let misfire_strategy = parse_enum(
        "misfireStrategy",
        form.misfire_strategy.as_deref(),
        Some(MisfireStrategy::DoNothing),
    )?;
    let route_strategy = parse_enum(
        "executorRouteStrategy",
        form.executor_route_strategy.as_deref(),
        Some(RouteStrategy::First),
    )?;
    let block_strategy = parse_enum(
        "executorBlockStrategy",
        form.executor_block_strategy.as_deref(),
        Some(BlockStrategy::SerialExecution),
    )?;

    let glue_type = match existing {
        None => parse_enum("glueType", form.glue_type.as_deref(), Some(GlueType::Bean))?,
        Some(job) => {
            let stored = job.glue.glue_type.clone();
            if let Some(requested) = form.glue_type.as_deref().map(str::trim)
                && requested != stored.as_str()
            {
                return Err(ApiError::invalid(
                    "glueType",
                    format!(
                        "the GLUE type of a job cannot change (it is `{}`)",
                        stored.as_str()
                    ),
                ));
            }
            if form.glue_source.is_some() || form.glue_remark.is_some() {
                return Err(ApiError::invalid(
                    "glueSource",
                    "GLUE source and remark are set when a job is created, not by an edit",
                ));
            }
            // The stored type is kept as it is, even one this version does not know.
            match stored.known() {
                Some(known) => known,
                None => GlueType::Bean,
            }
        }
    };
    let handler = form
        .executor_handler
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if glue_type == GlueType::Bean && handler.is_empty() {
        return Err(ApiError::invalid("executorHandler", "is required for BEAN jobs"));
    }
    max_chars("executorHandler", &handler, 255)?;
    if let Some(param) = &form.executor_param {
        // TEXT on MySQL holds 65 535 bytes.
        if param.len() > 65_535 {
            return Err(ApiError::invalid("executorParam", "must be at most 65535 bytes"));
        }
    }
    if form.executor_timeout < 0 {
        return Err(ApiError::invalid("executorTimeout", "must not be negative"));
    }
    if form.executor_fail_retry_count < 0 {
        return Err(ApiError::invalid(
            "executorFailRetryCount",
            "must not be negative",
        ));
    }
    if form
        .fail_retry_interval
        .is_some_and(|seconds| i32::try_from(seconds).is_err())
    {
        return Err(ApiError::invalid("failRetryInterval", "is too large"));
    }

    let glue = match existing {
        Some(job) => job.glue.clone(),
        None => {
            let mut source = form.glue_source;
            if glue_type == GlueType::Shell {
                // Upstream strips carriage returns so scripts edited on Windows run under bash.
                source = source.map(|text| text.replace('\r', ""));
            }
            Glue {
                glue_type: Lenient::Known(glue_type),
                source,
                remark: optional("glueRemark", form.glue_remark, 128)?,
                update_time: None,
            }
        }
    };
    let mut settings = JobSettings {
        name,
        author: Some(author),
        alarm_email,
        schedule,
        misfire_strategy: Lenient::Known(misfire_strategy),
        route_strategy: Some(Lenient::Known(route_strategy)),
        handler: Some(handler),
        param: form.executor_param,
        block_strategy: Some(Lenient::Known(block_strategy)),
        timeout_seconds: form.executor_timeout,
        retry: RetryPolicy {
            count: form.executor_fail_retry_count,
            interval_seconds: form.fail_retry_interval,
            backoff: form.fail_retry_backoff,
        },
        child_job_id: form.child_job_id,
        time_zone,
    };
    settings.child_job_id = child_jobs(state, caller, &settings, existing.map(|job| job.id)).await?;
    Ok(ValidJob {
        group,
        settings,
        glue,
    })
}

/// A schedule of a known type whose configuration fits it; the cron error names field and token.
pub(crate) fn schedule(schedule_type: ScheduleType, conf: Option<String>) -> Result<Schedule, ApiError> {
    let conf = conf
        .map(|conf| conf.trim().to_owned())
        .filter(|conf| !conf.is_empty());
    match schedule_type {
        ScheduleType::None => Ok(Schedule {
            schedule_type: Lenient::Known(ScheduleType::None),
            conf: optional("scheduleConf", conf, 128)?,
        }),
        ScheduleType::Cron => {
            let Some(expression) = conf else {
                return Err(ApiError::invalid(
                    "scheduleConf",
                    "a CRON schedule needs a cron expression",
                ));
            };
            max_chars("scheduleConf", &expression, 128)?;
            CronExpr::parse(&expression).map_err(|error| {
                ApiError::invalid("scheduleConf", format!("invalid cron expression: {error}"))
            })?;
            Ok(Schedule::cron(expression))
        }
        ScheduleType::FixRate => {
            let seconds = conf
                .as_deref()
                .and_then(|conf| conf.parse::<u32>().ok())
                .filter(|seconds| *seconds >= 1)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "scheduleConf",
                        "a FIX_RATE schedule needs a whole number of seconds >= 1",
                    )
                })?;
            Schedule::fix_rate(seconds).map_err(|error| ApiError::invalid("scheduleConf", error))
        }
    }
}

/// Parses an upstream enum spelling; `default` when absent (`None` makes it required).
pub(crate) fn parse_enum<T: WireEnum>(
    field: &str,
    value: Option<&str>,
    default: Option<T>,
) -> Result<T, ApiError> {
    match value.map(str::trim).filter(|value| !value.is_empty()) {
        Some(value) => T::from_wire_name(value).ok_or_else(|| {
            let allowed: Vec<&str> = T::ALL.iter().map(|value| value.wire_name()).collect();
            ApiError::invalid(
                field,
                format!("unknown value `{value}`; expected one of {}", allowed.join(", ")),
            )
        }),
        None => default.ok_or_else(|| ApiError::invalid(field, "is required")),
    }
}

/// The child list as stored: every token a job id that exists, is in scope and is not the job itself.
async fn child_jobs(
    state: &JobApiState,
    caller: &Caller,
    settings: &JobSettings,
    own_id: Option<JobId>,
) -> Result<Option<String>, ApiError> {
    let mut ids = Vec::new();
    for child in settings.child_jobs() {
        match child {
            ChildJob::Id(id) if Some(id) == own_id => {
                return Err(ApiError::invalid("childJobId", "a job cannot be its own child"));
            }
            ChildJob::Id(id) => ids.push(id),
            ChildJob::Invalid(token) => {
                return Err(ApiError::invalid(
                    "childJobId",
                    format!("`{token}` is not a job id"),
                ));
            }
        }
    }
    if ids.is_empty() {
        return Ok(None);
    }
    let found = state.store().jobs_by_ids(&ids).await?;
    for id in &ids {
        let Some(child) = found.iter().find(|job| job.id == *id) else {
            return Err(ApiError::invalid(
                "childJobId",
                format!("job {id} does not exist"),
            ));
        };
        if !caller.token.scope.allows(child.group) {
            return Err(ApiError::forbidden(format!(
                "childJobId: job {id} is in executor group {}, outside the token's scope",
                child.group
            )));
        }
    }
    let stored = ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    max_chars("childJobId", &stored, 255)?;
    Ok(Some(stored))
}

fn required(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    max_chars(field, value, max)?;
    Ok(value.to_owned())
}

fn optional(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    if let Some(value) = &value {
        max_chars(field, value, max)?;
    }
    Ok(value)
}

fn max_chars(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}
