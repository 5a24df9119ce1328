//! The admin's HTTP client to executors: `/run` or `/trigger`, `/beat`, `/idleBeat`, `/kill` and `/log`,
//! encoded in the executor's protocol generation, with its access headers, over a pooled keep-alive
//! connection, with upstream's connect and read timeouts.
//!
//! Replies are decoded leniently (any envelope shape of any generation), and every way a call can fail is
//! a distinct [`ClientError`] variant, so FAILOVER and the trigger message can tell a dead executor from a
//! slow or confused one. Which address to call, and what the reply means for the log row, is decided
//! elsewhere.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::{ACCEPT_CHARSET, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Serialize;
use xjob_protocol::address::executor_url;
use xjob_protocol::{
    ACCESS_TOKEN_HEADER, APP_NAME_HEADER, Dialect, Envelope, ExecutorEndpoint, Generation, JobId,
    JobIdRequest, LogRequest, LogResult, REQUEST_CONTENT_TYPE, TriggerRequest, beat_request_body,
};

use crate::route::Probe;

/// A shared client to every executor; clone it freely, clones share the connection pool.
#[derive(Clone, Debug)]
pub struct ExecutorClient {
    http: reqwest::Client,
    timeout: Duration,
    urls: Arc<Mutex<HashMap<String, reqwest::Url>>>,
}

/// Parsed URLs kept at most; the cache starts over when full (manual address lists can name anything).
const URL_CACHE_LIMIT: usize = 10_000;

/// Client settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// Both the connect timeout and the timeout for each read of the reply, as upstream uses one value for
    /// both (`xxl.job.timeout`, default 3 s).
    pub timeout: Duration,
    /// How long an idle pooled connection is kept. Executors close idle connections after 90 s, so keeping
    /// them longer only produces failed reuses.
    pub pool_idle_timeout: Duration,
    /// Accept any TLS certificate and host name on `https://` executor addresses, as every upstream admin
    /// does. Off by default: turn it on only for executors with self-signed certificates.
    pub accept_invalid_certs: bool,
}

/// The executor a call goes to, with the credentials of its group.
#[derive(Clone, Copy, Debug)]
pub struct ExecutorTarget<'a> {
    /// The registered or manual address, e.g. `http://10.0.0.5:9999/`.
    pub address: &'a str,
    /// The executor's protocol generation: decides the trigger path, the `/log` spelling and the headers.
    pub generation: Generation,
    /// The access token (the global one up to G2, the group's in G3).
    pub access_token: Option<&'a str>,
    /// The group's AppName, sent as `XXL-JOB-APPNAME` in G3.
    pub app_name: Option<&'a str>,
}

/// Why a call to an executor failed. The executor's own refusals (code 500 in a well-formed reply) are not
/// errors: they come back as the envelope.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP client could not be built (TLS set-up).
    #[error("building the executor client: {0}")]
    Build(#[source] reqwest::Error),
    /// The address does not make a usable URL.
    #[error("invalid executor address `{url}`")]
    InvalidAddress {
        /// The URL built from the address.
        url: String,
    },
    /// No connection could be made: nothing listens there, the host is unknown or unreachable.
    #[error("cannot connect to executor {url}: {source}")]
    Refused {
        /// The URL called.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// Connecting or waiting for the reply took longer than the configured timeout.
    #[error("executor {url} did not answer within {timeout:?}")]
    Timeout {
        /// The URL called.
        url: String,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The executor answered with an HTTP status other than 200.
    #[error("executor {url} answered HTTP status {status}")]
    Status {
        /// The URL called.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The reply is not an envelope this admin understands.
    #[error("executor {url} sent a reply that is not an envelope: {detail}")]
    BadReply {
        /// The URL called.
        url: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The request body could not be encoded.
    #[error("encoding the request to executor {address}: {source}")]
    Encode {
        /// The executor address.
        address: String,
        /// The encoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The connection broke while sending or receiving.
    #[error("calling executor {url}: {source}")]
    Transport {
        /// The URL called.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
}

/// [`Probe`] for FAILOVER and BUSYOVER routing over one group's executors: the client, with the group's
/// generation and credentials.
#[derive(Clone, Debug)]
pub struct GroupProbe {
    /// The client making the calls (clones share one pool).
    pub client: ExecutorClient,
    /// The group's generation.
    pub generation: Generation,
    /// The group's access token.
    pub access_token: Option<String>,
    /// The group's AppName.
    pub app_name: Option<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(3),
            pool_idle_timeout: Duration::from_secs(60),
            accept_invalid_certs: false,
        }
    }
}

impl ExecutorClient {
    /// A client with its own connection pool.
    pub fn new(options: &ClientOptions) -> Result<Self, ClientError> {
        // reqwest is built without a default crypto provider; the workspace standardises on ring. Installing
        // fails harmlessly when the process already chose one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(options.timeout)
            .read_timeout(options.timeout)
            .pool_idle_timeout(options.pool_idle_timeout)
            .tcp_nodelay(true)
            // An executor answering with a redirect would otherwise have the admin post the trigger body
            // and the access token header (which reqwest does not know to strip) to any address it
            // names, reopening the request forgery that registered-address checks close.
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(options.accept_invalid_certs)
            .build()
            .map_err(ClientError::Build)?;
        Ok(ExecutorClient {
            http,
            timeout: options.timeout,
            urls: Arc::default(),
        })
    }

    /// Starts one execution: `/run` (G1, G2) or `/trigger` (G3). Success means "accepted"; the result
    /// arrives later by callback.
    pub async fn trigger(
        &self,
        target: &ExecutorTarget<'_>,
        request: &TriggerRequest,
    ) -> Result<Envelope<String>, ClientError> {
        let body = json_body(target, request)?;
        self.call_text(target, ExecutorEndpoint::Trigger, body).await
    }

    /// Liveness check, `/beat`.
    pub async fn beat(&self, target: &ExecutorTarget<'_>) -> Result<Envelope<String>, ClientError> {
        let body = beat_request_body(Dialect::from(target.generation)).to_owned();
        self.call_text(target, ExecutorEndpoint::Beat, body).await
    }

    /// Whether the job's thread on the executor is idle, `/idleBeat`.
    pub async fn idle_beat(
        &self,
        target: &ExecutorTarget<'_>,
        job_id: JobId,
    ) -> Result<Envelope<String>, ClientError> {
        let body = json_body(target, &JobIdRequest { job_id })?;
        self.call_text(target, ExecutorEndpoint::IdleBeat, body).await
    }

    /// Stops the job's thread, `/kill`.
    pub async fn kill(
        &self,
        target: &ExecutorTarget<'_>,
        job_id: JobId,
    ) -> Result<Envelope<String>, ClientError> {
        let body = json_body(target, &JobIdRequest { job_id })?;
        self.call_text(target, ExecutorEndpoint::Kill, body).await
    }

    /// Reads an execution's log from a line on, `/log`.
    pub async fn log(
        &self,
        target: &ExecutorTarget<'_>,
        request: &LogRequest,
    ) -> Result<Envelope<LogResult>, ClientError> {
        let body = json_body(target, &request.encode(Dialect::from(target.generation)))?;
        let url = executor_url(target.address, ExecutorEndpoint::Log, target.generation);
        let reply = self.post(target, &url, body).await?;
        serde_json::from_slice(&reply).map_err(|error| bad_reply(&url, &error))
    }

    /// Posts and decodes a reply whose payload only matters as text: a string payload is kept, any other
    /// payload is kept as its JSON text, so an unexpected payload never fails a call that succeeded.
    async fn call_text(
        &self,
        target: &ExecutorTarget<'_>,
        endpoint: ExecutorEndpoint,
        body: String,
    ) -> Result<Envelope<String>, ClientError> {
        let url = executor_url(target.address, endpoint, target.generation);
        let reply = self.post(target, &url, body).await?;
        let envelope: Envelope<serde_json::Value> =
            serde_json::from_slice(&reply).map_err(|error| bad_reply(&url, &error))?;
        Ok(Envelope {
            code: envelope.code,
            msg: envelope.msg,
            data: envelope.data.map(|payload| match payload {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            }),
        })
    }

    async fn post(
        &self,
        target: &ExecutorTarget<'_>,
        url: &str,
        body: String,
    ) -> Result<bytes::Bytes, ClientError> {
        let request = match self.parsed(url) {
            Some(parsed) => self.http.post(parsed),
            // Left to the client, which reports why the address is not a URL.
            None => self.http.post(url),
        };
        let response = request
            .headers(headers(target))
            .body(body)
            .send()
            .await
            .map_err(|error| self.classify(url, error))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(ClientError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        response.bytes().await.map_err(|error| self.classify(url, error))
    }

    /// `url` parsed, from the cache when it was seen before: parsing (host and IDNA checks) costs more than
    /// the rest of building a request, and the same few executor URLs are called over and over.
    fn parsed(&self, url: &str) -> Option<reqwest::Url> {
        let mut urls = self.urls.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(parsed) = urls.get(url) {
            return Some(parsed.clone());
        }
        let parsed = reqwest::Url::parse(url).ok()?;
        if urls.len() >= URL_CACHE_LIMIT {
            urls.clear();
        }
        urls.insert(url.to_owned(), parsed.clone());
        Some(parsed)
    }

    fn classify(&self, url: &str, error: reqwest::Error) -> ClientError {
        let url = url.to_owned();
        if error.is_timeout() {
            ClientError::Timeout {
                url,
                timeout: self.timeout,
            }
        } else if error.is_builder() {
            ClientError::InvalidAddress { url }
        } else if error.is_connect() {
            ClientError::Refused { url, source: error }
        } else {
            ClientError::Transport { url, source: error }
        }
    }
}

impl ClientError {
    /// Whether the executor could not be reached at all (refused, unreachable or timed out before any
    /// reply), as opposed to one that answered badly.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ClientError::Refused { .. } | ClientError::Timeout { .. } | ClientError::InvalidAddress { .. }
        )
    }
}

impl Probe for GroupProbe {
    fn beat<'a>(&'a self, address: &'a str) -> impl Future<Output = Envelope<String>> + Send + 'a {
        let target = self.target(address);
        async move { failure_as_envelope(self.client.beat(&target).await) }
    }

    fn idle_beat<'a>(
        &'a self,
        address: &'a str,
        job_id: JobId,
    ) -> impl Future<Output = Envelope<String>> + Send + 'a {
        let target = self.target(address);
        async move { failure_as_envelope(self.client.idle_beat(&target, job_id).await) }
    }
}

impl GroupProbe {
    fn target<'a>(&'a self, address: &'a str) -> ExecutorTarget<'a> {
        ExecutorTarget {
            address,
            generation: self.generation,
            access_token: self.access_token.as_deref(),
            app_name: self.app_name.as_deref(),
        }
    }
}

/// A failed probe is a failure envelope with the error text, as upstream turns the exception into the
/// attempt's message.
fn failure_as_envelope(result: Result<Envelope<String>, ClientError>) -> Envelope<String> {
    result.unwrap_or_else(|error| {
        tracing::debug!(error = %error, "executor probe failed");
        Envelope::failure(error.to_string())
    })
}

/// The request headers of a generation. G1 sends the token only when it is not blank, G2 whenever one is
/// configured, G3 always together with the AppName (an executor rejects a missing one with a clear
/// message).
fn headers(target: &ExecutorTarget<'_>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(REQUEST_CONTENT_TYPE));
    let charset = match target.generation {
        Generation::G1 => REQUEST_CONTENT_TYPE,
        Generation::G2 | Generation::G3 => "UTF-8",
    };
    headers.insert(ACCEPT_CHARSET, HeaderValue::from_static(charset));
    let token = match target.generation {
        Generation::G1 => target.access_token.filter(|token| !token.trim().is_empty()),
        Generation::G2 => target.access_token,
        Generation::G3 => Some(target.access_token.unwrap_or_default()),
    };
    insert_text(&mut headers, ACCESS_TOKEN_HEADER, token);
    if target.generation == Generation::G3 {
        insert_text(
            &mut headers,
            APP_NAME_HEADER,
            Some(target.app_name.unwrap_or_default()),
        );
    }
    headers
}

/// Adds a header whose value came from configuration. A value that cannot travel in a header (a control
/// character) is left out, which the executor then answers with its own "empty or invalid" message.
fn insert_text(headers: &mut HeaderMap, name: &'static str, value: Option<&str>) {
    let Some(value) = value else { return };
    match HeaderValue::from_str(value) {
        Ok(mut header) => {
            header.set_sensitive(true);
            headers.insert(name, header);
        }
        Err(_) => tracing::warn!(header = name, "header value is not valid in HTTP; not sent"),
    }
}

fn json_body<T: Serialize>(target: &ExecutorTarget<'_>, body: &T) -> Result<String, ClientError> {
    serde_json::to_string(body).map_err(|source| ClientError::Encode {
        address: target.address.to_owned(),
        source,
    })
}

fn bad_reply(url: &str, error: &serde_json::Error) -> ClientError {
    ClientError::BadReply {
        url: url.to_owned(),
        detail: error.to_string(),
    }
}

#[cfg(test)]
mod tests;
