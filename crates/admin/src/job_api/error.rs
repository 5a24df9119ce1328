//! The one place errors of the job API become HTTP: a status plus the JSON body
//! `{"code": <status>, "message": "...", "field": "..."}` (`field` only when one input is to blame).
//!
//! Storage and other internal failures are logged here, once, with their cause chain; the client only
//! learns that something failed inside the admin.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;
use crate::trigger::{ClientError, TriggerRejected};

/// A failed request: what the client is told and with which status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<String>,
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// The HTTP status, repeated for clients that only see the body.
    #[schema(example = 400)]
    code: u16,
    /// What went wrong, for people.
    #[schema(example = "scheduleConf: invalid cron expression")]
    message: String,
    /// The input to blame, named as in the request (JSON property or parameter).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "scheduleConf")]
    field: Option<String>,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: None,
        }
    }

    /// 400 blaming one input; the message is prefixed with the field's name.
    pub fn invalid(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        let field = field.into();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: format!("{field}: {message}"),
            field: Some(field),
        }
    }

    /// 400 without a single input to blame.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no valid bearer token.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: the token is valid but its scope does not cover the request.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    /// 404 for a missing resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: the request is well-formed but the resource's state refuses it.
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    /// 502: the executor behind the request failed or refused.
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_GATEWAY, message)
    }

    /// 503: the admin cannot take the request now.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// 500 after logging the cause; the client learns nothing about internals.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(error = %chain, "job API request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the admin's log",
        )
    }

    /// The status answered.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message answered.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::internal(&error)
    }
}

impl From<TriggerRejected> for ApiError {
    fn from(rejected: TriggerRejected) -> Self {
        match rejected {
            TriggerRejected::NoSuchJob(job) => ApiError::not_found(format!("job {job} does not exist")),
            TriggerRejected::Unavailable(_) => ApiError::unavailable(rejected.to_string()),
            TriggerRejected::Storage(_) => ApiError::internal(&rejected),
        }
    }
}

impl From<ClientError> for ApiError {
    fn from(error: ClientError) -> Self {
        tracing::warn!(error = %error, "executor call from the job API failed");
        ApiError::bad_gateway(error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.status.as_u16(),
            message: self.message,
            field: self.field,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
