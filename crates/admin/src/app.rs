//! The composition root of the scheduling center. [`Admin::start`] opens the store (creating and migrating a
//! SQLite file on first start), makes sure an administrator exists, binds the listener, starts the background
//! parts and serves the merged web routers; [`AdminHandle::shutdown`] stops them in the fixed order: stop
//! accepting requests, stop the background parts in reverse start order, close the store.
//!
//! Adding a part is one line: a web part adds its `router(…)` to [`web_parts`], a background part pushes a
//! [`Background`] in [`start_background`]. Both receive the [`AdminContext`] every part shares.
//!
//! Parts this crate must not know (the built-in Kubernetes executor, which needs the Kubernetes client) come in
//! from the program that starts the admin as [`Extension`]s through [`Admin::start_with`]: each may name an
//! executor group to create when missing, starts once the listener is bound (so the admin's own address is
//! known), adds routes to the admin's listener, and is stopped first at shutdown, while the server still
//! answers, so it can deregister and report what it was running.
//!
//! Nothing here prints: the caller shows the listen address and the first-start password (see
//! [`AdminHandle::take_first_start`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::first_start::{self, FirstStart};
use crate::complete::{Completer, ResultSender, ResultWriter, ResultWriterOptions};
use crate::config::AdminConfig;
use crate::executor_api::{self, ExecutorApiConfig, ExecutorApiState};
use crate::job_api::{self, JobApiOptions, JobApiState};
use crate::model::{AddressType, AppName, NewJobGroup};
use crate::registry::{GroupTokens, LostResultDetector, LostResultOptions, RegistryMonitor, RegistryOptions};
use crate::report::{self, ReportOptions};
use crate::route::Router;
use crate::schedule::{Scheduler, SchedulerOptions, SchedulerWaker};
use crate::store::{Store, StoreError, StoreOptions};
use crate::trigger::message::MessageStyle;
use crate::trigger::retry::{RetryMonitor, RetryOptions};
use crate::trigger::{ClientOptions, ExecutorClient, Pipeline, PipelineDeps, PipelineLimits, TriggerRequest};
use crate::trigger::{ExecutorGenerations, TriggerQueue};

/// How long `/healthz` waits for the database before it calls it unreachable.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// The scheduling center.
#[derive(Debug)]
pub struct Admin;

/// What every part of a running admin shares. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct AdminContext {
    /// The validated settings.
    pub config: Arc<AdminConfig>,
    /// The storage.
    pub store: Store,
    /// Where triggers are submitted.
    pub triggers: TriggerQueue,
    /// The protocol generation of each executor address.
    pub generations: ExecutorGenerations,
    /// The admin's own base URL as executors and people reach it (`admin_address`, else the bound address).
    pub admin_address: String,
    /// Cancelled when the admin shuts down; loops may watch it in addition to their own stop signal.
    pub shutdown: CancellationToken,
}

/// A started background part: its name and the future that stops it (created at start, run at shutdown).
pub struct Background {
    name: &'static str,
    stop: Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// The future an [`Extension`] starts with.
type StartExtension =
    Box<dyn FnOnce(AdminContext) -> Pin<Box<dyn Future<Output = anyhow::Result<Mounted>> + Send>> + Send>;

/// A part composed into the admin by the program that starts it; see the module documentation.
pub struct Extension {
    name: &'static str,
    group: Option<ExtensionGroup>,
    start: StartExtension,
}

/// An executor group with automatic registration that an [`Extension`] needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionGroup {
    /// The AppName the extension registers under.
    pub app_name: String,
    /// The title of the group when it is created.
    pub title: String,
}

/// What a started [`Extension`] adds: routes served on the admin's listener (merged, so they carry their own
/// path prefix) and how to stop it.
#[derive(Debug)]
pub struct Mounted {
    /// Routes merged into the admin's router.
    pub router: axum::Router,
    /// Stops the extension; run first at shutdown.
    pub stop: Background,
}

/// A running admin. Dropping it without [`AdminHandle::shutdown`] leaves its tasks running until the
/// runtime ends.
#[derive(Debug)]
pub struct AdminHandle {
    address: SocketAddr,
    context: AdminContext,
    first_start: Option<FirstStart>,
    extensions: Vec<Background>,
    background: Vec<Background>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Admin {
    /// Starts an admin with validated settings; see the module documentation for the order.
    pub async fn start(config: AdminConfig) -> anyhow::Result<AdminHandle> {
        Admin::start_with(config, Vec::new()).await
    }

    /// Starts an admin with `extensions` composed in: their executor groups are created when missing, then
    /// each starts, in order, once the listener is bound. If one fails to start, everything started so far
    /// is stopped and its error returned.
    pub async fn start_with(config: AdminConfig, extensions: Vec<Extension>) -> anyhow::Result<AdminHandle> {
        config.validate()?;
        let store = open_store(&config).await?;
        let first_start = first_start::ensure_admin(&store)
            .await
            .context("creating the first administrator")?;
        // Collected first: a borrow of `extensions` held across the awaits would make this future not `Send`.
        let groups: Vec<ExtensionGroup> = extensions
            .iter()
            .filter_map(|extension| extension.group.clone())
            .collect();
        for group in &groups {
            ensure_group(&store, group, config.access_token()).await?;
        }

        // Bound before anything else runs, so a taken port stops start-up at once.
        let listener = TcpListener::bind(config.listen_address())
            .await
            .with_context(|| format!("listening on {}", config.listen_address()))?;
        let address = listener.local_addr().context("reading the bound address")?;

        let (triggers, pipeline_input) = TriggerQueue::bounded(config.trigger_queue_capacity);
        let context = AdminContext {
            generations: ExecutorGenerations::new(config.executor_generation),
            admin_address: config
                .admin_address
                .clone()
                .unwrap_or_else(|| format!("http://{address}/")),
            config: Arc::new(config),
            store,
            triggers,
            shutdown: CancellationToken::new(),
        };

        let client = ExecutorClient::new(&ClientOptions {
            timeout: context.config.trigger_timeout,
            ..ClientOptions::default()
        })
        .context("building the executor client")?;
        let (background, wiring) = start_background(&context, client, pipeline_input);
        let mut router = web_parts(&context, wiring)
            .into_iter()
            .fold(axum::Router::new(), axum::Router::merge);
        let mut started = Vec::new();
        for extension in extensions {
            let name = extension.name;
            match (extension.start)(context.clone()).await {
                Ok(mounted) => {
                    router = router.merge(mounted.router);
                    started.push(mounted.stop);
                }
                Err(error) => {
                    let grace = context.config.shutdown_grace;
                    context.shutdown.cancel();
                    stop_parts(started, grace).await;
                    stop_parts(background, grace).await;
                    context.store.close().await;
                    return Err(error.context(format!("starting the {name}")));
                }
            }
        }
        let stop = context.shutdown.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        });
        tracing::info!(%address, "admin started");
        Ok(AdminHandle {
            address,
            context,
            first_start: Some(first_start),
            extensions: started,
            background,
            server,
        })
    }
}

/// What the web parts need from the background parts.
struct Wiring {
    client: ExecutorClient,
    results: ResultSender,
    tokens: GroupTokens,
    scheduler: SchedulerWaker,
}

/// The web parts, merged into one router; each part is one line.
fn web_parts(context: &AdminContext, wiring: Wiring) -> Vec<axum::Router> {
    let config = &context.config;
    let executor_api = ExecutorApiState::new(
        context.store.clone(),
        ExecutorApiConfig {
            access_token: config.access_token().map(str::to_owned),
            allow_no_token: config.insecure_no_token,
            ..ExecutorApiConfig::default()
        },
        context.generations.clone(),
        wiring.tokens,
        wiring.results,
    );
    let job_api = JobApiState::new(
        context.store.clone(),
        context.triggers.clone(),
        wiring.client,
        context.generations.clone(),
    )
    .with_scheduler_wake(wiring.scheduler.notifier())
    .with_executor_token(config.access_token().map(str::to_owned))
    .with_options(JobApiOptions {
        registry_dead_timeout: config.registry_dead_timeout,
        ..JobApiOptions::default()
    });
    vec![
        health_router(context.store.clone()),
        executor_api::router(executor_api),
        job_api::router(job_api),
    ]
}

/// The background parts in start order; they are stopped in reverse, so the scheduler stops producing first
/// and the result writer, which everything else may feed, stops last.
fn start_background(
    context: &AdminContext,
    client: ExecutorClient,
    pipeline_input: mpsc::Receiver<TriggerRequest>,
) -> (Vec<Background>, Wiring) {
    let config = &context.config;
    let store = &context.store;
    let mut parts = Vec::new();

    let completer = Completer::new(store.clone(), context.triggers.clone());
    let (results, writer) = ResultWriter::start(completer.clone(), ResultWriterOptions::default());
    parts.push(Background::new("result writer", writer.shutdown()));

    let pipeline = Pipeline::start(
        store.clone(),
        pipeline_input,
        PipelineDeps {
            client: client.clone(),
            router: Arc::new(Router::new()),
            generations: context.generations.clone(),
            admin_address: context.admin_address.clone(),
            style: MessageStyle::default(),
            access_token: config.access_token().map(str::to_owned),
            limits: PipelineLimits {
                in_flight: config.fast_pool_size() as usize,
                slow_in_flight: config.slow_pool_size() as usize,
                ..PipelineLimits::default()
            },
        },
    );
    parts.push(Background::new("trigger pipeline", pipeline.shutdown()));

    let tokens = GroupTokens::new();
    let registry = RegistryMonitor::new(
        store.clone(),
        context.generations.clone(),
        tokens.clone(),
        RegistryOptions {
            period: config.registry_beat_interval,
            dead_after: config.registry_dead_timeout,
        },
    )
    .start();
    parts.push(Background::new("registry monitor", registry.shutdown()));

    let lost = LostResultDetector::new(
        completer,
        LostResultOptions {
            period: config.lost_result_interval,
            grace: config.lost_result_timeout,
        },
    )
    .start();
    parts.push(Background::new("lost-result detector", lost.shutdown()));

    let retry = RetryMonitor::start(
        store.clone(),
        context.triggers.clone(),
        Vec::new(),
        RetryOptions {
            interval: config.fail_monitor_interval,
            ..RetryOptions::default()
        },
    );
    parts.push(Background::new("fail-retry monitor", retry.shutdown()));

    let report = report::start(
        store.clone(),
        ReportOptions {
            retention_days: config.retention_days(),
            period: report::PERIOD,
        },
    );
    parts.push(Background::new("log report", report.shutdown()));

    let scheduler = Scheduler::start(
        store.clone(),
        context.triggers.clone(),
        SchedulerOptions {
            window: config.schedule_pre_read,
            page_size: config.schedule_batch(),
            misfire_threshold: config.misfire_threshold,
        },
    );
    let waker = scheduler.waker();
    parts.push(Background::new("scheduler", async move {
        scheduler.shutdown().await;
    }));

    let wiring = Wiring {
        client,
        results,
        tokens,
        scheduler: waker,
    };
    (parts, wiring)
}

/// Creates the group an extension registers under unless a group has its AppName; a new group gets the
/// admin's access token, which the extension presents.
async fn ensure_group(
    store: &Store,
    group: &ExtensionGroup,
    access_token: Option<&str>,
) -> anyhow::Result<()> {
    let context = || format!("creating the executor group {}", group.app_name);
    if store
        .group_by_app_name(&group.app_name)
        .await
        .with_context(context)?
        .is_some()
    {
        return Ok(());
    }
    let new = NewJobGroup {
        app_name: AppName::new(group.app_name.clone()).with_context(context)?,
        name: group.title.clone(),
        address_type: AddressType::Automatic,
        address_list: None,
        access_token: access_token.map(str::to_owned),
    };
    match store.insert_group(&new, chrono::Utc::now()).await {
        // Another replica created it at the same moment.
        Ok(_) | Err(StoreError::Duplicate) => {
            tracing::info!(app_name = %group.app_name, "executor group ensured");
            Ok(())
        }
        Err(error) => Err(error).with_context(context),
    }
}

/// Stops `parts` in reverse order, each within `grace`.
async fn stop_parts(parts: Vec<Background>, grace: Duration) {
    for part in parts.into_iter().rev() {
        if tokio::time::timeout(grace, part.stop).await.is_err() {
            tracing::warn!(part = part.name, ?grace, "did not stop within the grace period");
        }
    }
}

impl Extension {
    /// An extension called `name` (in logs and errors) that `start` starts.
    pub fn new<F, Fut>(name: &'static str, start: F) -> Extension
    where
        F: FnOnce(AdminContext) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<Mounted>> + Send + 'static,
    {
        Extension {
            name,
            group: None,
            start: Box::new(move |context| Box::pin(start(context))),
        }
    }

    /// Makes the admin create `group` (automatic registration) before start when no group has its AppName.
    pub fn with_executor_group(mut self, group: ExtensionGroup) -> Extension {
        self.group = Some(group);
        self
    }
}

impl std::fmt::Debug for Extension {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Extension")
            .field("name", &self.name)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl Background {
    /// A part that `stop` stops; `stop` is awaited only at shutdown.
    pub fn new(name: &'static str, stop: impl Future<Output = ()> + Send + 'static) -> Background {
        Background {
            name,
            stop: Box::pin(stop),
        }
    }
}

impl std::fmt::Debug for Background {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Background")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl AdminHandle {
    /// The address the console and APIs listen on.
    pub fn addr(&self) -> SocketAddr {
        self.address
    }

    /// What the parts share (the store, the trigger queue, …).
    pub fn context(&self) -> &AdminContext {
        &self.context
    }

    /// What start-up did about the first administrator; `Ready` on every later call, so a generated password
    /// is handed out once.
    pub fn take_first_start(&mut self) -> FirstStart {
        self.first_start.take().unwrap_or(FirstStart::Ready)
    }

    /// Stops the extensions in reverse start order while the server still answers them, stops accepting
    /// requests and lets those in flight finish, stops the background parts in reverse start order and
    /// closes the store, each step within the configured grace period.
    pub async fn shutdown(self) {
        let grace = self.context.config.shutdown_grace;
        stop_parts(self.extensions, grace).await;
        self.context.shutdown.cancel();
        let mut server = self.server;
        match tokio::time::timeout(grace, &mut server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::error!(%error, "the HTTP server failed"),
            Ok(Err(error)) => tracing::error!(%error, "the HTTP server task failed"),
            Err(_) => {
                tracing::warn!(
                    ?grace,
                    "requests still running after the grace period were cut off"
                );
                server.abort();
            }
        }
        stop_parts(self.background, grace).await;
        self.context.store.close().await;
        tracing::info!("admin stopped");
    }
}

/// Opens (and on first start creates) the database the settings name.
pub async fn open_store(config: &AdminConfig) -> anyhow::Result<Store> {
    if config.database_url.is_none() {
        let dir = config
            .data_dir()
            .context("no data directory: set data_dir or database_url")?;
        create_private_dir(&dir).with_context(|| format!("creating data directory {}", dir.display()))?;
    }
    let url = config
        .database_url()
        .context("no database: set data_dir or database_url")?;
    let engine = crate::store::Engine::from_url(&url).map_or("database".to_owned(), |e| e.to_string());
    Store::open(&StoreOptions {
        url,
        time_zone: config.time_zone,
        max_connections: config.database_pool_size,
    })
    .await
    .with_context(|| format!("opening the {engine}"))
}

/// Creates `dir` and its parents; a new directory is readable by its owner only (it holds password hashes).
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

fn health_router(store: Store) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(health))
        .with_state(store)
}

/// 200 when the database answers within [`HEALTH_TIMEOUT`], 503 otherwise; the body says which.
async fn health(State(store): State<Store>) -> Response {
    let reachable = matches!(
        tokio::time::timeout(HEALTH_TIMEOUT, store.ping()).await,
        Ok(Ok(()))
    );
    let (status, database) = if reachable {
        (StatusCode::OK, "up")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unreachable")
    };
    (
        status,
        axum::Json(
            serde_json::json!({ "status": if reachable { "up" } else { "down" }, "database": database }),
        ),
    )
        .into_response()
}
