//! Helpers shared by the integration tests of every crate: a bounded [`wait_until`] loop, and
//! [`StandinAdmin`], a scheduling-center stand-in on `127.0.0.1:0` that speaks one protocol generation.
//!
//! The stand-in serves the executor-facing `/api/registry`, `/api/registryRemove` and `/api/callback` with
//! that generation's envelope, shape and auth rules, records everything it accepts, can be told to fail, can
//! be stopped and restarted on the same port, and calls executors (`/beat`, `/idleBeat`, `/run` or
//! `/trigger`, `/kill`, `/log`) with that generation's paths, headers and bodies. It is not an admin: no
//! database, no scheduling.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use xjob_protocol::Generation;
//! use xjob_test_support::{StandinAdmin, wait_until};
//!
//! let admin = StandinAdmin::start(Generation::G3, Some("t0ken"), "demo-app").await;
//! // ... start an executor with admin.base_url(), token "t0ken", app name "demo-app" ...
//! assert!(wait_until(Duration::from_secs(5), || async { !admin.registrations().is_empty() }).await);
//! # }
//! ```
//!
//! [`db`] gives storage tests a fresh, migrated-ready database on every engine that is configured.
//! [`pyxxl`] runs Python's third-party executor pyxxl as a child process when its interpreter is configured.
//!
//! Test-only: panics on setup failures, which in a test is the clearest report.

pub mod db;
pub mod pyxxl;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::post;
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use xjob_protocol::address::executor_url;
use xjob_protocol::{
    ACCESS_TOKEN_HEADER, APP_NAME_HEADER, AccessRule, CallbackBody, CallbackItem, CallbackShape, Credentials,
    Dialect, Envelope, ExecutorEndpoint, Generation, JobId, JobIdRequest, LogRequest, LogResult,
    REQUEST_CONTENT_TYPE, RegistryRequest, Side, TriggerRequest, authorize, beat_request_body, message,
};

/// A `/run` body with upstream's field names for a BEAN trigger of `job_id`; the keys of `fields` (a JSON
/// object) override the defaults, e.g. `json!({"executorHandler": "demo", "executorParams": "x"})`.
pub fn trigger_body(job_id: i32, log_id: i64, fields: serde_json::Value) -> serde_json::Value {
    let mut body = serde_json::json!({
        "jobId": job_id,
        "executorHandler": "",
        "executorParams": "",
        "executorBlockStrategy": "SERIAL_EXECUTION",
        "executorTimeout": 0,
        "logId": log_id,
        "logDateTime": now_ms(),
        "glueType": "BEAN",
        "glueSource": "",
        "glueUpdatetime": 1,
        "broadcastIndex": 0,
        "broadcastTotal": 1
    });
    if let Some(overrides) = fields.as_object() {
        for (key, value) in overrides {
            body[key] = value.clone();
        }
    }
    body
}

/// A log id not handed out before in this test process.
pub fn next_log_id() -> i64 {
    static NEXT: AtomicI64 = AtomicI64::new(1000);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since_epoch.as_millis()).expect("milliseconds since 1970 fit in i64")
}

/// Sends `body` as JSON (when given) with `bearer` as the `Authorization: Bearer` token (when given) and
/// returns the status and the answer: its JSON, `Null` when it is empty, otherwise its text as a JSON string.
pub async fn json_call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = http.request(method, url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("the answer is read");
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, body)
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held. Callers assert
/// on the result with a message naming what they waited for.
pub async fn wait_until<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A scheduling-center stand-in for one protocol generation; see the crate docs.
pub struct StandinAdmin {
    generation: Generation,
    addr: SocketAddr,
    state: Arc<AdminState>,
    server: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    http: reqwest::Client,
    app_name: String,
}

/// An executor's reply as received: HTTP status, content type, raw body and the decoded envelope.
#[derive(Clone, Debug)]
pub struct ExecutorReply {
    /// HTTP status (executors always answer 200).
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The raw body.
    pub body: String,
    /// The body as JSON.
    pub json: serde_json::Value,
}

#[derive(Default)]
struct AdminState {
    generation: Option<Generation>,
    token: Option<String>,
    registrations: Mutex<Vec<RegistryRequest>>,
    removals: Mutex<Vec<RegistryRequest>>,
    callbacks: Mutex<Vec<CallbackItem>>,
    callback_requests: Mutex<usize>,
    failing: AtomicBool,
}

impl StandinAdmin {
    /// Starts a stand-in on `127.0.0.1:0`. `token` is the admin's token (G1/G2: global, `None` disables the
    /// check; G3: the executor group's token, required). `app_name` is the group's AppName, sent to
    /// executors in G3 and required from them.
    pub async fn start(generation: Generation, token: Option<&str>, app_name: &str) -> Self {
        let state = Arc::new(AdminState {
            generation: Some(generation),
            token: token.map(str::to_owned),
            ..AdminState::default()
        });
        // reqwest is built without a default crypto provider; install the workspace's (harmless if present).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)));
        let addr = listener.local_addr().expect("bound listener has an address");
        let mut admin = StandinAdmin {
            generation,
            addr,
            state,
            server: None,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("plain HTTP client builds"),
            app_name: app_name.to_owned(),
        };
        admin.serve(listener);
        admin
    }

    /// The generation this stand-in speaks.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// The admin base URL to configure in executors: with upstream's `/xxl-job-admin` context path in G1 and
    /// G2, without in G3.
    pub fn base_url(&self) -> String {
        match self.generation {
            Generation::G1 | Generation::G2 => format!("http://{}/xxl-job-admin", self.addr),
            Generation::G3 => format!("http://{}", self.addr),
        }
    }

    /// Registrations accepted so far, oldest first.
    pub fn registrations(&self) -> Vec<RegistryRequest> {
        lock(&self.state.registrations).clone()
    }

    /// Deregistrations accepted so far.
    pub fn removals(&self) -> Vec<RegistryRequest> {
        lock(&self.state.removals).clone()
    }

    /// Callback items accepted so far, in arrival order.
    pub fn callbacks(&self) -> Vec<CallbackItem> {
        lock(&self.state.callbacks).clone()
    }

    /// The callback item for `log_id`, if one arrived (the first, as an admin keeps only that).
    pub fn callback_for(&self, log_id: i64) -> Option<CallbackItem> {
        lock(&self.state.callbacks)
            .iter()
            .find(|item| item.log_id.0 == log_id)
            .cloned()
    }

    /// How many callback requests were accepted, empty ones (generation probes) included.
    pub fn callback_requests(&self) -> usize {
        *lock(&self.state.callback_requests)
    }

    /// While `true`, every `/api/*` request is answered with a failure envelope and nothing is recorded.
    pub fn set_failing(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    /// Stops serving; connections are closed. Recorded data is kept.
    pub async fn stop(&mut self) {
        if let Some((stop, task)) = self.server.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }

    /// Serves again on the same port.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = bind(self.addr);
        self.serve(listener);
    }

    /// Calls an executor endpoint the way this generation's admin does. `body` is the request for
    /// `idleBeat`/`kill` (a [`JobIdRequest`]) or `log` (a [`LogRequest`]); use [`trigger`](Self::trigger) for
    /// `/run`.
    pub async fn beat(&self, executor: &str) -> ExecutorReply {
        let body = beat_request_body(Dialect::from(self.generation))
            .as_bytes()
            .to_vec();
        self.send(executor, ExecutorEndpoint::Beat, body).await
    }

    /// `/idleBeat` for `job_id`.
    pub async fn idle_beat(&self, executor: &str, job_id: i32) -> ExecutorReply {
        let body = json_bytes(&JobIdRequest {
            job_id: JobId(job_id),
        });
        self.send(executor, ExecutorEndpoint::IdleBeat, body).await
    }

    /// `/run` (G1/G2) or `/trigger` (G3).
    pub async fn trigger(&self, executor: &str, request: &TriggerRequest) -> ExecutorReply {
        self.send(executor, ExecutorEndpoint::Trigger, json_bytes(request))
            .await
    }

    /// `/kill` for `job_id`.
    pub async fn kill(&self, executor: &str, job_id: i32) -> ExecutorReply {
        let body = json_bytes(&JobIdRequest {
            job_id: JobId(job_id),
        });
        self.send(executor, ExecutorEndpoint::Kill, body).await
    }

    /// `/log` with this generation's spelling of the date field.
    pub async fn log(&self, executor: &str, request: LogRequest) -> ExecutorReply {
        let body = json_bytes(&request.encode(Dialect::from(self.generation)));
        self.send(executor, ExecutorEndpoint::Log, body).await
    }

    /// `/log`, decoded.
    pub async fn log_page(&self, executor: &str, request: LogRequest) -> LogResult {
        let reply = self.log(executor, request).await;
        let envelope: Envelope<LogResult> =
            serde_json::from_value(reply.json).expect("a /log reply is an envelope with a log result");
        envelope.data.expect("a /log reply carries a log result")
    }

    /// Posts raw bytes to `endpoint` with this generation's headers (for malformed-body tests).
    pub async fn send(&self, executor: &str, endpoint: ExecutorEndpoint, body: Vec<u8>) -> ExecutorReply {
        let url = executor_url(executor, endpoint, self.generation);
        self.send_to_url(&url, body).await
    }

    /// Posts raw bytes to any URL with this generation's headers.
    pub async fn send_to_url(&self, url: &str, body: Vec<u8>) -> ExecutorReply {
        let accept_charset = match self.generation {
            Generation::G1 => REQUEST_CONTENT_TYPE,
            Generation::G2 | Generation::G3 => "UTF-8",
        };
        let mut request = self
            .http
            .post(url)
            .header("Content-Type", REQUEST_CONTENT_TYPE)
            .header("Accept-Charset", accept_charset)
            .body(body);
        if let Some(token) = self.state.token.as_deref().filter(|token| !token.is_empty()) {
            request = request.header(ACCESS_TOKEN_HEADER, token);
        }
        if self.generation == Generation::G3 {
            request = request.header(APP_NAME_HEADER, &self.app_name);
        }
        let response = request.send().await.expect("executor answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.text().await.expect("executor reply body");
        let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
        ExecutorReply {
            status,
            content_type,
            body,
            json,
        }
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let router = Router::new()
            .route("/api/{name}", post(api))
            .route("/xxl-job-admin/api/{name}", post(api))
            .with_state(Arc::clone(&self.state));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await;
        });
        self.server = Some((stop, task));
    }
}

impl ExecutorReply {
    /// The envelope's `code`.
    pub fn code(&self) -> i64 {
        self.json["code"].as_i64().unwrap_or(-1)
    }

    /// The envelope's `msg`, `None` when null or absent.
    pub fn msg(&self) -> Option<&str> {
        self.json["msg"].as_str()
    }
}

impl Drop for StandinAdmin {
    fn drop(&mut self) {
        if let Some((stop, task)) = self.server.take() {
            let _ = stop.send(());
            task.abort();
        }
    }
}

/// `/api/<name>` with the generation's checks: body required (G2/G3), credentials, then dispatch.
async fn api(
    State(state): State<Arc<AdminState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let generation = state.generation.unwrap_or(Generation::G3);
    let answer = |envelope: Envelope<()>| {
        let json = serde_json::to_string(&envelope.encode(Side::Admin, Dialect::from(generation)))
            .expect("envelopes encode");
        ([("content-type", "application/json")], json).into_response()
    };
    if generation != Generation::G1 && body.is_empty() {
        return answer(Envelope::failure(message::REQUEST_BODY_EMPTY));
    }
    let presented = Credentials {
        access_token: headers
            .get(ACCESS_TOKEN_HEADER)
            .and_then(|value| value.to_str().ok()),
        app_name: headers.get(APP_NAME_HEADER).and_then(|value| value.to_str().ok()),
    };
    let checked = match generation {
        // The stand-in knows one group: any non-blank AppName, with the configured token.
        Generation::G3 => presented.require().and_then(|(_, app_name)| {
            authorize(
                AccessRule::GroupCredentials {
                    access_token: state.token.as_deref().unwrap_or_default(),
                    app_name,
                },
                presented,
            )
        }),
        Generation::G1 | Generation::G2 => {
            authorize(AccessRule::GlobalToken(state.token.as_deref()), presented)
        }
    };
    if let Err(failure) = checked {
        return answer(Envelope::from(failure));
    }
    if state.failing.load(Ordering::SeqCst) {
        return answer(Envelope::failure("stand-in admin told to fail"));
    }
    match name.as_str() {
        "registry" | "registryRemove" => {
            let Ok(request) = serde_json::from_slice::<RegistryRequest>(&body) else {
                return answer(Envelope::failure(message::openapi_invoke_error(
                    "bad registry body",
                )));
            };
            if !request.is_complete() {
                return answer(Envelope::failure(message::ILLEGAL_ARGUMENT));
            }
            let list = if name == "registry" {
                &state.registrations
            } else {
                &state.removals
            };
            lock(list).push(request);
            answer(Envelope::success())
        }
        "callback" => {
            let Ok(callback) = serde_json::from_slice::<CallbackBody>(&body) else {
                return answer(Envelope::failure(message::openapi_invoke_error(
                    "bad callback body",
                )));
            };
            if callback.shape != CallbackShape::of(generation) {
                // Upstream's Gson cannot read the other generation's shape.
                return answer(Envelope::failure(message::openapi_invoke_error(
                    "callback body of another generation",
                )));
            }
            *lock(&state.callback_requests) += 1;
            lock(&state.callbacks).extend(callback.items);
            answer(Envelope::success())
        }
        other => answer(Envelope::failure(message::uri_mapping_not_found(other))),
    }
}

fn bind(addr: SocketAddr) -> tokio::net::TcpListener {
    let socket = tokio::net::TcpSocket::new_v4().expect("IPv4 socket");
    // Restarting on the same port must not wait for the previous run's connections to time out.
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(addr).expect("stand-in admin port is free");
    socket.listen(128).expect("listen")
}

fn json_bytes(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("request bodies encode")
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
