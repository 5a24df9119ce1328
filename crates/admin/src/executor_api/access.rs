//! Who may call the executor-facing endpoints, and which protocol generation a request shows.
//!
//! Access, in order: a G3 executor's AppName and token matching its group's token; else the admin's global
//! token (G1/G2); else, only with no global token configured and the explicit insecure switch on, anyone.
//! An admin with neither tokens nor the switch refuses every executor, as an executor without a token
//! refuses every admin.
//!
//! Generation: a `{"callbackList":…}` body is G3 and a bare array G1/G2; an `Accept-Charset` carrying
//! `application/json` is G1 (only upstream 2.4–3.2 clients send that); credentials that matched a group's
//! token are G3; an AppName header without the global token having matched is G3 (upstream G1/G2 clients
//! never send one); an `Accept-Charset` of `UTF-8` otherwise is G2. A request let in without an AppName
//! header cannot be G3 (a G3 executor always sends one), so it is G2 too: third-party executors such as
//! Python's pyxxl send no `Accept-Charset`, and the calls to them must use `/run`. G2 rather than G1
//! because the admin's calls of both generations are alike for an executor (same paths and fields) and a
//! G2 reply carries its payload under `data`, which later peers read. Anything else is not recognisable,
//! and the reply then carries the payload under both `content` and `data` so every generation can read it.

use axum::http::{HeaderMap, header};
use xjob_protocol::{
    ACCESS_TOKEN_HEADER, APP_NAME_HEADER, AccessRule, AuthFailure, CallbackShape, Credentials, Dialect,
    Generation, authorize,
};

use crate::executor_api::ExecutorApiState;

/// How a request was let in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// AppName and token of a group (G3 credentials).
    Group,
    /// The admin's global token (G1/G2 credentials).
    Global,
    /// No token configured and insecure access allowed.
    Open,
}

impl ExecutorApiState {
    /// Checks the request's credentials; the failure carries upstream's reply text for the generation the
    /// request looks like.
    pub(crate) async fn admit(&self, headers: &HeaderMap) -> Result<Admission, AuthFailure> {
        let presented = credentials(headers);
        let app_name = presented.app_name.filter(|name| !name.trim().is_empty());
        if let Some(app_name) = app_name
            && let Some(token) = self.group_token(app_name).await
        {
            let rule = AccessRule::GroupCredentials {
                access_token: &token,
                app_name,
            };
            if authorize(rule, presented).is_ok() {
                return Ok(Admission::Group);
            }
        }
        match self.inner.config.global_token() {
            Some(global) if authorize(AccessRule::GlobalToken(Some(global)), presented).is_ok() => {
                return Ok(Admission::Global);
            }
            None if self.inner.config.allow_no_token => return Ok(Admission::Open),
            _ => {}
        }
        if presented.app_name.is_some() {
            // Looks like G3: upstream's G3 texts.
            presented.require()?;
            Err(AuthFailure::CredentialsInvalid)
        } else {
            Err(AuthFailure::TokenWrong)
        }
    }

    /// The non-blank token of the group with this AppName: from the cache the registry monitor refreshes,
    /// or read once from the store when the cache does not know the AppName yet (a group created since the
    /// last pass).
    async fn group_token(&self, app_name: &str) -> Option<String> {
        let token = match self.inner.tokens.token(app_name) {
            Some(token) => token,
            None => match self.inner.store.group_by_app_name(app_name).await {
                Ok(Some(group)) => {
                    self.inner.tokens.insert(&group);
                    group.access_token
                }
                Ok(None) => None,
                Err(error) => {
                    tracing::warn!(%error, "reading the executor group for an access check failed");
                    None
                }
            },
        };
        token.filter(|token| !token.trim().is_empty())
    }
}

/// The generation a request shows, if any (see the module docs). `shape` is the callback body's shape.
pub(crate) fn detect(
    headers: &HeaderMap,
    admission: Option<Admission>,
    shape: Option<CallbackShape>,
) -> Option<Generation> {
    let charset = headers
        .get(header::ACCEPT_CHARSET)
        .and_then(|value| value.to_str().ok())
        .map(str::trim);
    let g1_charset = charset.is_some_and(|value| value.to_ascii_lowercase().contains("application/json"));
    let g2_charset = charset.is_some_and(|value| value.eq_ignore_ascii_case("UTF-8"));
    match shape {
        Some(CallbackShape::CallbackList) => return Some(Generation::G3),
        Some(CallbackShape::Array) if g1_charset => return Some(Generation::G1),
        Some(CallbackShape::Array) if g2_charset => return Some(Generation::G2),
        Some(CallbackShape::Array) => return None,
        None => {}
    }
    if g1_charset {
        return Some(Generation::G1);
    }
    let has_app_name = headers.contains_key(APP_NAME_HEADER);
    match admission {
        Some(Admission::Group) => Some(Generation::G3),
        Some(Admission::Open) | None if has_app_name => Some(Generation::G3),
        _ if g2_charset => Some(Generation::G2),
        Some(Admission::Global | Admission::Open) if !has_app_name => Some(Generation::G2),
        _ => None,
    }
}

/// The dialect to answer in.
pub(crate) fn dialect(generation: Option<Generation>) -> Dialect {
    generation.map_or(Dialect::Peer, Dialect::from)
}

fn credentials(headers: &HeaderMap) -> Credentials<'_> {
    Credentials {
        access_token: headers
            .get(ACCESS_TOKEN_HEADER)
            .and_then(|value| value.to_str().ok()),
        app_name: headers.get(APP_NAME_HEADER).and_then(|value| value.to_str().ok()),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(charset: Option<&str>, app_name: bool) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(charset) = charset {
            headers.insert(header::ACCEPT_CHARSET, HeaderValue::from_str(charset).unwrap());
        }
        if app_name {
            headers.insert(APP_NAME_HEADER, HeaderValue::from_static("demo"));
        }
        headers
    }

    /// (Accept-Charset, AppName header, admission, callback shape, expected)
    type Case = (
        Option<&'static str>,
        bool,
        Option<Admission>,
        Option<CallbackShape>,
        Option<Generation>,
    );

    #[test]
    fn generation_detection() {
        use Admission::*;
        use CallbackShape::*;
        use Generation::*;
        const G1_CHARSET: Option<&str> = Some("application/json;charset=UTF-8");
        const UTF8: Option<&str> = Some("UTF-8");
        let table: &[Case] = &[
            (UTF8, true, Some(Group), Some(CallbackList), Some(G3)),
            (None, false, Some(Open), Some(CallbackList), Some(G3)),
            (G1_CHARSET, true, Some(Global), Some(Array), Some(G1)),
            (UTF8, true, Some(Group), Some(Array), Some(G2)),
            (None, false, Some(Global), Some(Array), None),
            (G1_CHARSET, false, Some(Global), None, Some(G1)),
            (G1_CHARSET, true, Some(Group), None, Some(G1)),
            (UTF8, true, Some(Group), None, Some(G3)),
            (UTF8, true, Some(Open), None, Some(G3)),
            (None, true, Some(Open), None, Some(G3)),
            (UTF8, true, Some(Global), None, Some(G2)),
            (UTF8, false, Some(Global), None, Some(G2)),
            (UTF8, false, Some(Open), None, Some(G2)),
            (None, false, Some(Global), None, Some(G2)),
            (None, false, Some(Open), None, Some(G2)),
            (None, false, None, None, None),
            (Some("utf-8"), false, Some(Open), None, Some(G2)),
            (Some("ISO-8859-1"), false, Some(Open), None, Some(G2)),
            (Some("ISO-8859-1"), false, None, None, None),
        ];
        for (charset, app_name, admission, shape, expected) in table {
            assert_eq!(
                detect(&headers(*charset, *app_name), *admission, *shape),
                *expected,
                "{charset:?} {app_name} {admission:?} {shape:?}"
            );
        }
    }
}
