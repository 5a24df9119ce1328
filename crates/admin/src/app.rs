//! The composition root of the scheduling center. [`Admin::start`] opens the store (creating and migrating a
//! SQLite file on first start), makes sure an administrator exists, binds the listener, starts the background
//! parts and serves the merged web routers; [`AdminHandle::shutdown`] stops them in the fixed order: stop
//! accepting requests, stop the background parts in reverse start order, close the store.
//!
//! Adding a part is one line: a web part adds its `router(…)` to [`web_parts`], a background part pushes a
//! [`Background`] in [`start_background`]. Both receive the [`AdminContext`] every part shares.
//!
//! Nothing here prints: the caller shows the listen address and the first-start password (see
//! [`AdminHandle::take_first_start`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::first_start::{self, FirstStart};
use crate::config::AdminConfig;
use crate::report::{self, ReportOptions};
use crate::store::{Store, StoreOptions};
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

/// A running admin. Dropping it without [`AdminHandle::shutdown`] leaves its tasks running until the
/// runtime ends.
#[derive(Debug)]
pub struct AdminHandle {
    address: SocketAddr,
    context: AdminContext,
    first_start: Option<FirstStart>,
    background: Vec<Background>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Admin {
    /// Starts an admin with validated settings; see the module documentation for the order.
    pub async fn start(config: AdminConfig) -> anyhow::Result<AdminHandle> {
        config.validate()?;
        let store = open_store(&config).await?;
        let first_start = first_start::ensure_admin(&store)
            .await
            .context("creating the first administrator")?;

        // Bound before anything else runs, so a taken port stops start-up at once.
        let listener = TcpListener::bind(config.listen_address())
            .await
            .with_context(|| format!("listening on {}", config.listen_address()))?;
        let address = listener.local_addr().context("reading the bound address")?;

        // The trigger pipeline takes `_pipeline_input`; until it runs, submissions are refused as unavailable.
        let (triggers, _pipeline_input) = TriggerQueue::bounded(config.trigger_queue_capacity);
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

        let background = start_background(&context);
        let router = web_parts(&context).into_iter().fold(Router::new(), Router::merge);
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
            background,
            server,
        })
    }
}

/// The web parts, merged into one router; each part is one line.
fn web_parts(context: &AdminContext) -> Vec<Router> {
    vec![health_router(context.store.clone())]
}

/// The background parts in start order; they are stopped in reverse.
fn start_background(context: &AdminContext) -> Vec<Background> {
    let config = &context.config;
    let report = report::start(
        context.store.clone(),
        ReportOptions {
            retention_days: config.retention_days(),
            period: report::PERIOD,
        },
    );
    vec![Background::new("log report", report.shutdown())]
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

    /// Stops accepting requests and lets those in flight finish, stops the background parts in reverse
    /// start order and closes the store, each step within the configured grace period.
    pub async fn shutdown(self) {
        let grace = self.context.config.shutdown_grace;
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
        for part in self.background.into_iter().rev() {
            if tokio::time::timeout(grace, part.stop).await.is_err() {
                tracing::warn!(part = part.name, ?grace, "did not stop within the grace period");
            }
        }
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

fn health_router(store: Store) -> Router {
    Router::new().route("/healthz", get(health)).with_state(store)
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
