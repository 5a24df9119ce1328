//! The executor's settings ([`ExecutorConfig`]), the secret access token ([`AccessToken`]) and how the
//! executor picks the protocol generation it speaks to admins ([`AdminGenerationMode`]).
//!
//! Plain data: loading from files, environment or flags belongs to the binary that embeds the SDK.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use xjob_protocol::{Generation, REGISTRY_BEAT_INTERVAL};

/// Everything an executor needs to start. Build it with [`ExecutorConfig::new`] and adjust fields.
#[derive(Clone, Debug)]
pub struct ExecutorConfig {
    /// The AppName the executor registers under (`xxl.job.executor.appname`); G3 admins also send it in the
    /// `XXL-JOB-APPNAME` header.
    pub app_name: String,
    /// Admin base URLs including the context path (`xxl.job.admin.addresses`), tried in order.
    pub admin_addresses: Vec<String>,
    /// The access token (`xxl.job.executor.accessToken`, older `xxl.job.accessToken` /
    /// `xxl.job.admin.accessToken`). Required unless [`allow_no_token`](Self::allow_no_token) is set.
    pub access_token: Option<AccessToken>,
    /// Explicit opt-in to run without a token, accepting every request. Insecure; for tests and closed
    /// networks only.
    pub allow_no_token: bool,
    /// Address to listen on (`xxl.job.executor.ip` / `xxl.job.executor.port`); port 0 picks a free port.
    pub bind: SocketAddr,
    /// The address registered with admins (`xxl.job.executor.address`), used verbatim. `None` means
    /// `http://<ip>:<port>/` plus [`base_path`](Self::base_path), from the bound socket.
    pub address: Option<String>,
    /// Path prefix all endpoints live under: `""` or `"/prefix"` (for an ingress that routes by path).
    pub base_path: String,
    /// Root directory for execution logs and spooled callbacks (`xxl.job.executor.logpath`).
    pub log_path: PathBuf,
    /// Days to keep dated log directories (`xxl.job.executor.logretentiondays`); below 3 disables cleanup,
    /// as upstream.
    pub log_retention_days: u32,
    /// Which generation to speak to admins.
    pub admin_generation: AdminGenerationMode,
    /// Whether GLUE (non-BEAN) triggers are accepted (`xxl.job.executor.glueenabled`).
    pub glue_enabled: bool,
    /// How long shutdown lets running executions finish before cancelling them (upstream: 5 s).
    pub shutdown_grace: Duration,
    /// Connect and read timeout of each call to an admin (`xxl.job.admin.timeout`, upstream 3 s).
    pub admin_timeout: Duration,
    /// Interval of the registry heartbeat and of the spooled-callback retry (upstream: 30 s).
    pub beat_interval: Duration,
    /// Largest request body the executor reads; larger ones are refused (upstream: 5 MiB).
    pub max_body_bytes: usize,
    /// How long a job's thread lives on with nothing queued before it ends; the job's next trigger starts a
    /// new one. Upstream: 30 idle polls of 3 s, 90 s.
    pub job_idle_timeout: Duration,
    /// How long a handler may run on after kill, timeout, replacement or shutdown cancelled it before its
    /// future is dropped at its next `.await` (upstream interrupts the thread). The result is reported
    /// either way; default 5 s.
    pub cancel_grace: Duration,
}

/// How the executor chooses the protocol generation of the admins it calls and answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AdminGenerationMode {
    /// Detect it: each admin's generation is learnt from its registry reply and a harmless probe (see the
    /// crate docs); each request to the executor is answered in the generation its path and headers show.
    #[default]
    Auto,
    /// Speak exactly this generation to every admin and accept only its endpoint paths.
    Fixed(Generation),
}

/// A secret access token. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl ExecutorConfig {
    /// A configuration with upstream's defaults: listen on `0.0.0.0:9999`, logs under
    /// `/data/applogs/xxl-job/jobhandler`, 30 days of log retention, GLUE enabled, 5 s shutdown grace, idle
    /// job threads ended after 90 s, generation detected automatically. A blank token counts as none.
    pub fn new(
        app_name: impl Into<String>,
        admin_addresses: Vec<String>,
        access_token: Option<String>,
    ) -> Self {
        ExecutorConfig {
            app_name: app_name.into(),
            admin_addresses,
            access_token: access_token
                .filter(|token| !token.trim().is_empty())
                .map(AccessToken::from),
            allow_no_token: false,
            bind: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 9999)),
            address: None,
            base_path: String::new(),
            log_path: PathBuf::from("/data/applogs/xxl-job/jobhandler"),
            log_retention_days: 30,
            admin_generation: AdminGenerationMode::Auto,
            glue_enabled: true,
            shutdown_grace: Duration::from_secs(5),
            admin_timeout: Duration::from_secs(3),
            beat_interval: REGISTRY_BEAT_INTERVAL,
            max_body_bytes: 5 * 1024 * 1024,
            job_idle_timeout: Duration::from_secs(90),
            cancel_grace: Duration::from_secs(5),
        }
    }
}

impl AccessToken {
    /// The token's text, to put in a header or compare.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for AccessToken {
    fn from(token: String) -> Self {
        AccessToken(token)
    }
}

impl From<&str> for AccessToken {
    fn from(token: &str) -> Self {
        AccessToken(token.to_owned())
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let config = ExecutorConfig::new("demo", vec![], Some("s3cret".to_owned()));
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn blank_token_counts_as_none() {
        assert!(
            ExecutorConfig::new("demo", vec![], Some("  ".to_owned()))
                .access_token
                .is_none()
        );
        let token = ExecutorConfig::new("demo", vec![], Some("t".to_owned())).access_token;
        assert_eq!(token.as_ref().map(AccessToken::expose), Some("t"));
    }
}
