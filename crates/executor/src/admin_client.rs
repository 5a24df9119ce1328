//! Calls from the executor to its admins (`/api/registry`, `/api/registryRemove`, `/api/callback`): admins
//! tried in list order until one answers with success, both auth headers on every call, and the per-admin
//! generation detection of [`crate::AdminGenerationMode::Auto`] (described in the crate docs).
//!
//! When to call (heartbeat timing, callback batching and spooling) is decided by the registry and callback
//! modules.

use std::sync::Mutex;

use reqwest::header::{ACCEPT_CHARSET, CONNECTION, CONTENT_TYPE};
use serde::Serialize;
use xjob_protocol::address::admin_url;
use xjob_protocol::{
    ACCESS_TOKEN_HEADER, APP_NAME_HEADER, AdminEndpoint, CallbackBody, CallbackItem, Dialect, Envelope,
    Generation, REQUEST_CONTENT_TYPE, RegistryRequest,
};

use crate::config::{AdminGenerationMode, ExecutorConfig};
use crate::error::ExecutorError;

/// The admins of one executor and what is known about each.
pub(crate) struct AdminClient {
    http: reqwest::Client,
    admins: Vec<Admin>,
    app_name: String,
    token: Option<String>,
    mode: AdminGenerationMode,
}

struct Admin {
    base: String,
    /// Learnt generation in `Auto` mode; forgotten when the admin stops answering.
    generation: Mutex<Option<Generation>>,
}

/// Why a call to every admin failed (the last admin's failure; each one is logged).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AdminError {
    /// No admin address is configured.
    #[error("no admin address configured")]
    NoAdmin,
    /// Connecting, sending or reading failed.
    #[error("request to {url} failed: {source}")]
    Transport { url: String, source: reqwest::Error },
    /// The admin answered with a non-200 HTTP status.
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    /// The reply was not an envelope.
    #[error("{url} sent an unreadable reply: {detail}")]
    BadReply { url: String, detail: String },
    /// The admin answered with a failure envelope.
    #[error("{url} refused: {msg}")]
    Refused { url: String, msg: String },
}

/// What a successful reply tells beyond success: whether its payload travelled under G1's `content`.
struct Reply {
    has_content_key: bool,
}

impl AdminClient {
    pub(crate) fn new(config: &ExecutorConfig) -> Result<Self, ExecutorError> {
        // reqwest is built without a default crypto provider; the workspace standardises on ring. Installing
        // fails harmlessly when the application already chose one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(config.admin_timeout)
            .timeout(config.admin_timeout)
            // Upstream clients trust every certificate and host name on https admin addresses.
            .tls_danger_accept_invalid_certs(true)
            .build()
            .map_err(|error| ExecutorError::HttpClient(error.to_string()))?;
        Ok(AdminClient {
            http,
            admins: config
                .admin_addresses
                .iter()
                .map(|base| Admin {
                    base: base.clone(),
                    generation: Mutex::new(None),
                })
                .collect(),
            app_name: config.app_name.clone(),
            token: config
                .access_token
                .as_ref()
                .map(|token| token.expose().to_owned()),
            mode: config.admin_generation,
        })
    }

    /// Sends one heartbeat; the first admin that accepts it ends the round.
    pub(crate) async fn registry(&self, address: &str) -> Result<(), AdminError> {
        let body = RegistryRequest::executor(&self.app_name, address);
        self.first_success(|admin| self.register_with(admin, AdminEndpoint::Registry, &body))
            .await
    }

    /// Deregisters at shutdown; failures are only logged, the admin forgets the address after 90 s anyway.
    pub(crate) async fn registry_remove(&self, address: &str) {
        let body = RegistryRequest::executor(&self.app_name, address);
        if let Err(error) = self
            .first_success(|admin| self.register_with(admin, AdminEndpoint::RegistryRemove, &body))
            .await
        {
            tracing::info!(%error, "registryRemove failed on every admin");
        }
    }

    /// Reports a batch of results.
    pub(crate) async fn callback(&self, items: &[CallbackItem]) -> Result<(), AdminError> {
        self.first_success(|admin| self.callback_to(admin, items)).await
    }

    async fn first_success<'a, F, Fut>(&'a self, mut call: F) -> Result<(), AdminError>
    where
        F: FnMut(&'a Admin) -> Fut,
        Fut: Future<Output = Result<(), AdminError>>,
    {
        let mut last = AdminError::NoAdmin;
        for admin in &self.admins {
            match call(admin).await {
                Ok(()) => return Ok(()),
                Err(error) => {
                    tracing::info!(%error, "admin call failed");
                    *lock(&admin.generation) = None;
                    last = error;
                }
            }
        }
        Err(last)
    }

    async fn register_with(
        &self,
        admin: &Admin,
        endpoint: AdminEndpoint,
        body: &RegistryRequest,
    ) -> Result<(), AdminError> {
        // The registry body is the same in every generation; only callbacks need the generation.
        self.post(admin, endpoint, body, self.generation_of(admin))
            .await
            .map(drop)
    }

    async fn callback_to(&self, admin: &Admin, items: &[CallbackItem]) -> Result<(), AdminError> {
        let generation = match self.generation_of(admin) {
            Some(generation) => generation,
            None => self.detect(admin).await?,
        };
        let body = CallbackBody::new(generation, items.to_vec());
        self.post(
            admin,
            AdminEndpoint::Callback,
            &body.encode(Dialect::from(generation)),
            Some(generation),
        )
        .await
        .map(drop)
    }

    /// Learns an admin's generation with empty callbacks, which change nothing on any admin: a G1 or G2
    /// admin accepts a bare `[]` and answers with its payload under `content` (G1) or `data` (G2); a G3 admin
    /// cannot parse an array and refuses it, but accepts `{"callbackList":[]}`.
    async fn detect(&self, admin: &Admin) -> Result<Generation, AdminError> {
        let array = CallbackBody::new(Generation::G2, Vec::new());
        let detected = match self
            .post(admin, AdminEndpoint::Callback, &array.encode(Dialect::Peer), None)
            .await
        {
            Ok(reply) if reply.has_content_key => Generation::G1,
            Ok(_) => Generation::G2,
            Err(AdminError::Refused { .. }) => {
                let object = CallbackBody::new(Generation::G3, Vec::new());
                self.post(
                    admin,
                    AdminEndpoint::Callback,
                    &object.encode(Dialect::G3),
                    Some(Generation::G3),
                )
                .await?;
                Generation::G3
            }
            Err(error) => return Err(error),
        };
        tracing::debug!(admin = %admin.base, generation = %detected, "admin generation detected");
        *lock(&admin.generation) = Some(detected);
        Ok(detected)
    }

    fn generation_of(&self, admin: &Admin) -> Option<Generation> {
        match self.mode {
            AdminGenerationMode::Fixed(generation) => Some(generation),
            AdminGenerationMode::Auto => *lock(&admin.generation),
        }
    }

    async fn post(
        &self,
        admin: &Admin,
        endpoint: AdminEndpoint,
        body: &impl Serialize,
        generation: Option<Generation>,
    ) -> Result<Reply, AdminError> {
        let url = admin_url(&admin.base, endpoint);
        let json = serde_json::to_vec(body).map_err(|error| AdminError::BadReply {
            url: url.clone(),
            detail: format!("cannot encode request: {error}"),
        })?;
        let accept_charset = match generation {
            Some(Generation::G1) => REQUEST_CONTENT_TYPE,
            _ => "UTF-8",
        };
        let mut request = self
            .http
            .post(&url)
            .header(CONTENT_TYPE, REQUEST_CONTENT_TYPE)
            .header(ACCEPT_CHARSET, accept_charset)
            .header(CONNECTION, "Keep-Alive")
            .header(APP_NAME_HEADER, &self.app_name)
            .body(json);
        if let Some(token) = &self.token {
            request = request.header(ACCESS_TOKEN_HEADER, token);
        }
        let response = request.send().await.map_err(|source| AdminError::Transport {
            url: url.clone(),
            source,
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(AdminError::Status {
                url,
                status: status.as_u16(),
            });
        }
        let bytes = response.bytes().await.map_err(|source| AdminError::Transport {
            url: url.clone(),
            source,
        })?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|error| AdminError::BadReply {
                url: url.clone(),
                detail: error.to_string(),
            })?;
        let has_content_key = value.get("content").is_some() && value.get("data").is_none();
        let envelope: Envelope<serde_json::Value> =
            serde_json::from_value(value).map_err(|error| AdminError::BadReply {
                url: url.clone(),
                detail: error.to_string(),
            })?;
        if !envelope.is_success() {
            return Err(AdminError::Refused {
                url,
                msg: envelope.msg.unwrap_or_default(),
            });
        }
        Ok(Reply { has_content_key })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A plain value behind the lock; a panicking holder cannot leave it inconsistent.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
