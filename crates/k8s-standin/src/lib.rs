//! A Kubernetes API server stand-in for tests, with a fake kubelet and a minimal Job controller.
//!
//! [`StandIn::start`] serves core `pods` (with `pods/log`), `events`, `batch/v1` `jobs`, `events.k8s.io/v1`
//! `events` and `SelfSubjectAccessReview`s over HTTP/1.1 (optionally TLS) on `127.0.0.1:<ephemeral>`, with the
//! real server's error bodies, selectors, resource versions, watches and graceful deletion. Every scheduled
//! pod's containers run as real local processes built from `command` + `args` (there are no images), so a test
//! drives the real `kube` client and `kubectl` against it and observes real signals, exit codes and output.
//! The handle also records requests and injects faults (failed or delayed requests, cut or held log streams,
//! closed or expired watches, fake images, unschedulable pods, eviction, access-review answers).
//!
//! # Writing manifests for the stand-in
//!
//! - Every container needs `command` (plus optional `args`): it runs on the host as
//!   `command[0] command[1..] args..` in its own process group, with a clean environment (`PATH`, `HOME` set to
//!   a per-container scratch directory, `HOSTNAME` = pod name, the container's `env`) and the scratch directory
//!   as working directory unless `workingDir` names an existing directory. The image is ignored except for
//!   `fake/pull-error`, `fake/invalid` and `fake/config-error`, which never start (see [`StandIn`]).
//! - `$(NAME)` in `command`, `args` and `env` values is expanded as the kubelet does, so a shell's `$$` must be
//!   written `$$$$`. `valueFrom.fieldRef` resolves (name, namespace, uid, labels, annotations, node name, service
//!   account, pod and host IP); `secretKeyRef`/`configMapKeyRef` resolve to `standin-secret:<name>/<key>` and
//!   `standin-configmap:<name>/<key>`; `resourceFieldRef` to the declared quantity or `0`; `envFrom` is ignored.
//! - The termination message is read from the file named by [`TERMINATION_MESSAGE_ENV`]
//!   (`STANDIN_TERMINATION_MESSAGE_PATH`), a per-container host file; a script that should also run on a real
//!   node writes to `"${STANDIN_TERMINATION_MESSAGE_PATH:-/dev/termination-log}"`.
//! - A node selector the fake node does not satisfy (for example [`UNSCHEDULABLE_LABEL`]) leaves the pod
//!   `Pending` with `PodScheduled=False`, reason `Unschedulable`, and a `FailedScheduling` event.
//! - Output is stored per line with its capture time; lines longer than 16 KiB become several entries, each
//!   with its own timestamp (containerd's default), which `timestamps=true` readers see.
//!
//! What is deliberately absent: persistence, admission webhooks, server-side apply, field validation against
//! schemas, namespaces as objects, and any resource not listed above. This crate is for tests only.
//!
//! Module map: `server` (handle and listener), `api` (HTTP dispatch), `cluster` (object semantics over
//! `store`), `watch`, `logs`, `kubelet` (processes and pod status), `jobs` (Job controller), `faults`,
//! `selector`, `validation`, `defaults`, `discovery`, `tls`.

mod api;
mod cluster;
mod defaults;
mod discovery;
mod expand;
mod faults;
mod jobs;
mod kubelet;
mod logs;
mod options;
mod resource;
mod selector;
mod server;
mod status;
mod store;
mod time;
mod tls;
mod validation;
mod watch;

use std::path::PathBuf;

pub use faults::{AccessRule, Failure, RecordedRequest, RequestMatch};
pub use kubelet::{TERMINATION_MESSAGE_ENV, UNSCHEDULABLE_LABEL};
pub use options::Options;
pub use resource::{Resource, Verb};
pub use server::{StandIn, install_crypto_provider};

/// Errors of the stand-in's handle.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The loopback listener could not be bound.
    #[error("binding the stand-in listener: {0}")]
    Bind(#[source] std::io::Error),
    /// The scratch directory for pods could not be created.
    #[error("creating the stand-in's scratch directory: {0}")]
    Workdir(#[source] std::io::Error),
    /// Generating the CA or server certificate failed.
    #[error("generating TLS material: {0}")]
    Tls(String),
    /// The kubeconfig file could not be written.
    #[error("writing kubeconfig {path}: {source}")]
    WriteKubeconfig {
        /// Where it was to be written.
        path: PathBuf,
        /// The file-system error.
        #[source]
        source: std::io::Error,
    },
    /// The generated kubeconfig could not be turned into a client configuration.
    #[error("building the client configuration: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// The client could not be built.
    #[error("building the client: {0}")]
    Client(#[from] kube::Error),
    /// A handle operation on an object failed the way the API would (for example, pod not found).
    #[error("{code}: {message}")]
    Api {
        /// HTTP status code.
        code: u16,
        /// The API's message.
        message: String,
    },
}
