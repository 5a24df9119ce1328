//! The composition root: [`Executor::builder`] collects handlers, [`ExecutorBuilder::start`] validates the
//! configuration and starts the parts in order (log directories, callback worker, job threads, HTTP server,
//! registry loop, log retention), and [`ExecutorHandle::shutdown`] stops them in upstream's order.
//!
//! The parts themselves live in their own modules; nothing here touches the wire.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin_client::AdminClient;
use crate::callback::{self, CallbackWorker};
use crate::config::ExecutorConfig;
use crate::error::ExecutorError;
use crate::execution_log::LogWriter;
use crate::handler::{FnHandler, GlueHandlerFactory, JobHandler, JobResult};
use crate::jobs::{JobSetup, Jobs};
use crate::report::{ResultReporter, ResumedExecutions};
use crate::{JobContext, execution_log, registry, server};

/// Entry point: `Executor::builder(config)`.
#[derive(Debug)]
pub struct Executor(());

/// Collects handlers and starts the executor.
pub struct ExecutorBuilder {
    config: ExecutorConfig,
    handlers: Vec<(String, Arc<dyn JobHandler>)>,
    glue_factory: Option<Arc<dyn GlueHandlerFactory>>,
}

/// A running executor. Dropping it leaves the executor running; call [`shutdown`](Self::shutdown) to stop.
pub struct ExecutorHandle {
    local_addr: SocketAddr,
    address: String,
    reporter: ResultReporter,
    parts: Option<RunningParts>,
}

/// Everything shutdown has to stop, in the order it stops them.
struct RunningParts {
    server: Option<(CancellationToken, JoinHandle<()>)>,
    registry: (CancellationToken, JoinHandle<()>),
    admin: Arc<AdminClient>,
    jobs: Jobs,
    callbacks: CallbackWorker,
    retention: (CancellationToken, JoinHandle<()>),
    shutdown_grace: Duration,
}

/// How long the HTTP server may take to close its connections at shutdown.
const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(5);

impl Executor {
    /// A builder for an executor with `config`.
    pub fn builder(config: ExecutorConfig) -> ExecutorBuilder {
        ExecutorBuilder {
            config,
            handlers: Vec::new(),
            glue_factory: None,
        }
    }
}

impl ExecutorBuilder {
    /// Registers `handler` under `name` (the job's `executorHandler`).
    pub fn handler(self, name: impl Into<String>, handler: impl JobHandler) -> Self {
        self.handler_arc(name, Arc::new(handler))
    }

    /// Registers an already shared handler under `name`.
    pub fn handler_arc(mut self, name: impl Into<String>, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.push((name.into(), handler));
        self
    }

    /// Registers an async closure under `name`:
    /// `.handler_fn("echo", |ctx: JobContext| async move { JobResult::success() })`.
    pub fn handler_fn<F, Fut>(self, name: impl Into<String>, handler: F) -> Self
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult> + Send + 'static,
    {
        self.handler(name, FnHandler(handler))
    }

    /// Sets the factory for GLUE jobs. Without one, GLUE triggers are refused with upstream's
    /// `fail, current glue type [...] not supported.`.
    pub fn glue_factory(mut self, factory: impl GlueHandlerFactory) -> Self {
        self.glue_factory = Some(Arc::new(factory));
        self
    }

    /// Validates the configuration, binds the listen address and starts every part. Must run inside a tokio
    /// runtime.
    pub async fn start(self) -> Result<ExecutorHandle, ExecutorError> {
        let bind = self.config.bind;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| ExecutorError::Bind { addr: bind, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ExecutorError::Bind { addr: bind, source })?;
        let address = self
            .config
            .address
            .clone()
            .unwrap_or_else(|| default_address(local_addr, &self.config.base_path));
        let (mut parts, router, reporter) = self.start_parts(address.clone()).await?;
        let token = CancellationToken::new();
        let router = router.fallback(server::fallback);
        let stop = token.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(stop).await {
                tracing::error!(%error, "executor HTTP server failed");
            }
        });
        parts.server = Some((token, task));
        tracing::info!(%local_addr, %address, "executor started");
        Ok(ExecutorHandle {
            local_addr,
            address,
            reporter,
            parts: Some(parts),
        })
    }

    /// Like [`start`](Self::start), but serves no HTTP itself: returns the executor's routes (under
    /// `base_path`, without a fallback) for the caller to merge into its own axum application.
    /// [`ExecutorConfig::address`] is required, since the executor cannot know where it is reachable;
    /// [`ExecutorHandle::local_addr`] then returns the configured `bind`.
    pub async fn start_mounted(self) -> Result<(ExecutorHandle, Router), ExecutorError> {
        let Some(address) = self.config.address.clone() else {
            return Err(ExecutorError::InvalidConfig(
                "address is required when the executor is mounted in another server".to_owned(),
            ));
        };
        let local_addr = self.config.bind;
        let (parts, router, reporter) = self.start_parts(address.clone()).await?;
        let handle = ExecutorHandle {
            local_addr,
            address,
            reporter,
            parts: Some(parts),
        };
        Ok((handle, router))
    }

    /// Starts everything but the HTTP server and returns the router to serve.
    async fn start_parts(
        self,
        address: String,
    ) -> Result<(RunningParts, Router, ResultReporter), ExecutorError> {
        let config = validate(self.config)?;
        let handlers = handler_map(self.handlers)?;
        callback::create_spool_directory(&config.log_path).await?;

        let admin = Arc::new(AdminClient::new(&config)?);
        let log_writer = LogWriter::start().map_err(ExecutorError::LogWriter)?;
        let callbacks = CallbackWorker::start(
            Arc::clone(&admin),
            config.log_path.clone(),
            log_writer.clone(),
            config.beat_interval,
        );
        let resumed = ResumedExecutions::default();
        let reporter = ResultReporter::new(
            callbacks.sink(),
            config.log_path.clone(),
            log_writer.clone(),
            resumed.clone(),
        );
        let jobs = Jobs::new(JobSetup {
            handlers,
            resumed,
            glue_factory: self.glue_factory,
            glue_enabled: config.glue_enabled,
            log_root: config.log_path.clone(),
            log_writer,
            callbacks: callbacks.sink(),
            idle_timeout: config.job_idle_timeout,
            cancel_grace: config.cancel_grace,
        });
        let config = Arc::new(config);
        let router = server::router(Arc::clone(&config), jobs.clone());
        let registry = registry::start(
            Arc::clone(&admin),
            config.app_name.clone(),
            address,
            config.beat_interval,
        );
        let retention = start_retention(&config);
        let parts = RunningParts {
            server: None,
            registry,
            admin,
            jobs,
            callbacks,
            retention,
            shutdown_grace: config.shutdown_grace,
        };
        Ok((parts, router, reporter))
    }
}

impl ExecutorHandle {
    /// The socket the HTTP server listens on (with port 0 resolved); the configured `bind` when mounted.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address registered with admins.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Reports results of executions no job thread runs (work resumed after a restart); see
    /// [`ResultReporter`].
    pub fn reporter(&self) -> ResultReporter {
        self.reporter.clone()
    }

    /// Stops gracefully, in upstream's order: stop accepting requests, stop the heartbeat and deregister
    /// (`registryRemove`), let running executions finish for `shutdown_grace`, cancel the rest (their
    /// callbacks report them killed), flush callbacks (spooling what no admin takes), stop log cleanup.
    pub async fn shutdown(mut self) {
        let Some(parts) = self.parts.take() else {
            return;
        };
        if let Some((token, task)) = parts.server {
            token.cancel();
            if tokio::time::timeout(SERVER_STOP_TIMEOUT, task).await.is_err() {
                tracing::warn!("executor HTTP server did not stop in time");
            }
        }
        let (token, task) = parts.registry;
        token.cancel();
        let _ = task.await;
        parts.admin.registry_remove(&self.address).await;
        parts.jobs.shutdown(parts.shutdown_grace).await;
        parts.callbacks.shutdown().await;
        let (token, task) = parts.retention;
        token.cancel();
        let _ = task.await;
        tracing::info!(address = %self.address, "executor stopped");
    }
}

/// `http://<ip>:<port><base_path>/`: upstream's default registration address. An unspecified listen IP is
/// advertised as loopback; set [`ExecutorConfig::address`] for anything reachable from elsewhere.
fn default_address(local_addr: SocketAddr, base_path: &str) -> String {
    let ip = match local_addr.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}{base_path}/", SocketAddr::new(ip, local_addr.port()))
}

fn validate(mut config: ExecutorConfig) -> Result<ExecutorConfig, ExecutorError> {
    if config.app_name.trim().is_empty() {
        return Err(ExecutorError::MissingAppName);
    }
    if config.access_token.is_none() && !config.allow_no_token {
        return Err(ExecutorError::MissingToken);
    }
    let base = config.base_path.trim().trim_end_matches('/');
    if !base.is_empty() && !base.starts_with('/') {
        return Err(ExecutorError::InvalidConfig(format!(
            "base_path must be empty or start with `/`, got `{}`",
            config.base_path
        )));
    }
    config.base_path = base.to_owned();
    if config.max_body_bytes == 0 {
        return Err(ExecutorError::InvalidConfig(
            "max_body_bytes must be positive".to_owned(),
        ));
    }
    if config.job_idle_timeout.is_zero() {
        return Err(ExecutorError::InvalidConfig(
            "job_idle_timeout must be positive".to_owned(),
        ));
    }
    if config.beat_interval.is_zero() {
        return Err(ExecutorError::InvalidConfig(
            "beat_interval must be positive".to_owned(),
        ));
    }
    config.admin_addresses = config
        .admin_addresses
        .iter()
        .map(|address| address.trim().to_owned())
        .filter(|address| !address.is_empty())
        .collect();
    Ok(config)
}

fn handler_map(
    handlers: Vec<(String, Arc<dyn JobHandler>)>,
) -> Result<HashMap<String, Arc<dyn JobHandler>>, ExecutorError> {
    let mut map = HashMap::with_capacity(handlers.len());
    for (name, handler) in handlers {
        if name.trim().is_empty() {
            return Err(ExecutorError::BlankHandlerName);
        }
        if map.insert(name.clone(), handler).is_some() {
            return Err(ExecutorError::DuplicateHandler(name));
        }
    }
    Ok(map)
}

/// Removes dated log directories past retention at start and then daily, as upstream; `< 3` days disables it.
fn start_retention(config: &ExecutorConfig) -> (CancellationToken, JoinHandle<()>) {
    let token = CancellationToken::new();
    let stop = token.clone();
    let days = config.log_retention_days;
    let root = config.log_path.clone();
    let task = tokio::spawn(async move {
        if days < 3 {
            return;
        }
        loop {
            let root = root.clone();
            let today = chrono::Local::now().date_naive();
            let removed = tokio::task::spawn_blocking(move || execution_log::clean_up(&root, days, today))
                .await
                .unwrap_or(0);
            if removed > 0 {
                tracing::info!(removed, days, "removed old execution log directories");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(24 * 60 * 60)) => {}
            }
        }
    });
    (token, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_addresses() {
        let check = |addr: &str, base: &str, expected: &str| {
            assert_eq!(default_address(addr.parse().unwrap(), base), expected);
        };
        check("0.0.0.0:9999", "", "http://127.0.0.1:9999/");
        check("10.0.0.5:9999", "/exec", "http://10.0.0.5:9999/exec/");
        check("[::1]:80", "", "http://[::1]:80/");
    }

    #[test]
    fn validation() {
        let config = |token: Option<&str>| ExecutorConfig::new("demo", vec![], token.map(str::to_owned));
        assert!(matches!(validate(config(None)), Err(ExecutorError::MissingToken)));
        let mut insecure = config(None);
        insecure.allow_no_token = true;
        assert!(validate(insecure).is_ok());
        let mut prefixed = config(Some("t"));
        prefixed.base_path = "/exec/".to_owned();
        assert_eq!(validate(prefixed).unwrap().base_path, "/exec");
        let mut bad = config(Some("t"));
        bad.base_path = "exec".to_owned();
        assert!(matches!(validate(bad), Err(ExecutorError::InvalidConfig(_))));
        let nameless = ExecutorConfig::new(" ", vec![], Some("t".to_owned()));
        assert!(matches!(validate(nameless), Err(ExecutorError::MissingAppName)));
    }
}
