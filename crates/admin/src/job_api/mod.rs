//! The job-management REST API under `/api/v1`: executor groups, jobs (CRUD, start/stop, trigger now or
//! at a later instant, planned triggers, next fire times), trigger logs (list, detail, the live
//! execution log, kill) and API tokens, as JSON, authenticated by `Authorization: Bearer <token>` and
//! limited to the token's executor groups.
//!
//! The OpenAPI 3 document at `/api/v1/openapi.json` is generated from the handlers' annotations by the
//! same router that serves them, so a route cannot exist without being documented. Triggers go through
//! the [`TriggerQueue`] like every other trigger, planned ones through the scheduler; this module never
//! calls `/run` itself. Only the live
//! log and kill talk to executors, through [`ExecutorClient`].
//!
//! Upstream's G3 job API (`/api/addJob` … `/api/triggerJob`) is served beside it by [`router`] through the
//! same handlers (see `upstream.rs`). Not here: the executor-facing `/api/registry|registryRemove|callback`
//! and the console.

mod auth;
mod error;
mod extract;
mod groups;
mod job_form;
mod jobs;
mod logs;
mod planned;
mod tokens;
mod upstream;
mod view;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::Notify;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{MintedToken, TOKEN_PREFIX, hash_token, mint_token};
pub use error::ApiError;

use crate::store::Store;
use crate::trigger::{ExecutorClient, ExecutorGenerations, TriggerQueue};

/// Where the API lives.
pub const PREFIX: &str = "/api/v1";

/// Everything the API's handlers share. Cheap to clone.
#[derive(Clone, Debug)]
pub struct JobApiState {
    inner: Arc<Inner>,
}

/// Limits of the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobApiOptions {
    /// Largest request body accepted (GLUE source travels in job bodies); larger ones get 413.
    pub body_limit: usize,
    /// How long "trigger now" waits for the trigger pipeline to write the log rows before giving up
    /// with 503 (the trigger may still happen).
    pub trigger_timeout: Duration,
    /// Silence after which a registration no longer counts as a live executor (the registry monitor's
    /// dead timeout, upstream 90 s).
    pub registry_dead_timeout: Duration,
}

#[derive(Clone, Debug)]
struct Inner {
    store: Store,
    queue: TriggerQueue,
    client: ExecutorClient,
    generations: ExecutorGenerations,
    scheduler_wake: Option<Arc<Notify>>,
    executor_token: Option<String>,
    options: JobApiOptions,
}

impl Default for JobApiOptions {
    fn default() -> Self {
        JobApiOptions {
            body_limit: 1024 * 1024,
            trigger_timeout: Duration::from_secs(30),
            registry_dead_timeout: xjob_protocol::REGISTRY_DEAD_TIMEOUT,
        }
    }
}

impl JobApiState {
    /// The API's state over the admin's store, trigger queue, executor client and generation directory,
    /// with default [`JobApiOptions`] and no scheduler to wake.
    pub fn new(
        store: Store,
        queue: TriggerQueue,
        client: ExecutorClient,
        generations: ExecutorGenerations,
    ) -> Self {
        JobApiState {
            inner: Arc::new(Inner {
                store,
                queue,
                client,
                generations,
                scheduler_wake: None,
                executor_token: None,
                options: JobApiOptions::default(),
            }),
        }
    }

    /// Notifies `wake` whenever a job is started or its schedule is edited, so the scheduler reads the new
    /// next fire time without waiting for its next scan.
    pub fn with_scheduler_wake(self, wake: Arc<Notify>) -> Self {
        self.map_inner(|inner| inner.scheduler_wake = Some(wake))
    }

    /// The global access token presented to G1/G2 executors for live logs and kills (G3 executors get
    /// their group's token), as the trigger pipeline does.
    pub fn with_executor_token(self, token: Option<String>) -> Self {
        self.map_inner(|inner| inner.executor_token = token)
    }

    /// The global access token for G1/G2 executors.
    pub(crate) fn executor_token(&self) -> Option<&str> {
        self.inner.executor_token.as_deref()
    }

    /// Replaces the limits.
    pub fn with_options(self, options: JobApiOptions) -> Self {
        self.map_inner(|inner| inner.options = options)
    }

    fn map_inner(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        change(&mut inner);
        JobApiState {
            inner: Arc::new(inner),
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn queue(&self) -> &TriggerQueue {
        &self.inner.queue
    }

    pub(crate) fn client(&self) -> &ExecutorClient {
        &self.inner.client
    }

    pub(crate) fn generations(&self) -> &ExecutorGenerations {
        &self.inner.generations
    }

    pub(crate) fn options(&self) -> &JobApiOptions {
        &self.inner.options
    }

    /// Tells the scheduler a job's next fire time changed.
    pub(crate) fn wake_scheduler(&self) {
        if let Some(wake) = &self.inner.scheduler_wake {
            wake.notify_one();
        }
    }
}

/// The API's router with its state applied: every `/api/v1` route plus `/api/v1/openapi.json`.
pub fn router(state: JobApiState) -> Router {
    let body_limit = state.options().body_limit;
    let (routes, document) = api_router().split_for_parts();
    let document = document.to_pretty_json().unwrap_or_else(|error| {
        // Serialising a document of plain strings and maps cannot fail; answer something valid anyway.
        tracing::error!(error = %error, "serialising the OpenAPI document failed");
        "{}".to_owned()
    });
    let document: Arc<str> = Arc::from(document);
    routes
        .merge(upstream::routes())
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let document = Arc::clone(&document);
                async move { ([(header::CONTENT_TYPE, "application/json")], document.to_string()).into_response() }
            }),
        )
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// The OpenAPI 3 document of the API, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().into_openapi()
}

/// Every documented route; the document is collected from the same list the router serves.
fn api_router() -> OpenApiRouter<JobApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(groups::list_groups, groups::create_group))
        .routes(routes!(
            groups::get_group,
            groups::update_group,
            groups::delete_group
        ))
        .routes(routes!(jobs::list_jobs, jobs::create_job))
        .routes(routes!(jobs::get_job, jobs::update_job, jobs::delete_job))
        .routes(routes!(jobs::start_job))
        .routes(routes!(jobs::stop_job))
        .routes(routes!(jobs::trigger_job))
        .routes(routes!(planned::list_planned_triggers))
        .routes(routes!(planned::cancel_planned_trigger))
        .routes(routes!(jobs::job_fire_times))
        .routes(routes!(jobs::preview_fire_times))
        .routes(routes!(logs::list_logs))
        .routes(routes!(logs::get_log))
        .routes(routes!(logs::log_content))
        .routes(routes!(logs::kill_log))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::delete_token))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "xjob job API",
        description = "Manage executor groups, jobs, triggers and trigger logs of an xjob admin. Every call \
                       needs `Authorization: Bearer <token>`; a token acts only on the executor groups in its \
                       scope, and only a token scoped to every group may manage groups and tokens."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "groups", description = "Executor groups"),
        (name = "jobs", description = "Jobs, their schedule and triggers"),
        (name = "logs", description = "Trigger logs and executions"),
        (name = "tokens", description = "API tokens (administrator tokens only)")
    )
)]
struct ApiDoc;

/// Declares the bearer scheme the document's `security` refers to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}
