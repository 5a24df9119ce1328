//! The composition root: turns the loaded [`Config`] into an SDK executor with the built-in handlers, starts
//! it, and stops it gracefully on SIGTERM or Ctrl-C. [`run`] (the `executor` subcommand) and the tests both go
//! through [`start`].

use std::net::SocketAddr;

use anyhow::Context as _;
use xjob_executor::{AdminGenerationMode, Executor, ExecutorConfig, ExecutorHandle};
use xjob_k8s_executor::config::Host;
use xjob_k8s_executor::{HANDLER_NAME as KUBERNETES_HANDLER, KubernetesExecutor};
use xjob_protocol::Generation;

use crate::address::registered_address;
use crate::command::{COMMAND_HANDLER, CommandRunner};
use crate::config::{AdminGeneration, Config, ExecutorArgs};
use crate::glue::GlueScripts;
use crate::handlers::{CommandHandler, HttpHandler, ScriptFactory};
use crate::http_call::{HTTP_HANDLER, HttpCaller};
use crate::process::DEFAULT_KILL_GRACE;

/// A started ready executor.
pub struct ReadyExecutor {
    handle: ExecutorHandle,
    kubernetes: Option<KubernetesExecutor>,
}

/// Loads the configuration from `args`, starts the executor and runs it until SIGTERM or Ctrl-C, then shuts
/// it down gracefully (running jobs get the configured grace, then are killed and reported).
pub async fn run(args: ExecutorArgs) -> anyhow::Result<()> {
    // Listening for signals is set up first, so that a failure there cannot strand a started executor.
    let stop = shutdown_signal()?;
    let executor = start(args).await?;
    stop.await;
    tracing::info!("shutdown requested");
    executor.shutdown().await;
    Ok(())
}

/// Loads the configuration from `args` and starts the executor.
pub async fn start(args: ExecutorArgs) -> anyhow::Result<ReadyExecutor> {
    let config = Config::load(&args)?;
    let caller = HttpCaller::new(config.http_allow_list()).context("building the HTTP client")?;
    let builder = Executor::builder(executor_config(&config)?)
        .handler(
            COMMAND_HANDLER,
            CommandHandler(CommandRunner::new(DEFAULT_KILL_GRACE)),
        )
        .handler(HTTP_HANDLER, HttpHandler(caller))
        .glue_factory(ScriptFactory(GlueScripts::new(
            &config.log_path,
            DEFAULT_KILL_GRACE,
        )));
    let kubernetes = if config.kubernetes.enabled {
        Some(kubernetes(&config).await?)
    } else {
        None
    };
    let builder = match &kubernetes {
        Some(kubernetes) => builder.handler_arc(KUBERNETES_HANDLER, kubernetes.handler()),
        None => builder,
    };
    let handle = builder.start().await.context("starting the executor")?;
    if let Some(kubernetes) = &kubernetes {
        kubernetes.start_janitor(handle.reporter());
    }
    tracing::info!(
        app_name = %config.app_name,
        listen = %handle.local_addr(),
        address = %handle.address(),
        glue_enabled = config.glue_enabled,
        kubernetes = kubernetes.is_some(),
        "ready executor running"
    );
    Ok(ReadyExecutor { handle, kubernetes })
}

/// The Kubernetes handler's parts from the `[kubernetes]` section: settings validated against this machine,
/// the API client for the configured access mode, and the permission check.
async fn kubernetes(config: &Config) -> anyhow::Result<KubernetesExecutor> {
    let host = Host::detect();
    let settings = config.kubernetes.clone().validate(&host)?;
    let kubernetes = KubernetesExecutor::connect(settings, host.in_cluster()).await?;
    Ok(kubernetes)
}

impl ReadyExecutor {
    /// The address the executor listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// The address registered with the admins.
    pub fn address(&self) -> &str {
        self.handle.address()
    }

    /// Stops accepting triggers, lets running jobs finish within the grace, kills the rest, flushes
    /// callbacks and deregisters from the admin.
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
        if let Some(kubernetes) = self.kubernetes {
            kubernetes.shutdown().await;
        }
    }
}

fn executor_config(config: &Config) -> anyhow::Result<ExecutorConfig> {
    let mut executor = ExecutorConfig::new(
        &config.app_name,
        config.admin_addresses.clone(),
        config.access_token().map(str::to_owned),
    );
    executor.allow_no_token = config.insecure_no_token;
    executor.bind = SocketAddr::new(config.listen, config.port);
    executor.address = config.address.clone();
    // The SDK derives the address from the bound socket, which names no reachable IP when listening on
    // every interface; then (or when an IP is configured) the address is built here.
    if config.address.is_none() && (config.ip.is_some() || config.listen.is_unspecified()) {
        if config.port == 0 {
            executor.bind.set_port(reserve_port(executor.bind)?);
        }
        executor.address = Some(registered_address(config.ip, executor.bind, &config.base_path));
    }
    executor.base_path = config.base_path.clone();
    executor.log_path = config.log_path.clone();
    executor.log_retention_days = config.log_retention_days;
    executor.glue_enabled = config.glue_enabled;
    executor.shutdown_grace = config.shutdown_grace;
    executor.admin_generation = match config.admin_generation {
        AdminGeneration::Auto => AdminGenerationMode::Auto,
        AdminGeneration::G1 => AdminGenerationMode::Fixed(Generation::G1),
        AdminGeneration::G2 => AdminGenerationMode::Fixed(Generation::G2),
        AdminGeneration::G3 => AdminGenerationMode::Fixed(Generation::G3),
    };
    Ok(executor)
}

/// A free port for `bind`, found by binding port 0 and letting go. Another process could take it before
/// the executor binds; this only happens with port 0 and a computed address, a combination for experiments.
fn reserve_port(bind: SocketAddr) -> anyhow::Result<u16> {
    let listener =
        std::net::TcpListener::bind(bind).with_context(|| format!("finding a free port on {bind}"))?;
    Ok(listener
        .local_addr()
        .with_context(|| format!("finding a free port on {bind}"))?
        .port())
}

/// A future that resolves when the process receives SIGTERM or SIGINT (Ctrl-C); the project binary's other
/// long-running commands stop on it too.
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn config(adjust: impl FnOnce(&mut ExecutorArgs)) -> Config {
        let mut args = ExecutorArgs {
            app_name: Some("demo".to_owned()),
            admin_addresses: vec!["http://127.0.0.1:8080/xxl-job-admin".to_owned()],
            access_token: Some(Secret::from("t".to_owned())),
            ..ExecutorArgs::default()
        };
        adjust(&mut args);
        Config::load(&args).unwrap()
    }

    #[test]
    fn settings_reach_the_sdk() {
        let sdk = executor_config(&config(|args| {
            args.ip = Some("10.1.2.3".parse().unwrap());
            args.base_path = Some("/exec".to_owned());
            args.admin_generation = Some(AdminGeneration::G1);
            args.glue_enabled = Some(false);
            args.log_retention_days = Some(2);
        }))
        .unwrap();
        assert_eq!(sdk.bind, "0.0.0.0:9999".parse().unwrap());
        assert_eq!(sdk.address.as_deref(), Some("http://10.1.2.3:9999/exec/"));
        assert_eq!(sdk.admin_generation, AdminGenerationMode::Fixed(Generation::G1));
        assert_eq!(sdk.access_token.as_ref().map(|token| token.expose()), Some("t"));
        assert_eq!(
            (sdk.glue_enabled, sdk.log_retention_days, sdk.base_path.as_str()),
            (false, 2, "/exec")
        );
    }

    #[test]
    fn address_is_left_to_the_sdk_for_a_specific_listen_address() {
        let sdk = executor_config(&config(|args| {
            args.listen = Some("127.0.0.1".parse().unwrap());
            args.port = Some(0);
        }))
        .unwrap();
        assert_eq!((sdk.bind, sdk.address), ("127.0.0.1:0".parse().unwrap(), None));
    }

    #[test]
    fn port_zero_on_every_interface_gets_a_real_port_in_the_address() {
        let sdk = executor_config(&config(|args| {
            args.ip = Some("10.1.2.3".parse().unwrap());
            args.port = Some(0);
        }))
        .unwrap();
        assert_ne!(sdk.bind.port(), 0);
        assert_eq!(sdk.address, Some(format!("http://10.1.2.3:{}/", sdk.bind.port())));
    }

    #[test]
    fn configured_address_is_used_verbatim() {
        let sdk = executor_config(&config(|args| {
            args.address = Some("http://exec.example.com/".to_owned())
        }))
        .unwrap();
        assert_eq!(sdk.address.as_deref(), Some("http://exec.example.com/"));
    }
}
