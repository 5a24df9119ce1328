//! The endpoints executors call: `/api/registry` (heartbeat), `/api/registryRemove` (shutdown) and
//! `/api/callback` (results), at the root and under upstream's old context path `/xxl-job-admin`.
//!
//! Every generation is served on the same paths: the request's credentials and shape tell which one an
//! executor speaks ([`access`] explains how); the reply is written in that generation's dialect, and a
//! heartbeat records the generation with the registration (in the table, for every admin of a cluster, and
//! in the shared [`ExecutorGenerations`] directory the trigger pipeline reads). Unlike upstream, a
//! heartbeat or callback is answered only once it is stored: a failure answer makes the executor send it
//! again, so nothing is lost when the database hiccups. Callbacks go through the batching
//! [`ResultSender`].
//!
//! What is not here: the job-management API that shares the `/api/` prefix, and the monitors.

mod access;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use chrono::Utc;
use serde::de::DeserializeOwned;
use xjob_protocol::{
    ADMIN_API_PATH, AdminEndpoint, CallbackBody, Dialect, Envelope, RegistryRequest, Side, message,
};

use crate::complete::{ExecutionResult, ResultSender};
use crate::executor_api::access::{Admission, detect, dialect};
use crate::registry::GroupTokens;
use crate::store::Store;
use crate::trigger::ExecutorGenerations;

/// Upstream's servlet context path up to 3.4.0; executors configured with it keep working.
pub const LEGACY_CONTEXT_PATH: &str = "/xxl-job-admin";

/// Settings of the executor-facing endpoints.
#[derive(Clone)]
pub struct ExecutorApiConfig {
    /// The token G1/G2 executors present (upstream `xxl.job.accessToken`); G3 executors present their
    /// group's token instead. Blank counts as none.
    pub access_token: Option<String>,
    /// Accept executors without checking anything when no global token is configured. Insecure: for tests
    /// and closed networks only. Without it, and without a token, only G3 executors of a group that has a
    /// token get in.
    pub allow_no_token: bool,
    /// Largest request body read; larger ones are refused.
    pub max_body_bytes: usize,
}

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ExecutorApiState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: ExecutorApiConfig,
    generations: ExecutorGenerations,
    tokens: GroupTokens,
    results: ResultSender,
}

impl Default for ExecutorApiConfig {
    fn default() -> Self {
        ExecutorApiConfig {
            access_token: None,
            allow_no_token: false,
            // Fifty results of up to 50 000 characters each, with room to spare.
            max_body_bytes: 10 * 1024 * 1024,
        }
    }
}

impl ExecutorApiConfig {
    fn global_token(&self) -> Option<&str> {
        self.access_token
            .as_deref()
            .filter(|token| !token.trim().is_empty())
    }
}

impl ExecutorApiState {
    /// The handlers' state: registrations go to `store` and `generations`, G3 credentials are checked
    /// against `tokens` (refreshed by the registry monitor), results go to `results`.
    pub fn new(
        store: Store,
        config: ExecutorApiConfig,
        generations: ExecutorGenerations,
        tokens: GroupTokens,
        results: ResultSender,
    ) -> ExecutorApiState {
        ExecutorApiState {
            inner: Arc::new(Inner {
                store,
                config,
                generations,
                tokens,
                results,
            }),
        }
    }
}

/// The routes `/api/registry`, `/api/registryRemove`, `/api/callback`, also under
/// [`LEGACY_CONTEXT_PATH`], with `state` applied.
pub fn router(state: ExecutorApiState) -> Router {
    let mut router = Router::new();
    for prefix in ["", LEGACY_CONTEXT_PATH] {
        for endpoint in [
            AdminEndpoint::Registry,
            AdminEndpoint::RegistryRemove,
            AdminEndpoint::Callback,
        ] {
            let path = format!("{prefix}{ADMIN_API_PATH}/{}", endpoint.name());
            router = router.route(
                &path,
                any(move |state: State<ExecutorApiState>, request: Request| handle(state, endpoint, request)),
            );
        }
    }
    router.with_state(state)
}

async fn handle(
    State(state): State<ExecutorApiState>,
    endpoint: AdminEndpoint,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let guessed = dialect(detect(&parts.headers, None, None));
    if parts.method != Method::POST {
        return reply(Envelope::failure(message::METHOD_NOT_SUPPORTED), guessed);
    }
    let limit = state.inner.config.max_body_bytes;
    let Ok(body) = axum::body::to_bytes(Body::new(body), limit).await else {
        let text = format!("request body larger than {limit} bytes or unreadable");
        return reply(Envelope::failure(message::openapi_invoke_error(&text)), guessed);
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return reply(Envelope::failure(message::REQUEST_BODY_EMPTY), guessed);
    }
    let admission = match state.admit(&parts.headers).await {
        Ok(admission) => admission,
        Err(failure) => return reply(Envelope::from(failure), guessed),
    };
    match endpoint {
        AdminEndpoint::Callback => callback(&state, &parts.headers, admission, &body).await,
        registration => register(&state, registration, &parts.headers, admission, &body).await,
    }
}

async fn register(
    state: &ExecutorApiState,
    endpoint: AdminEndpoint,
    headers: &HeaderMap,
    admission: Admission,
    body: &Bytes,
) -> Response {
    let generation = detect(headers, Some(admission), None);
    let dialect = dialect(generation);
    let request: RegistryRequest = match decode(body) {
        Ok(request) => request,
        Err(failure) => return reply(failure, dialect),
    };
    let (Some(group), Some(key), Some(value)) = (
        request.registry_group.as_ref().filter(|_| request.is_complete()),
        request.registry_key.as_deref(),
        request.registry_value.as_deref(),
    ) else {
        return reply(Envelope::failure(message::ILLEGAL_ARGUMENT), dialect);
    };
    let store = &state.inner.store;
    let written = if endpoint == AdminEndpoint::Registry {
        store
            .record_heartbeat(group.as_str(), key, value, generation, Utc::now())
            .await
    } else {
        store.remove_registry(group.as_str(), key, value).await.map(drop)
    };
    match written {
        Ok(()) => {
            if let (AdminEndpoint::Registry, Some(generation)) = (endpoint, generation) {
                state.inner.generations.set(value, generation);
            }
            reply(Envelope::success(), dialect)
        }
        Err(error) => {
            tracing::error!(%error, app_name = key, address = value, "storing a registration failed");
            reply(Envelope::failure(STORAGE_FAILED), dialect)
        }
    }
}

async fn callback(
    state: &ExecutorApiState,
    headers: &HeaderMap,
    admission: Admission,
    body: &Bytes,
) -> Response {
    let request: CallbackBody = match decode(body) {
        Ok(request) => request,
        Err(failure) => return reply(failure, dialect(detect(headers, Some(admission), None))),
    };
    let dialect = dialect(detect(headers, Some(admission), Some(request.shape)));
    let results = request
        .items
        .into_iter()
        .map(|item| ExecutionResult {
            log_id: item.log_id,
            code: item.handle_code,
            msg: item.handle_msg,
        })
        .collect();
    match state.inner.results.write(results).await {
        Ok(()) => reply(Envelope::success(), dialect),
        // Logged by the writer; the executor keeps the results and sends them again.
        Err(_) => reply(Envelope::failure(STORAGE_FAILED), dialect),
    }
}

/// The failure answer when the database did not take a write; executors retry.
const STORAGE_FAILED: &str = "the admin could not store the request, please retry";

fn decode<T: DeserializeOwned>(body: &Bytes) -> Result<T, Envelope<()>> {
    serde_json::from_slice(body)
        .map_err(|error| Envelope::failure(message::openapi_invoke_error(&error.to_string())))
}

/// An admin envelope in `dialect`, HTTP 200 as upstream answers every application outcome.
fn reply(envelope: Envelope<()>, dialect: Dialect) -> Response {
    match serde_json::to_vec(&envelope.encode(Side::Admin, dialect)) {
        Ok(json) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            json,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "encoding a reply failed");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

// The access token is a secret.
impl fmt::Debug for ExecutorApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutorApiConfig")
            .field("access_token", &self.access_token.as_ref().map(|_| "<redacted>"))
            .field("allow_no_token", &self.allow_no_token)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

impl fmt::Debug for ExecutorApiState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutorApiState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
