//! `/api/v1/groups`: executor groups with upstream's validation rules (AppName 4–64 characters and
//! unique, name required, a manual group needs `http(s)://` addresses, no script-like text), and its
//! deletion rules (not while jobs use it, never the last group). Creating a group needs an
//! administrator token; everything else needs the group in the token's scope.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use regex::Regex;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::job_api::JobApiState;
use crate::job_api::auth::Caller;
use crate::job_api::error::{ApiError, ErrorBody};
use crate::job_api::extract::{ApiJson, ApiPath, ApiQuery};
use crate::job_api::view;
use crate::model::{AddressType, AppName, JobGroup, JobGroupId, NewJobGroup, address_tokens};
use crate::store::{Paged, StoreError};

/// An executor group.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupView {
    /// Group id.
    id: i32,
    /// The AppName executors register under.
    #[schema(example = "xxl-job-executor-sample")]
    app_name: String,
    /// Display name.
    name: String,
    /// `automatic` (follows registrations) or `manual`.
    #[schema(example = "automatic")]
    address_type: String,
    /// The addresses triggers are routed over.
    address_list: Vec<String>,
    /// Whether an executor access token is set (the token itself is never shown).
    access_token_set: bool,
    /// Last change.
    update_time: Option<String>,
}

/// One page of groups.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GroupPage {
    /// The groups of the page.
    items: Vec<GroupView>,
    /// Groups matching the filters.
    total: i64,
}

/// Filters of the group list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupFilter {
    /// AppName contains (case-insensitive).
    app_name: Option<String>,
    /// Name contains (case-insensitive).
    name: Option<String>,
    /// Rows to skip (default 0).
    offset: Option<u32>,
    /// Rows to return, 1 to 500 (default 20).
    limit: Option<u32>,
}

/// A group to create, or the new state of one (the AppName of an existing group cannot change).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct GroupForm {
    /// AppName, 4–64 characters, unique.
    #[schema(example = "billing-executor")]
    app_name: String,
    /// Display name, 1–64 characters.
    name: String,
    /// `automatic` (default) or `manual`.
    #[serde(default)]
    address_type: Option<String>,
    /// For a manual group: its `http://` or `https://` addresses. Ignored for an automatic group, whose
    /// list is computed from live registrations.
    #[serde(default)]
    address_list: Vec<String>,
    /// The access token executors of this group use; absent or null means none.
    #[serde(default)]
    access_token: Option<String>,
}

/// List the groups in the token's scope, ordered by AppName, name and id.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", params(GroupFilter),
    responses((status = 200, body = GroupPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn list_groups(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiQuery(filter): ApiQuery<GroupFilter>,
) -> Result<Json<GroupPage>, ApiError> {
    let page = view::page(filter.offset, filter.limit)?;
    let app_name = filter.app_name.unwrap_or_default();
    let name = filter.name.unwrap_or_default();
    let paged = if caller.require_admin().is_ok() {
        state.store().groups_page(&app_name, &name, page).await?
    } else {
        // A limited token sees few groups: filter the (small) group table here.
        let contains = |text: &str, part: &str| text.to_lowercase().contains(&part.to_lowercase());
        let visible: Vec<JobGroup> = state
            .store()
            .groups()
            .await?
            .into_iter()
            .filter(|group| caller.token.scope.allows(group.id))
            .filter(|group| contains(&group.app_name, &app_name) && contains(&group.name, &name))
            .collect();
        let total = visible.len() as i64;
        let rows = visible
            .into_iter()
            .skip(page.offset as usize)
            .take(page.limit as usize)
            .collect();
        Paged { rows, total }
    };
    Ok(Json(GroupPage {
        items: paged.rows.iter().map(group_view).collect(),
        total: paged.total,
    }))
}

/// Create a group (administrator token).
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = GroupForm,
    responses((status = 201, body = GroupView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the AppName exists")))]
pub(crate) async fn create_group(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiJson(form): ApiJson<GroupForm>,
) -> Result<(StatusCode, Json<GroupView>), ApiError> {
    caller.require_admin()?;
    let mut group = validate(form)?;
    if state
        .store()
        .group_by_app_name(group.app_name.as_str())
        .await?
        .is_some()
    {
        return Err(ApiError::conflict(format!(
            "an executor group with AppName `{}` exists",
            group.app_name.as_str()
        )));
    }
    let now = Utc::now();
    if group.address_type == AddressType::Automatic {
        group.address_list = live_addresses(&state, group.app_name.as_str()).await?;
    }
    let id = match state.store().insert_group(&group, now).await {
        Ok(id) => id,
        Err(StoreError::Duplicate) => {
            return Err(ApiError::conflict(format!(
                "an executor group with AppName `{}` exists",
                group.app_name.as_str()
            )));
        }
        Err(error) => return Err(error.into()),
    };
    let stored = load(&state, id).await?;
    Ok((StatusCode::CREATED, Json(group_view(&stored))))
}

/// One group.
#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = i32, Path, description = "Group id")),
    responses((status = 200, body = GroupView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_group(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i32>,
) -> Result<Json<GroupView>, ApiError> {
    let id = JobGroupId(id);
    caller.require_group(id)?;
    Ok(Json(group_view(&load(&state, id).await?)))
}

/// Replace a group's name, address type, addresses and access token.
#[utoipa::path(put, path = "/api/v1/groups/{id}", tag = "groups", request_body = GroupForm,
    params(("id" = i32, Path, description = "Group id")),
    responses((status = 200, body = GroupView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn update_group(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i32>,
    ApiJson(form): ApiJson<GroupForm>,
) -> Result<Json<GroupView>, ApiError> {
    let id = JobGroupId(id);
    caller.require_group(id)?;
    let existing = load(&state, id).await?;
    let mut group = validate(form)?;
    if group.app_name.as_str() != existing.app_name {
        return Err(ApiError::invalid(
            "appName",
            format!(
                "the AppName of a group cannot change (it is `{}`)",
                existing.app_name
            ),
        ));
    }
    if group.address_type == AddressType::Automatic {
        group.address_list = live_addresses(&state, &existing.app_name).await?;
    }
    if !state.store().update_group(id, &group, Utc::now()).await? {
        return Err(not_found(id));
    }
    Ok(Json(group_view(&load(&state, id).await?)))
}

/// Delete a group and its executors' registrations: refused while jobs use it or when it is the last one.
#[utoipa::path(delete, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = i32, Path, description = "Group id")),
    responses((status = 204, description = "deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(crate) async fn delete_group(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i32>,
) -> Result<StatusCode, ApiError> {
    let id = JobGroupId(id);
    caller.require_group(id)?;
    let store = state.store();
    load(&state, id).await?;
    if store.count_jobs(Some(id)).await? > 0 {
        return Err(ApiError::conflict(format!(
            "executor group {id} is used by jobs; delete or move them first"
        )));
    }
    if store.count_groups().await? <= 1 {
        return Err(ApiError::conflict("the last executor group cannot be deleted"));
    }
    if !store.delete_group(id).await? {
        return Err(not_found(id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The group or a 404.
pub(crate) async fn load(state: &JobApiState, id: JobGroupId) -> Result<JobGroup, ApiError> {
    state.store().group(id).await?.ok_or_else(|| not_found(id))
}

fn not_found(id: JobGroupId) -> ApiError {
    ApiError::not_found(format!("executor group {id} does not exist"))
}

fn group_view(group: &JobGroup) -> GroupView {
    GroupView {
        id: group.id.0,
        app_name: group.app_name.clone(),
        name: group.name.clone(),
        address_type: address_type_name(group.address_type).to_owned(),
        address_list: group.addresses().into_iter().map(str::to_owned).collect(),
        access_token_set: group
            .access_token
            .as_deref()
            .is_some_and(|token| !token.is_empty()),
        update_time: view::time_opt(group.update_time),
    }
}

fn address_type_name(address_type: AddressType) -> &'static str {
    match address_type {
        AddressType::Automatic => "automatic",
        AddressType::Manual => "manual",
    }
}

/// Upstream's group rules, field by field.
fn validate(form: GroupForm) -> Result<NewJobGroup, ApiError> {
    let app_name = form.app_name.trim();
    if app_name.is_empty() {
        return Err(ApiError::invalid("appName", "is required"));
    }
    let app_name = AppName::new(app_name).map_err(|error| ApiError::invalid("appName", error))?;
    reject_script("appName", app_name.as_str())?;
    let name = form.name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("name", "is required"));
    }
    if name.chars().count() > 64 {
        return Err(ApiError::invalid("name", "must be at most 64 characters"));
    }
    reject_script("name", name)?;
    let address_type = match form.address_type.as_deref().map(str::trim) {
        None | Some("automatic") => AddressType::Automatic,
        Some("manual") => AddressType::Manual,
        Some(other) => {
            return Err(ApiError::invalid(
                "addressType",
                format!("must be `automatic` or `manual`, got `{other}`"),
            ));
        }
    };
    let address_list = match address_type {
        AddressType::Automatic => None,
        AddressType::Manual => Some(manual_addresses(&form.address_list)?),
    };
    let access_token = form.access_token.filter(|token| !token.is_empty());
    if let Some(token) = &access_token {
        if token.chars().count() > 255 {
            return Err(ApiError::invalid("accessToken", "must be at most 255 characters"));
        }
        if token.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "accessToken",
                "must not contain control characters",
            ));
        }
    }
    Ok(NewJobGroup {
        app_name,
        name: name.to_owned(),
        address_type,
        address_list,
        access_token,
    })
}

/// A manual group's address list as stored: at least one address, each `http://` or `https://`.
fn manual_addresses(addresses: &[String]) -> Result<String, ApiError> {
    if addresses.is_empty() {
        return Err(ApiError::invalid(
            "addressList",
            "a manual group needs at least one executor address",
        ));
    }
    let mut stored = Vec::with_capacity(addresses.len());
    for address in addresses {
        let address = address.trim();
        if address.is_empty() || address.contains(',') {
            return Err(ApiError::invalid(
                "addressList",
                format!("`{address}` is not an executor address"),
            ));
        }
        if !(address.starts_with("http://") || address.starts_with("https://")) {
            return Err(ApiError::invalid(
                "addressList",
                format!("`{address}` must start with http:// or https://"),
            ));
        }
        reject_script("addressList", address)?;
        stored.push(address);
    }
    Ok(stored.join(","))
}

/// The sorted live addresses of an AppName, comma-joined; `None` when no executor is alive.
async fn live_addresses(state: &JobApiState, app_name: &str) -> Result<Option<String>, ApiError> {
    let alive_after = Utc::now() - state.options().registry_dead_timeout;
    let mut live = state.store().live_executor_addresses(alive_after).await?;
    Ok(live
        .remove(app_name)
        .filter(|addresses| !addresses.is_empty())
        .map(|addresses| addresses.into_iter().collect::<Vec<_>>().join(",")))
}

/// The live addresses a trigger may be sent to for `group`: its address list plus executors of its
/// AppName that registered recently.
pub(crate) async fn registered_addresses(
    state: &JobApiState,
    group: &JobGroup,
) -> Result<Vec<String>, ApiError> {
    let mut addresses: Vec<String> = address_tokens(group.address_list.as_deref())
        .into_iter()
        .map(str::to_owned)
        .collect();
    let alive_after = Utc::now() - state.options().registry_dead_timeout;
    if let Some(live) = state
        .store()
        .live_executor_addresses(alive_after)
        .await?
        .remove(&group.app_name)
    {
        addresses.extend(live);
    }
    addresses.sort();
    addresses.dedup();
    Ok(addresses)
}

/// Refuses text that looks like script injection, as upstream's console does for group and GLUE fields.
fn reject_script(field: &str, value: &str) -> Result<(), ApiError> {
    let pattern = Regex::new(
        r"(?is)<\s*(no)?script[^>]*>.*?<\s*/\s*(no)?script\s*>|javascript:|vbscript:|on(load|error|click|mouseover|focus|blur|submit|change|input)\s*=|eval\s*\(|expression\s*\(|url\s*\(|<\s*iframe[^>]*>|<\s*object[^>]*>|<\s*embed[^>]*>",
    )
    .expect("the pattern is a valid constant regular expression");
    if pattern.is_match(value) {
        return Err(ApiError::invalid(field, "contains script-like text"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_like_text_is_refused() {
        fn check(value: &str, refused: bool) {
            assert_eq!(reject_script("f", value).is_err(), refused, "{value:?}");
        }
        check("billing executor", false);
        check("<script>alert(1)</script>", true);
        check("<SCRIPT src=x></Script>", true);
        check("a javascript:b", true);
        check("x onload = y", true);
        check("eval (1)", true);
        check("<iframe src=x>", true);
        check("http://10.0.0.5:9999/", false);
    }
}
