//! A loopback admin that records what executors send to `/api/*` and answers every call with success, in
//! the G2 dialect the tests fix the executors to.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use xjob_protocol::{CallbackBody, CallbackItem, LogId};

/// What the admin received.
#[derive(Default)]
struct Received {
    /// `(endpoint, registryKey, registryValue)` in arrival order.
    registry: Vec<(String, String, String)>,
    callbacks: Vec<CallbackItem>,
}

/// A running recording admin.
#[derive(Clone)]
pub(crate) struct RecordingAdmin {
    addr: SocketAddr,
    received: Arc<Mutex<Received>>,
}

impl RecordingAdmin {
    pub(crate) async fn start() -> RecordingAdmin {
        let received = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/xxl-job-admin/api/{endpoint}", axum::routing::post(record))
            .with_state(Arc::clone(&received));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        RecordingAdmin { addr, received }
    }

    /// The admin's base URL, context path included.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/xxl-job-admin", self.addr)
    }

    /// The result reported for `log_id`, if any.
    pub(crate) fn callback(&self, log_id: i64) -> Option<CallbackItem> {
        let received = self.received.lock().unwrap();
        received
            .callbacks
            .iter()
            .find(|item| item.log_id == LogId(log_id))
            .cloned()
    }

    /// `(endpoint, AppName, address)` of every registry call so far, in order.
    pub(crate) fn registry_calls(&self) -> Vec<(String, String, String)> {
        self.received.lock().unwrap().registry.clone()
    }
}

async fn record(
    State(received): State<Arc<Mutex<Received>>>,
    Path(endpoint): Path<String>,
    body: Bytes,
) -> String {
    let mut received = received.lock().unwrap();
    if endpoint == "callback" {
        let batch: CallbackBody = serde_json::from_slice(&body).unwrap();
        received.callbacks.extend(batch.items);
    } else {
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let field = |name: &str| json[name].as_str().unwrap_or_default().to_owned();
        received
            .registry
            .push((endpoint, field("registryKey"), field("registryValue")));
    }
    r#"{"code":200,"msg":null}"#.to_owned()
}
