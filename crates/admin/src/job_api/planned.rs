//! Triggers planned for a later instant: `POST /api/v1/jobs/{id}/trigger` with a future `triggerTime`
//! stores one (see [`plan`]), `GET /api/v1/jobs/{id}/planned-triggers` lists a job's, and
//! `DELETE /api/v1/planned-triggers/{id}` cancels one. Firing them is the scheduler's: a pass claims the
//! planned triggers due inside its window under the cluster lock, so each fires once across admins and
//! restarts (see [`crate::schedule`]). Once claimed, a planned trigger is no longer listed and can no
//! longer be cancelled: it fires within the scheduler's window (5 s by default).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use xjob_protocol::JobId;

use crate::job_api::JobApiState;
use crate::job_api::auth::Caller;
use crate::job_api::error::{ApiError, ErrorBody};
use crate::job_api::extract::ApiPath;
use crate::job_api::jobs::load_in_scope;
use crate::job_api::view;
use crate::model::{Job, NewPlannedTrigger, PlannedTrigger, PlannedTriggerId};

/// How far ahead a trigger may be planned: a year, leap day included. Anything further is more likely a
/// typo in the year than a plan, and a schedule serves recurring needs better.
pub(crate) const MAX_AHEAD_DAYS: i64 = 366;

/// A trigger stored for later.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlannedTriggerAccepted {
    /// Its id, to cancel it with `DELETE /api/v1/planned-triggers/{id}`.
    planned_trigger_id: i64,
    /// When it fires, RFC 3339 in UTC (with milliseconds when the request had them).
    #[schema(example = "2026-11-24T07:00:00Z")]
    trigger_time: String,
}

/// A job's planned triggers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PlannedTriggerList {
    /// Earliest first.
    items: Vec<PlannedTriggerView>,
}

/// A planned trigger not yet fired.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlannedTriggerView {
    /// Planned trigger id.
    id: i64,
    /// The job it triggers.
    job_id: i32,
    /// When it fires, RFC 3339 in UTC.
    trigger_time: String,
    /// The parameter it runs with; null runs with the job's own.
    executor_param: Option<String>,
    /// The executors it runs on; empty routes over the group.
    address_list: Vec<String>,
    /// When it was planned, RFC 3339 in UTC.
    created_at: String,
    /// The API token that planned it (name and id).
    created_by: String,
}

/// A job's planned triggers that have not fired yet, earliest first. Triggers the scheduler has already
/// claimed (due within its look-ahead window of a few seconds) are no longer listed.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/planned-triggers", tag = "jobs",
    params(("id" = i32, Path, description = "Job id")),
    responses((status = 200, body = PlannedTriggerList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_planned_triggers(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i32>,
) -> Result<Json<PlannedTriggerList>, ApiError> {
    let job = load_in_scope(&state, &caller, JobId(id)).await?;
    let planned = state.store().planned_triggers(job.id).await?;
    Ok(Json(PlannedTriggerList {
        items: planned.iter().map(planned_view).collect(),
    }))
}

/// Cancel a planned trigger. 404 when it is unknown, was cancelled, or has fired or is about to (the
/// scheduler claims triggers due within its look-ahead window, a few seconds, and those can no longer be
/// cancelled).
#[utoipa::path(delete, path = "/api/v1/planned-triggers/{id}", tag = "jobs",
    params(("id" = i64, Path, description = "Planned trigger id")),
    responses((status = 204, description = "cancelled"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn cancel_planned_trigger(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    let id = PlannedTriggerId(id);
    let not_found = || {
        ApiError::not_found(format!(
            "planned trigger {id} does not exist or has already fired"
        ))
    };
    let planned = state.store().planned_trigger(id).await?.ok_or_else(not_found)?;
    // The scope follows the job's group; a trigger whose job is gone is left to administrator tokens.
    match state.store().job(planned.job_id).await? {
        Some(job) => caller.require_group(job.group)?,
        None => caller.require_admin()?,
    }
    if !state.store().delete_planned_trigger(id).await? {
        return Err(not_found());
    }
    tracing::info!(planned_trigger_id = %id, job_id = %planned.job_id, token_id = %caller.token.id,
        "planned trigger cancelled through the job API");
    Ok(StatusCode::NO_CONTENT)
}

/// The instant a trigger request asks for, when it is in the future; `None` (trigger now) when absent,
/// blank or not after `now`. 400 for text that is not RFC 3339 with an offset, or more than
/// [`MAX_AHEAD_DAYS`] ahead.
pub(crate) fn future_time(
    value: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(at) = view::parse_time("triggerTime", value)? else {
        return Ok(None);
    };
    // Milliseconds are what the scheduler works in; finer digits are dropped.
    let Some(at) = DateTime::from_timestamp_millis(at.timestamp_millis()) else {
        return Err(ApiError::invalid("triggerTime", "out of range"));
    };
    if at <= now {
        return Ok(None);
    }
    if at > now + TimeDelta::days(MAX_AHEAD_DAYS) {
        return Err(ApiError::invalid(
            "triggerTime",
            format!(
                "must be at most {MAX_AHEAD_DAYS} days ahead; use a schedule for later or recurring runs"
            ),
        ));
    }
    Ok(Some(at))
}

/// Stores a trigger of `job` for `at` (already checked by [`future_time`]) with the chosen parameter
/// and executors (already checked against the group's registrations), and wakes the scheduler so a
/// trigger due within its current window is not claimed late.
pub(crate) async fn plan(
    state: &JobApiState,
    caller: &Caller,
    job: &Job,
    executor_param: Option<String>,
    address_list: Vec<String>,
    at: DateTime<Utc>,
) -> Result<PlannedTriggerAccepted, ApiError> {
    let planned = NewPlannedTrigger {
        job_id: job.id,
        trigger_time: at.timestamp_millis(),
        executor_param,
        address_list,
        created_by: format!("{} (token {})", caller.token.name, caller.token.id),
    };
    let id = state.store().insert_planned_trigger(&planned, Utc::now()).await?;
    state.wake_scheduler();
    tracing::info!(job_id = %job.id, planned_trigger_id = %id, trigger_time = planned.trigger_time,
        token_id = %caller.token.id, "trigger planned through the job API");
    Ok(PlannedTriggerAccepted {
        planned_trigger_id: id.0,
        trigger_time: exact_time(at),
    })
}

fn planned_view(planned: &PlannedTrigger) -> PlannedTriggerView {
    PlannedTriggerView {
        id: planned.id.0,
        job_id: planned.job_id.0,
        trigger_time: DateTime::from_timestamp_millis(planned.trigger_time)
            .map(exact_time)
            .unwrap_or_default(),
        executor_param: planned.executor_param.clone(),
        address_list: planned.address_list.clone(),
        created_at: view::time(planned.created_at),
        created_by: planned.created_by.clone(),
    }
}

/// RFC 3339 in UTC, with milliseconds only when there are some.
fn exact_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
    }

    /// `Ok(Some(rfc3339 in UTC))`, `Ok(None)` for now, or `Err(message)`.
    fn check(value: Option<&str>, expected: Result<Option<&str>, &str>) {
        let got = future_time(value, now())
            .map(|at| at.map(exact_time))
            .map_err(|error| {
                assert_eq!(error.status(), StatusCode::BAD_REQUEST);
                error.message().to_owned()
            });
        match (&got, expected) {
            (Ok(got), Ok(expected)) => assert_eq!(got.as_deref(), expected, "{value:?}"),
            (Err(got), Err(expected)) => assert!(got.contains(expected), "{value:?}: {got}"),
            _ => panic!("{value:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn trigger_times() {
        check(None, Ok(None));
        check(Some(""), Ok(None));
        check(
            Some("2026-11-24T08:00:00+01:00"),
            Ok(Some("2026-11-24T07:00:00Z")),
        );
        check(
            Some("2026-11-23T12:00:00.250Z"),
            Ok(Some("2026-11-23T12:00:00.250Z")),
        );
        check(Some("2026-11-23T12:00:00.000999Z"), Ok(None));
        // Now or in the past: trigger now.
        check(Some("2026-11-23T12:00:00Z"), Ok(None));
        check(Some("2020-01-01T00:00:00Z"), Ok(None));
        // The bound is inclusive.
        check(Some("2027-11-24T12:00:00Z"), Ok(Some("2027-11-24T12:00:00Z")));
        check(Some("2027-11-24T12:00:00.001Z"), Err("at most 366 days ahead"));
        check(
            Some("2026-11-24T08:00:00"),
            Err("triggerTime: not an RFC 3339 time"),
        );
        check(Some("tomorrow"), Err("triggerTime: not an RFC 3339 time"));
        check(Some("1764000000000"), Err("triggerTime: not an RFC 3339 time"));
    }
}
