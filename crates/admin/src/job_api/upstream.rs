//! Upstream's G3 job API (`POST /api/addJob`, `updateJob`, `removeJob`, `startJob`, `stopJob`,
//! `triggerJob`, also under `/xxl-job-admin`), so scripts written for upstream keep working.
//!
//! As upstream, the caller authenticates with a group's `XXL-JOB-ACCESS-TOKEN` and `XXL-JOB-APPNAME` and
//! then acts on every group; answers are upstream's envelope `{code, msg, data, success}` with HTTP 200.
//! The operations run through the same validation and storage as `/api/v1`, with upstream's mapping:
//! `updateJob` keeps the group and clears the child jobs, `removeJob` of an unknown job succeeds, and a
//! trigger without parameter runs with `""`. Unlike upstream, a trigger's address list must name executors
//! registered for the job's group. Upstream's request rate limit is not imitated.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use serde::Serialize;
use serde::de::DeserializeOwned;
use xjob_protocol::job_api::{
    JobAddRequest, JobOperateRequest, JobSettings, JobTriggerRequest, JobUpdateRequest,
};
use xjob_protocol::{
    ACCESS_TOKEN_HEADER, APP_NAME_HEADER, AccessRule, AuthFailure, Credentials, Dialect, Envelope,
    Generation, Side, authorize,
};

use crate::job_api::JobApiState;
use crate::job_api::auth::Caller;
use crate::job_api::error::ApiError;
use crate::job_api::extract::{ApiJson, ApiPath};
use crate::job_api::job_form::JobForm;
use crate::job_api::jobs::{self, TriggerForm};
use crate::model::address_tokens;

/// Upstream's routes, with and without the pre-3.5 context path.
pub(crate) fn routes() -> Router<JobApiState> {
    let mut router = Router::new();
    for prefix in ["", "/xxl-job-admin"] {
        router = router
            .route(&format!("{prefix}/api/addJob"), endpoint(add_job))
            .route(&format!("{prefix}/api/updateJob"), endpoint(update_job))
            .route(&format!("{prefix}/api/removeJob"), endpoint(remove_job))
            .route(&format!("{prefix}/api/startJob"), endpoint(start_job))
            .route(&format!("{prefix}/api/stopJob"), endpoint(stop_job))
            .route(&format!("{prefix}/api/triggerJob"), endpoint(trigger_job));
    }
    router
}

/// What an operation answers: upstream's `data` (the new job's id for `addJob`) or an error.
type Outcome = Result<Option<String>, ApiError>;

/// A `POST` endpoint around `operation`: authenticates the caller, decodes the body as `R` and wraps the
/// outcome in upstream's envelope.
fn endpoint<R, F, Fut>(operation: F) -> MethodRouter<JobApiState>
where
    R: DeserializeOwned + Send + 'static,
    F: Fn(JobApiState, Caller, R) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    post(
        move |State(state): State<JobApiState>, headers: HeaderMap, body: Bytes| async move {
            let outcome = async {
                let caller = authenticate(&state, &headers).await?;
                let request: R = decode(&body)?;
                operation(state, caller, request).await
            };
            answer(outcome.await)
        },
    )
}

async fn add_job(state: JobApiState, caller: Caller, request: JobAddRequest) -> Outcome {
    let form = job_form(request.job_group, request.job, None);
    let (_, created) = jobs::create_job(State(state), caller, ApiJson(form)).await?;
    Ok(Some(created.0.id.to_string()))
}

async fn update_job(state: JobApiState, caller: Caller, request: JobUpdateRequest) -> Outcome {
    let existing = jobs::load_in_scope(&state, &caller, request.id).await?;
    let form = job_form(
        existing.group.0,
        request.job,
        Some(existing.glue.glue_type.as_str()),
    );
    let _view = jobs::update_job(State(state), caller, ApiPath(request.id.0), ApiJson(form)).await?;
    Ok(None)
}

async fn remove_job(state: JobApiState, caller: Caller, request: JobOperateRequest) -> Outcome {
    match jobs::delete_job(State(state), caller, ApiPath(request.id.0)).await {
        Err(error) if error.status() != StatusCode::NOT_FOUND => Err(error),
        _ => Ok(None),
    }
}

async fn start_job(state: JobApiState, caller: Caller, request: JobOperateRequest) -> Outcome {
    let _view = jobs::start_job(State(state), caller, ApiPath(request.id.0)).await?;
    Ok(None)
}

async fn stop_job(state: JobApiState, caller: Caller, request: JobOperateRequest) -> Outcome {
    let _view = jobs::stop_job(State(state), caller, ApiPath(request.id.0)).await?;
    Ok(None)
}

async fn trigger_job(state: JobApiState, caller: Caller, request: JobTriggerRequest) -> Outcome {
    let form = TriggerForm {
        executor_param: Some(request.executor_param.unwrap_or_default()),
        address_list: address_tokens(request.address_list.as_deref())
            .into_iter()
            .map(str::to_owned)
            .collect(),
        trigger_time: None,
    };
    let _view = jobs::trigger_job(State(state), caller, ApiPath(request.id.0), ApiJson(form)).await?;
    Ok(None)
}

/// Checks the group credentials; the caller then acts on every group, as upstream's `openapi` user.
async fn authenticate(state: &JobApiState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let presented = Credentials {
        access_token: text(ACCESS_TOKEN_HEADER),
        app_name: text(APP_NAME_HEADER),
    };
    let (_, app_name) = presented.require().map_err(refused)?;
    let group = state.store().group_by_app_name(app_name).await?;
    let Some(group) = group else {
        return Err(refused(AuthFailure::CredentialsInvalid));
    };
    let rule = AccessRule::GroupCredentials {
        access_token: group.access_token.as_deref().unwrap_or_default(),
        app_name: &group.app_name,
    };
    authorize(rule, presented).map_err(refused)?;
    Ok(Caller::upstream_user())
}

fn refused(failure: AuthFailure) -> ApiError {
    ApiError::unauthorized(failure.message())
}

fn decode<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("invalid request body: {error}")))
}

/// Upstream's form of a job body; strategies and types pass through as given, so unknown ones are
/// refused by the shared validation just as upstream refuses them.
fn job_form(group: i32, job: JobSettings, glue_type: Option<&str>) -> JobForm {
    JobForm {
        job_group: group,
        name: job.name.unwrap_or_default(),
        author: job.author.unwrap_or_default(),
        alarm_email: job.alarm_email,
        schedule_type: job.schedule_type.unwrap_or_default(),
        schedule_conf: job.schedule_conf,
        schedule_time_zone: None,
        misfire_strategy: job.misfire_strategy,
        executor_route_strategy: job.executor_route_strategy,
        executor_handler: job.executor_handler,
        executor_param: job.executor_param,
        executor_block_strategy: job.executor_block_strategy.map(|value| value.as_str().to_owned()),
        executor_timeout: job.executor_timeout,
        executor_fail_retry_count: job.executor_fail_retry_count,
        fail_retry_interval: None,
        fail_retry_backoff: false,
        child_job_id: None,
        // An update keeps the stored GLUE type and code, whatever the body says.
        glue_type: match glue_type {
            Some(stored) => Some(stored.to_owned()),
            None => job.glue_type.map(|value| value.as_str().to_owned()),
        },
        glue_source: if glue_type.is_some() {
            None
        } else {
            job.glue_source
        },
        glue_remark: if glue_type.is_some() {
            None
        } else {
            job.glue_remark
        },
    }
}

/// Upstream's envelope, HTTP 200 either way; a failure carries the reason in `msg`.
fn answer(outcome: Outcome) -> Response {
    let envelope = match outcome {
        Ok(data) => Envelope {
            code: xjob_protocol::code::SUCCESS,
            msg: None,
            data,
        },
        Err(error) => Envelope::failure(error.message().to_owned()),
    };
    json(&envelope.encode(Side::Admin, Dialect::from(Generation::G3)))
}

fn json(body: &impl Serialize) -> Response {
    match serde_json::to_string(body) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(error) => ApiError::internal(&error).into_response(),
    }
}
