//! Start-up options of the stand-in.

use std::time::Duration;

/// How to start a stand-in. `Options::default()` gives plain HTTP with a bearer token.
#[derive(Debug, Clone)]
pub struct Options {
    /// Serve HTTPS with a freshly generated self-signed CA (the CA is available from the handle).
    pub tls: bool,
    /// The bearer token clients must send; `None` accepts every request without authentication.
    pub token: Option<String>,
    /// Namespace written as the default into generated kubeconfigs.
    pub default_namespace: String,
    /// Name of the single fake node pods are scheduled on.
    pub node_name: String,
    /// Changes kept for watch replay; a watch from an older `resourceVersion` gets `410 Gone`.
    pub watch_history: usize,
    /// How often a watch with `allowWatchBookmarks=true` gets a `BOOKMARK` event.
    pub bookmark_interval: Duration,
    /// First back-off before a failed container is restarted (`OnFailure`/`Always`); doubles per restart.
    pub restart_backoff: Duration,
    /// Upper bound of the restart back-off (the kubelet's is five minutes; tests want seconds).
    pub restart_backoff_max: Duration,
    /// Time between `ErrImagePull` and `ImagePullBackOff` retries of a `fake/pull-error` image.
    pub image_pull_backoff: Duration,
    /// Log bytes kept per container; older lines are dropped first, like kubelet log rotation.
    pub log_bytes_per_container: usize,
    /// Period of the Job controller's time-driven checks (`activeDeadlineSeconds`, `ttlSecondsAfterFinished`);
    /// pod and Job changes are reconciled at once regardless.
    pub controller_tick: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tls: false,
            token: Some("standin-token".to_owned()),
            default_namespace: "default".to_owned(),
            node_name: "standin-node".to_owned(),
            watch_history: 1000,
            bookmark_interval: Duration::from_secs(5),
            restart_backoff: Duration::from_millis(500),
            restart_backoff_max: Duration::from_secs(5),
            image_pull_backoff: Duration::from_millis(500),
            log_bytes_per_container: 32 * 1024 * 1024,
            controller_tick: Duration::from_millis(100),
        }
    }
}

impl Options {
    /// Default options with TLS turned on.
    pub fn tls() -> Self {
        Self {
            tls: true,
            ..Self::default()
        }
    }
}
