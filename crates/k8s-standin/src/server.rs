//! The stand-in's handle and its listener: binding `127.0.0.1:0`, optional TLS, one HTTP/1.1 connection task
//! per client, the background controllers, client configuration (kubeconfig text and `kube::Config`), the
//! test-facing inspection and fault API, and an ordered shutdown that leaves no process behind.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::cluster::Cluster;
use crate::faults::{AccessRule, Failure, RecordedRequest, RequestMatch};
use crate::options::Options;
use crate::resource::Resource;
use crate::store::Key;
use crate::{Error, api, jobs, tls};

/// The name used for cluster, user and context in generated kubeconfigs.
const CONTEXT: &str = "xjob-standin";

/// How long shutdown waits for connections and background tasks before giving up on them.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// A running stand-in API server. Dropping it stops the server and kills every process its kubelet started;
/// [`StandIn::shutdown`] does the same and also waits for the background tasks to end.
///
/// Faults that live in manifests rather than in this API: image `fake/pull-error` (any tag) alternates
/// `ErrImagePull` and `ImagePullBackOff` and never starts; `fake/invalid` waits with `InvalidImageName`;
/// `fake/config-error` waits with `CreateContainerConfigError`, as does a container without `command`; a node
/// selector naming [`crate::UNSCHEDULABLE_LABEL`] (or anything the single node lacks) leaves the pod unscheduled.
/// External deletion is an ordinary delete through any client.
pub struct StandIn {
    cluster: Cluster,
    addr: SocketAddr,
    ca_pem: Option<String>,
    server: Option<JoinHandle<()>>,
    // Holds the pods' scratch files; dropped after the processes are killed.
    _workdir: tempfile::TempDir,
}

impl StandIn {
    /// Starts a stand-in on an ephemeral loopback port. Must be called inside a Tokio runtime.
    pub async fn start(options: Options) -> Result<StandIn, Error> {
        let workdir = tempfile::Builder::new()
            .prefix("xjob-standin-")
            .tempdir()
            .map_err(Error::Workdir)?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(Error::Bind)?;
        let addr = listener.local_addr().map_err(Error::Bind)?;
        let certificates = if options.tls { Some(tls::generate()?) } else { None };
        let cluster = Cluster::new(options, workdir.path().to_path_buf());
        let acceptor = certificates
            .as_ref()
            .map(|c| TlsAcceptor::from(c.server_config.clone()));
        let server = tokio::spawn(serve(listener, acceptor, cluster.clone()));
        cluster.spawn(jobs::run(cluster.clone()));
        tracing::debug!(%addr, tls = certificates.is_some(), "kubernetes stand-in listening");
        Ok(StandIn {
            cluster,
            addr,
            ca_pem: certificates.map(|c| c.ca_pem),
            server: Some(server),
            _workdir: workdir,
        })
    }

    /// The listening address (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` or `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The bearer token clients must present, if any.
    pub fn token(&self) -> Option<&str> {
        self.cluster.options().token.as_deref()
    }

    /// The generated CA certificate (PEM) in TLS mode.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// A kubeconfig for this server (JSON, which every kubeconfig reader accepts as YAML): one cluster with the
    /// CA inlined, one user with the token, one current context with the default namespace.
    pub fn kubeconfig(&self) -> String {
        self.kubeconfig_with_token(self.token())
    }

    /// Like [`StandIn::kubeconfig`] but presenting `token` (for testing authentication failures).
    pub fn kubeconfig_with_token(&self, token: Option<&str>) -> String {
        let mut cluster = json!({"server": self.url()});
        if let Some(ca) = &self.ca_pem {
            cluster["certificate-authority-data"] =
                json!(base64::engine::general_purpose::STANDARD.encode(ca));
        }
        let user = match token {
            Some(token) => json!({"token": token}),
            None => json!({}),
        };
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": CONTEXT, "cluster": cluster}],
            "users": [{"name": CONTEXT, "user": user}],
            "contexts": [{"name": CONTEXT, "context": {
                "cluster": CONTEXT, "user": CONTEXT, "namespace": self.cluster.options().default_namespace}}],
            "current-context": CONTEXT,
        });
        serde_json::to_string_pretty(&config).expect("JSON values always serialize")
    }

    /// Writes [`StandIn::kubeconfig`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), Error> {
        std::fs::write(path, self.kubeconfig()).map_err(|source| Error::WriteKubeconfig {
            path: path.to_path_buf(),
            source,
        })
    }

    /// A `kube::Config` for this server, built from the same kubeconfig. Installs the `ring` crypto provider
    /// for the process if none is installed yet.
    pub async fn kube_config(&self) -> Result<kube::Config, Error> {
        config_from_kubeconfig(&self.kubeconfig()).await
    }

    /// A `kube::Config` presenting a different token.
    pub async fn kube_config_with_token(&self, token: Option<&str>) -> Result<kube::Config, Error> {
        config_from_kubeconfig(&self.kubeconfig_with_token(token)).await
    }

    /// A ready `kube::Client` for this server.
    pub async fn client(&self) -> Result<kube::Client, Error> {
        Ok(kube::Client::try_from(self.kube_config().await?)?)
    }

    /// Every request received so far (most recent last; the oldest are dropped beyond 20 000).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.cluster.faults().requests()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.cluster.faults().clear_requests();
    }

    /// The stored object, exactly as a `get` would return it.
    pub fn object(&self, resource: Resource, namespace: &str, name: &str) -> Option<Value> {
        self.cluster
            .store()
            .get(&Key::new(resource, namespace, name))
            .cloned()
    }

    /// All stored objects of a resource, ordered by namespace and name.
    pub fn objects(&self, resource: Resource) -> Vec<Value> {
        self.cluster
            .store()
            .list(resource, None)
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// The current (latest) `resourceVersion`.
    pub fn resource_version(&self) -> u64 {
        self.cluster.store().resource_version()
    }

    /// How many container processes (process groups) are alive.
    pub fn running_processes(&self) -> usize {
        self.cluster.kubelet().process_count()
    }

    /// Answers the next `count` requests matching `matcher` with `failure` instead of handling them.
    pub fn fail_next(&self, matcher: RequestMatch, count: usize, failure: Failure) {
        self.cluster.faults().fail_next(matcher, count, failure);
    }

    /// Delays matching requests by `delay` before handling them; `count` limits how many (`None`: all).
    pub fn delay(&self, matcher: RequestMatch, delay: Duration, count: Option<usize>) {
        self.cluster.faults().delay(matcher, delay, count);
    }

    /// Removes pending request failures, delays, log cuts and log holds.
    pub fn clear_faults(&self) {
        self.cluster.faults().clear();
    }

    /// Ends the next log stream opened for this pod (and container, if given) after `after_lines` lines, while
    /// the container may still be writing. Applies once.
    pub fn cut_log_stream(&self, namespace: &str, pod: &str, container: Option<&str>, after_lines: usize) {
        self.cluster
            .faults()
            .cut_log(namespace, pod, container, after_lines);
    }

    /// Keeps follow streams of this pod (and container, if given) open after the container ended, until
    /// [`StandIn::release_log_streams`]. Applies to streams opened after the call.
    pub fn hold_log_streams(&self, namespace: &str, pod: &str, container: Option<&str>) {
        self.cluster.faults().hold_logs(namespace, pod, container);
    }

    /// Ends held-open log streams and stops holding new ones.
    pub fn release_log_streams(&self) {
        self.cluster.release_logs();
    }

    /// Ends every open watch cleanly (clients re-watch from their last `resourceVersion`).
    pub fn close_watches(&self) {
        self.cluster.signal_watches(false);
    }

    /// Ends every open watch with a `410 Expired` ERROR event and forgets the watch history, so that a
    /// re-watch from an old `resourceVersion` also gets `410` and the client must re-list.
    pub fn expire_watches(&self) {
        self.cluster.signal_watches(true);
    }

    /// While `true`, new connections are closed at once and requests on open ones are dropped without an
    /// answer; open watch and log streams end.
    pub fn set_unreachable(&self, unreachable: bool) {
        self.cluster.set_unreachable(unreachable);
    }

    /// Evicts a pod the way node pressure does: phase `Failed`, reason `Evicted`, `message`, an `Evicted`
    /// event, containers killed; the object stays.
    pub fn evict_pod(&self, namespace: &str, name: &str, message: &str) -> Result<(), Error> {
        self.cluster
            .kubelet()
            .evict(&self.cluster, namespace, name, message)
            .map_err(|error| Error::Api {
                code: error.code,
                message: error.message,
            })
    }

    /// Adds an access rule: later rules win over earlier ones, and everything is allowed by default. Rules
    /// answer `SelfSubjectAccessReview`s and also apply to real requests (403 `Forbidden`).
    pub fn set_access(&self, rule: AccessRule, allowed: bool) {
        self.cluster.faults().set_access(rule, allowed);
    }

    /// Drops all access rules (everything allowed again).
    pub fn reset_access(&self) {
        self.cluster.faults().reset_access();
    }

    /// Stops accepting, ends all streams, kills every container process and waits (bounded) for the
    /// background tasks.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(server) = self.server.take()
            && tokio::time::timeout(SHUTDOWN_WAIT, server).await.is_err()
        {
            tracing::warn!("stand-in listener did not stop in time");
        }
        let tasks = self.cluster.tasks();
        tasks.close();
        if tokio::time::timeout(SHUTDOWN_WAIT, tasks.wait()).await.is_err() {
            tracing::warn!("stand-in background tasks did not stop in time");
        }
        self.cluster.kubelet().kill_all();
    }

    fn stop_now(&self) {
        self.cluster.shutdown_token().cancel();
        self.cluster.kubelet().kill_all();
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop_now();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Installs rustls' `ring` provider as the process default, unless a provider is installed already. The
/// Kubernetes client builds its TLS configuration from the process default.
pub fn install_crypto_provider() {
    // An error means some provider is already installed, which is all that is needed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

async fn config_from_kubeconfig(text: &str) -> Result<kube::Config, Error> {
    install_crypto_provider();
    let kubeconfig = kube::config::Kubeconfig::from_yaml(text)?;
    Ok(kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default()).await?)
}

async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, cluster: Cluster) {
    let shutdown = cluster.shutdown_token().clone();
    let connections = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if cluster.unreachable() {
            drop(stream);
            continue;
        }
        let cluster = cluster.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            match tls {
                None => serve_connection(stream, cluster).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => serve_connection(stream, cluster).await,
                    Err(error) => tracing::debug!(%error, "TLS handshake failed"),
                },
            }
        });
    }
    connections.close();
    if tokio::time::timeout(SHUTDOWN_WAIT, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("stand-in connections did not close in time");
    }
}

async fn serve_connection<I>(io: I, cluster: Cluster)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shutdown = cluster.shutdown_token().clone();
    let service = hyper::service::service_fn(move |request| api::handle(cluster.clone(), request));
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
        }
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            // Streams end on the same signal, so this finishes quickly; the bound covers stuck clients.
            let _ = tokio::time::timeout(Duration::from_secs(2), connection).await;
        }
    }
}
