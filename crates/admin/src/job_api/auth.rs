//! API tokens: minting, hashing and the bearer check every job-API request passes.
//!
//! A token is `xjob_` followed by 32 random bytes (URL-safe base64). Only its SHA-256 (hex) is stored, so
//! a leaked database does not hand out credentials. A slow password hash (argon2, bcrypt) would add
//! nothing: those protect guessable passwords, while 256 random bits cannot be guessed from a fast hash
//! either; and an unsalted fast hash lets each request find its token by an indexed lookup instead of
//! trying every stored hash.
//!
//! A token whose scope is every group ([`GroupScope::All`]) is an administrator token: it alone may
//! create groups and manage tokens.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::job_api::JobApiState;
use crate::job_api::error::ApiError;
use crate::model::{ApiToken, ApiTokenId, GroupScope, JobGroupId, NewApiToken, UserId};
use crate::store::{Store, StoreError};

/// The prefix of every token, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "xjob_";

/// How stale the stored last-use time may get before a request refreshes it; keeps a busy script from
/// turning every call into a write.
const TOUCH_INTERVAL: TimeDelta = TimeDelta::seconds(60);

/// A freshly minted token: the only moment the secret exists outside the caller's hands.
#[derive(Clone, PartialEq, Eq)]
pub struct MintedToken {
    /// The stored token's id (to revoke it later).
    pub id: ApiTokenId,
    /// The secret to hand to the script; not recoverable later.
    pub token: String,
}

/// The authenticated caller of a request: the token it presented.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub(crate) token: ApiToken,
}

/// Creates and stores a token with `scope`, returning the secret once. This is also how the first
/// administrator token comes to exist (from the command line), since the API itself needs one.
pub async fn mint_token(
    store: &Store,
    name: &str,
    scope: GroupScope,
    created_by: Option<UserId>,
    now: DateTime<Utc>,
) -> Result<MintedToken, StoreError> {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    let id = store
        .insert_api_token(
            &NewApiToken {
                name: name.to_owned(),
                token_hash: hash_token(&token),
                scope,
                created_by,
            },
            now,
        )
        .await?;
    Ok(MintedToken { id, token })
}

/// The stored form of a token: lower-case hex SHA-256 of its text.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl Caller {
    /// Upstream's job API caller: authenticated by group credentials, then acting on every group as
    /// upstream's built-in `openapi` administrator does. It is no stored token (id 0).
    pub(crate) fn upstream_user() -> Caller {
        Caller {
            token: ApiToken {
                id: ApiTokenId(0),
                name: "upstream job API".to_owned(),
                token_hash: String::new(),
                scope: GroupScope::All,
                created_by: None,
                add_time: Utc::now(),
                last_used_time: None,
            },
        }
    }

    /// Whether the token may act on `group`; 403 otherwise.
    pub(crate) fn require_group(&self, group: JobGroupId) -> Result<(), ApiError> {
        if self.token.scope.allows(group) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the token's scope does not include executor group {group}"
            )))
        }
    }

    /// Whether the token is an administrator token; 403 otherwise.
    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        if self.token.scope == GroupScope::All {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "this operation needs a token whose scope is every group",
            ))
        }
    }

    /// The group a list must be limited to when the request names none: `None` for an all-groups token,
    /// the only group of a one-group token, and a 400 when the scope has several groups.
    pub(crate) fn default_group(&self, requested: Option<i32>) -> Result<Option<JobGroupId>, ApiError> {
        if let Some(group) = requested.filter(|group| *group > 0) {
            let group = JobGroupId(group);
            self.require_group(group)?;
            return Ok(Some(group));
        }
        match &self.token.scope {
            GroupScope::All => Ok(None),
            GroupScope::Groups(groups) if groups.len() == 1 => Ok(groups.iter().next().copied()),
            GroupScope::Groups(_) => Err(ApiError::invalid(
                "jobGroup",
                "required for a token limited to several groups",
            )),
        }
    }
}

impl FromRequestParts<JobApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &JobApiState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer <token>` header"))?
            .to_str()
            .ok()
            .and_then(bearer)
            .ok_or_else(|| ApiError::unauthorized("the Authorization header is not `Bearer <token>`"))?;
        let store = state.store();
        let token = store
            .api_token_by_hash(&hash_token(presented))
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked API token"))?;
        let now = Utc::now();
        let stale = token
            .last_used_time
            .is_none_or(|last| now.signed_duration_since(last) >= TOUCH_INTERVAL);
        if stale {
            // A failed touch must not fail the request it accompanies.
            if let Err(error) = store.touch_api_token(token.id, now).await {
                tracing::warn!(token_id = %token.id, error = %error, "recording an API token's use failed");
            }
        }
        Ok(Caller { token })
    }
}

/// The token of a `Bearer <token>` value (scheme case-insensitive), if that is what it is.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

// The secret never reaches a log through Debug.
impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_values() {
        fn check(value: &str, expected: Option<&str>) {
            assert_eq!(bearer(value), expected, "{value:?}");
        }
        check("Bearer abc", Some("abc"));
        check("bearer  abc ", Some("abc"));
        check("Basic abc", None);
        check("Bearer ", None);
        check("Bearer", None);
    }

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
