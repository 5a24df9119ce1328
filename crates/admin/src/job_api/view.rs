//! Shapes shared by the resources: paging parameters and times on the wire.

use crate::job_api::error::ApiError;
use crate::store::Page;
use chrono::{DateTime, SecondsFormat, Utc};

/// Rows per page when the request names none.
const DEFAULT_LIMIT: u32 = 20;

/// The most rows one page may ask for.
const MAX_LIMIT: u32 = 500;

/// The store's page for a list request's `offset` (default 0) and `limit` (default 20), or a 400 for a
/// limit out of range.
pub(crate) fn page(offset: Option<u32>, limit: Option<u32>) -> Result<Page, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(Page {
        offset: offset.unwrap_or(0),
        limit,
    })
}

/// A time as RFC 3339 in UTC with whole seconds, e.g. `2026-06-19T02:00:00Z`.
pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// [`time`] of an optional value.
pub(crate) fn time_opt(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(time)
}

/// Parses an RFC 3339 query value, blaming `field` when it is not one.
pub(crate) fn parse_time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .filter(|value| !value.trim().is_empty())
        .map(|value| {
            DateTime::parse_from_rfc3339(value.trim())
                .map(|at| at.with_timezone(&Utc))
                .map_err(|error| ApiError::invalid(field, format!("not an RFC 3339 time: {error}")))
        })
        .transpose()
}
