//! The built-in Kubernetes executor of `xjob admin` (the in-admin mode): the `[kubernetes]` section of the
//! admin's settings read into the Kubernetes handler's own configuration, and the [`Extension`] that mounts an
//! SDK executor with `kubernetesJobHandler` on the admin's listener under `path_prefix`. It registers with the
//! admin it lives in, at the admin's own address plus the prefix, with the admin's access token, like any
//! executor: heartbeat while running, `registryRemove` at shutdown.

use anyhow::Context as _;
use xjob_admin::app::{Background, Extension, ExtensionGroup, Mounted};
use xjob_admin::config::AdminConfig;
use xjob_executor::{Executor, ExecutorConfig};
use xjob_k8s_executor::config::{Host, KubernetesConfig, Settings};
use xjob_k8s_executor::{HANDLER_NAME, KubernetesExecutor};

/// Where the executor endpoints live on the admin's listener unless `path_prefix` says otherwise.
pub const DEFAULT_PATH_PREFIX: &str = "/k8s-executor/";

/// The title of the executor group created on first start.
pub const GROUP_TITLE: &str = "Kubernetes";

/// The directory under the admin's data directory that holds the execution logs and spooled callbacks.
const LOG_DIRECTORY: &str = "k8s-executor";

/// The built-in executor's settings, checked against this machine.
#[derive(Clone, Debug)]
pub struct InAdmin {
    settings: Settings,
    in_cluster: bool,
}

/// Reads the `[kubernetes]` section; `None` unless it is enabled. The error is one line naming the key.
pub(crate) fn settings(config: &AdminConfig) -> Result<Option<InAdmin>, String> {
    let section: KubernetesConfig =
        toml::Value::Table(config.kubernetes.clone())
            .try_into()
            .map_err(|error: toml::de::Error| {
                format!(
                    "invalid setting `kubernetes`: {}",
                    error.message().trim_end().replace('\n', " ")
                )
            })?;
    if !section.enabled {
        return Ok(None);
    }
    let host = Host::detect();
    let settings = section
        .validate(&host)
        .map_err(|error| format!("invalid setting `kubernetes.{}`: {}", error.key, error.reason))?;
    Ok(Some(InAdmin {
        settings,
        in_cluster: host.in_cluster(),
    }))
}

impl InAdmin {
    /// The extension that starts the executor once the admin's listener is bound.
    pub fn extension(self) -> Extension {
        let group = ExtensionGroup {
            app_name: self.settings.config.app_name.clone(),
            title: GROUP_TITLE.to_owned(),
        };
        Extension::new("Kubernetes executor", move |context| async move {
            let prefix = self
                .settings
                .config
                .path_prefix_or(DEFAULT_PATH_PREFIX)
                .trim_end_matches('/')
                .to_owned();
            let admin_config = &context.config;
            let mut config = ExecutorConfig::new(
                &self.settings.config.app_name,
                vec![context.admin_address.clone()],
                admin_config.access_token().map(str::to_owned),
            );
            config.allow_no_token = admin_config.insecure_no_token;
            config.bind = admin_config.listen_address();
            config.address = Some(format!(
                "{}{prefix}/",
                context.admin_address.trim_end_matches('/')
            ));
            config.base_path = prefix;
            if let Some(data) = admin_config.data_dir() {
                config.log_path = data.join(LOG_DIRECTORY);
            }
            config.glue_enabled = false;
            config.shutdown_grace = admin_config.shutdown_grace;
            let kubernetes = KubernetesExecutor::connect(self.settings, self.in_cluster).await?;
            let (executor, router) = Executor::builder(config)
                .handler_arc(HANDLER_NAME, kubernetes.handler())
                .start_mounted()
                .await
                .context("starting the executor")?;
            kubernetes.start_janitor(executor.reporter());
            tracing::info!(address = %executor.address(), "built-in Kubernetes executor running");
            Ok(Mounted {
                router,
                stop: Background::new("Kubernetes executor", async move {
                    executor.shutdown().await;
                    kubernetes.shutdown().await;
                }),
            })
        })
        .with_executor_group(group)
    }
}
