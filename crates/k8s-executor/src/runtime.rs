//! [`KubernetesExecutor`]: the handler, its shared watches, the permission check and the janitor built from
//! the configuration — what a standalone executor or the admin embeds.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use kube::Client;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use xjob_executor::{JobHandler, ResultReporter};

use crate::api::{self, ConnectError};
use crate::config::Settings;
use crate::handler::KubernetesJobHandler;
use crate::hub::Hub;
use crate::lifecycle::Shared;
use crate::normalise::{self, Keys};
use crate::rbac::{self, Missing};

/// The Kubernetes executor's parts. Typical use:
///
/// ```no_run
/// # async fn demo(settings: xjob_k8s_executor::config::Settings, builder: xjob_executor::ExecutorBuilder)
/// # -> Result<(), Box<dyn std::error::Error>> {
/// use xjob_k8s_executor::{HANDLER_NAME, KubernetesExecutor};
///
/// let kubernetes = KubernetesExecutor::connect(settings, false).await?;
/// let executor = builder.handler_arc(HANDLER_NAME, kubernetes.handler()).start().await?;
/// kubernetes.start_janitor(executor.reporter());
/// // ... at shutdown: stop the executor first (it kills running executions), then
/// executor.shutdown().await;
/// kubernetes.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct KubernetesExecutor {
    shared: Arc<Shared>,
    janitor: Mutex<Option<(CancellationToken, JoinHandle<()>)>>,
    resumed: TaskTracker,
}

impl KubernetesExecutor {
    /// Builds the client for the configured access mode (`in_cluster`: whether the process runs in a pod, see
    /// [`crate::config::Host::detect`]), then does as [`with_client`](Self::with_client).
    pub async fn connect(settings: Settings, in_cluster: bool) -> Result<Self, ConnectError> {
        let client = api::connect(&settings.config, in_cluster).await?;
        Ok(Self::with_client(client, settings).await)
    }

    /// Checks the executor's permissions in every allowed namespace (one log line per missing permission)
    /// and prepares the handler. Must run inside a tokio runtime.
    pub async fn with_client(client: Client, settings: Settings) -> Self {
        api::install_crypto_provider();
        let missing = rbac::check(&client, &settings.allowed_namespaces, settings.config.api_timeout).await;
        let keys = Keys::new(&settings.config.label_prefix);
        let hub = Hub::new(
            client.clone(),
            normalise::instance_selector(&settings),
            keys.log_id.clone(),
        );
        let slots = usize::try_from(settings.config.max_running).unwrap_or(usize::MAX);
        let shared = Arc::new(Shared {
            client,
            settings: Arc::new(settings),
            keys,
            hub,
            live: Mutex::new(HashSet::new()),
            slots: Arc::new(Semaphore::new(slots)),
            missing,
            stop: CancellationToken::new(),
        });
        KubernetesExecutor {
            shared,
            janitor: Mutex::new(None),
            resumed: TaskTracker::new(),
        }
    }

    /// The handler to register under [`crate::HANDLER_NAME`].
    pub fn handler(&self) -> Arc<dyn JobHandler> {
        Arc::new(self.job_handler())
    }

    /// The handler as its concrete type.
    pub fn job_handler(&self) -> KubernetesJobHandler {
        KubernetesJobHandler {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Permissions found missing at start.
    pub fn missing_permissions(&self) -> &[Missing] {
        &self.shared.missing
    }

    /// Starts the janitor: a sweep now and every `janitor_interval`. Results of adopted objects are reported
    /// through `reporter` (from [`xjob_executor::ExecutorHandle::reporter`]). A second call does nothing.
    pub fn start_janitor(&self, reporter: ResultReporter) {
        let mut janitor = self
            .janitor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if janitor.is_some() {
            return;
        }
        let stop = self.shared.stop.child_token();
        let task = tokio::spawn(crate::janitor::run(
            Arc::clone(&self.shared),
            reporter,
            stop.clone(),
            self.resumed.clone(),
        ));
        *janitor = Some((stop, task));
    }

    /// Runs one janitor sweep now (the periodic janitor does the same).
    pub async fn sweep(&self, reporter: &ResultReporter) {
        crate::janitor::sweep(&self.shared, reporter, &self.resumed).await;
    }

    /// Stops the janitor, the executions it resumed (their objects are left for the next start) and the
    /// shared watches. Call it after the executor's own shutdown, which ends triggered executions.
    pub async fn shutdown(&self) {
        self.shared.stop.cancel();
        let janitor = self
            .janitor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some((_, task)) = janitor {
            let _ = task.await;
        }
        self.resumed.close();
        self.resumed.wait().await;
        self.shared.hub.shutdown().await;
    }
}
