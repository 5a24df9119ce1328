//! `/api/v1/tokens`: list, create and revoke API tokens (administrator tokens only). A new token's
//! secret is in the creation answer and nowhere else; the store keeps its hash.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::job_api::JobApiState;
use crate::job_api::auth::{Caller, hash_token, mint_token};
use crate::job_api::error::{ApiError, ErrorBody};
use crate::job_api::extract::{ApiJson, ApiPath};
use crate::job_api::view;
use crate::model::{ApiToken, ApiTokenId, GroupScope, JobGroupId};

/// A stored token (without its secret).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenView {
    /// Token id.
    id: i64,
    /// Label.
    name: String,
    /// Whether the token acts on every group (an administrator token).
    all_groups: bool,
    /// The groups it acts on when not every group.
    groups: Vec<i32>,
    /// Console user who created it, if any.
    created_by: Option<i32>,
    /// Creation time.
    add_time: String,
    /// Last use (refreshed at most once a minute).
    last_used_time: Option<String>,
}

/// A token just created: the only answer that carries its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatedToken {
    /// The secret to send as `Authorization: Bearer <token>`; it cannot be shown again.
    token: String,
    /// The stored token.
    #[serde(flatten)]
    stored: TokenView,
}

/// A token to create: either every group or a list of groups.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TokenForm {
    /// Label, 1–100 characters.
    name: String,
    /// Act on every group, present and future (an administrator token).
    #[serde(default)]
    all_groups: bool,
    /// The groups to act on (each must exist) when `allGroups` is false.
    #[serde(default)]
    groups: Vec<i32>,
}

/// List every token.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = Vec<TokenView>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_tokens(
    State(state): State<JobApiState>,
    caller: Caller,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    caller.require_admin()?;
    let tokens = state.store().api_tokens().await?;
    Ok(Json(tokens.iter().map(token_view).collect()))
}

/// Create a token; the answer holds its secret once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = TokenForm,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn create_token(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiJson(form): ApiJson<TokenForm>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    caller.require_admin()?;
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "must be 1 to 100 characters"));
    }
    let scope = match (form.all_groups, form.groups.is_empty()) {
        (true, true) => GroupScope::All,
        (true, false) => {
            return Err(ApiError::invalid(
                "groups",
                "must be empty when allGroups is true",
            ));
        }
        (false, true) => {
            return Err(ApiError::invalid(
                "groups",
                "name at least one executor group, or set allGroups",
            ));
        }
        (false, false) => {
            let groups: BTreeSet<JobGroupId> = form.groups.iter().copied().map(JobGroupId).collect();
            for group in &groups {
                if state.store().group(*group).await?.is_none() {
                    return Err(ApiError::invalid(
                        "groups",
                        format!("executor group {group} does not exist"),
                    ));
                }
            }
            let scope = GroupScope::Groups(groups);
            if scope.to_stored().len() > 1024 {
                return Err(ApiError::invalid("groups", "too many groups for one token"));
            }
            scope
        }
    };
    let minted = mint_token(state.store(), name, scope, caller.token.created_by, Utc::now()).await?;
    let stored = state
        .store()
        .api_token_by_hash(&hash_token(&minted.token))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("API token {} vanished after creation", minted.id)))?;
    tracing::info!(token_id = %minted.id, by = %caller.token.id, "API token created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: minted.token,
            stored: token_view(&stored),
        }),
    ))
}

/// Revoke a token at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = i64, Path, description = "Token id")),
    responses((status = 204, description = "revoked"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_token(
    State(state): State<JobApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    if !state.store().delete_api_token(ApiTokenId(id)).await? {
        return Err(ApiError::not_found(format!("API token {id} does not exist")));
    }
    tracing::info!(token_id = id, by = %caller.token.id, "API token revoked");
    Ok(StatusCode::NO_CONTENT)
}

fn token_view(token: &ApiToken) -> TokenView {
    let (all_groups, groups) = match &token.scope {
        GroupScope::All => (true, Vec::new()),
        GroupScope::Groups(groups) => (false, groups.iter().map(|group| group.0).collect()),
    };
    TokenView {
        id: token.id.0,
        name: token.name.clone(),
        all_groups,
        groups,
        created_by: token.created_by.map(|user| user.0),
        add_time: view::time(token.add_time),
        last_used_time: view::time_opt(token.last_used_time),
    }
}
