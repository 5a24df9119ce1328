//! Extractors whose rejections use the job API's error body: a JSON body decoded with the path of the
//! offending property, and path and query parameters.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::job_api::error::ApiError;

/// A JSON request body. A malformed body is a 400 naming the property that failed (e.g.
/// `executorTimeout: invalid type: string "x", expected i32`); a body over the limit is a 413.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub(crate) T);

/// Path parameters; a value of the wrong type is a 400.
#[derive(Debug)]
pub(crate) struct ApiPath<T>(pub(crate) T);

/// Query parameters; a value of the wrong type is a 400.
#[derive(Debug)]
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                let essence = value.split(';').next().unwrap_or_default().trim();
                essence.eq_ignore_ascii_case("application/json")
            });
        if !json {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            let detail = error.inner().to_string();
            if path.is_empty() || path == "." {
                match unknown_field(&detail) {
                    Some(field) => ApiError::invalid(field, "unknown property"),
                    None => ApiError::bad_request(format!("invalid JSON body: {detail}")),
                }
            } else {
                ApiError::invalid(path, detail)
            }
        })?;
        deserializer
            .end()
            .map_err(|error| ApiError::bad_request(format!("invalid JSON body: {error}")))?;
        Ok(ApiJson(value))
    }
}

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// The property named by serde's "unknown field `name`, expected …" message, which is raised before the
/// property becomes part of the error's path.
fn unknown_field(detail: &str) -> Option<&str> {
    let rest = detail.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(field, _)| field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_properties_are_named() {
        assert_eq!(
            unknown_field("unknown field `colour`, expected one of `name`, `author`"),
            Some("colour")
        );
        assert_eq!(unknown_field("missing field `name`"), None);
    }
}
