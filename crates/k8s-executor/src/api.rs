//! Reaching the Kubernetes API: building the client for the configured access mode, and bounding every call
//! by `api_timeout` (the client's own retries of 429/503/504 included), with errors worded the way the
//! execution log and the result message show them.
//!
//! What is called, and when, is the lifecycle's and the janitor's business.

use std::future::Future;
use std::time::Duration;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::config::{ApiMode, KubernetesConfig};

/// Why the Kubernetes client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The in-cluster service-account configuration is unusable.
    #[error("kubernetes in-cluster configuration: {0}")]
    InCluster(String),
    /// The kubeconfig file could not be read or used.
    #[error("kubernetes kubeconfig: {0}")]
    Kubeconfig(String),
    /// The client could not be built from a valid configuration.
    #[error("kubernetes client: {0}")]
    Client(String),
}

/// A failed API call, as shown in result messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The server answered with an error `Status`.
    #[error("{code} {reason}: {message}")]
    Status {
        /// HTTP status code.
        code: u16,
        /// The `Status` reason (`AlreadyExists`, `Forbidden`, …).
        reason: String,
        /// The `Status` message.
        message: String,
    },
    /// No answer within `api_timeout` (including the client's own retries).
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Transport or decoding failure.
    #[error("{0}")]
    Other(String),
}

impl ApiError {
    /// The HTTP status code, when the server answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            ApiError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Installs the process-wide rustls crypto provider (ring) unless one is installed already. The client stack
/// refuses to pick one itself, so every process using it calls this at start.
pub fn install_crypto_provider() {
    // An error only says a provider is installed already, which is what is wanted.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the client for the configured access mode. `in_cluster` says whether the process runs in a pod
/// (`KUBERNETES_SERVICE_HOST` set); mode `auto` tries in-cluster first then, and the kubeconfig otherwise —
/// the reverse of the client library's own inference, which is why it is decided here.
pub async fn connect(config: &KubernetesConfig, in_cluster: bool) -> Result<Client, ConnectError> {
    install_crypto_provider();
    let use_in_cluster = match config.mode {
        ApiMode::InCluster => true,
        ApiMode::Kubeconfig => false,
        ApiMode::Auto => in_cluster,
    };
    let client_config = if use_in_cluster {
        kube::Config::incluster().map_err(|cause| ConnectError::InCluster(cause.to_string()))?
    } else {
        let options = KubeConfigOptions {
            context: config.context.clone(),
            ..KubeConfigOptions::default()
        };
        let kubeconfig = match &config.kubeconfig {
            Some(path) => Kubeconfig::read_from(path)
                .map_err(|cause| ConnectError::Kubeconfig(format!("{}: {cause}", path.display())))?,
            None => Kubeconfig::read().map_err(|cause| ConnectError::Kubeconfig(cause.to_string()))?,
        };
        kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|cause| ConnectError::Kubeconfig(cause.to_string()))?
    };
    Client::try_from(client_config).map_err(|cause| ConnectError::Client(cause.to_string()))
}

/// Runs one API call bounded by `limit`.
pub(crate) async fn bounded<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(from_kube(error)),
        Err(_) => Err(ApiError::Timeout(limit)),
    }
}

/// The error of a call as this crate words it.
pub(crate) fn from_kube(error: kube::Error) -> ApiError {
    match error {
        kube::Error::Api(status) => ApiError::Status {
            code: status.code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        },
        other => ApiError::Other(other.to_string()),
    }
}
