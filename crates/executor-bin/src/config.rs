//! The ready executor's settings: one [`Config`] tree, loaded as defaults → optional TOML file → environment
//! (`XJOB_EXECUTOR_…`) → command-line flags, then validated once. Every key is spelled the same in the file
//! and (upper-cased, with the prefix) in the environment; flags are listed in [`ExecutorArgs`]. A bad value
//! stops start-up with one line that names the key.
//!
//! Reading the environment is left to clap (`env` on each flag); nothing else in the crate looks at it.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Deserializer};

use xjob_k8s_executor::config::KubernetesConfig;

use crate::http_call::HostAllowList;

/// The environment variable that carries the access token; job processes do not inherit it.
pub(crate) const ACCESS_TOKEN_ENV: &str = "XJOB_EXECUTOR_ACCESS_TOKEN";

/// Command-line flags of the ready executor (`xjob executor …`). Each flag can also be given through the
/// environment variable named in its help; a flag wins over the variable, both win over the file.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ExecutorArgs {
    /// TOML file with any of the settings below (keys as in the environment names, lower-case, without the
    /// XJOB_EXECUTOR_ prefix).
    #[arg(long, env = "XJOB_EXECUTOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// AppName the executor registers under (upstream `xxl.job.executor.appname`).
    #[arg(long, env = "XJOB_EXECUTOR_APP_NAME", value_name = "NAME")]
    pub app_name: Option<String>,
    /// Admin base URLs including the context path, comma-separated (upstream `xxl.job.admin.addresses`).
    #[arg(
        long = "admin",
        visible_alias = "admin-addresses",
        env = "XJOB_EXECUTOR_ADMIN_ADDRESSES",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub admin_addresses: Vec<String>,
    /// Access token shared with the admin (upstream `xxl.job.executor.accessToken`; `xxl.job.accessToken` in
    /// 2.4.x, `xxl.job.admin.accessToken` in 2.5–3.4).
    #[arg(
        long = "token",
        visible_alias = "access-token",
        env = ACCESS_TOKEN_ENV,
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub access_token: Option<Secret>,
    /// Run without access token: anyone who reaches the port can run jobs. For local experiments only.
    #[arg(long, env = "XJOB_EXECUTOR_INSECURE_NO_TOKEN")]
    pub insecure_no_token: bool,
    /// Address to listen on (default 0.0.0.0, all interfaces).
    #[arg(long, env = "XJOB_EXECUTOR_LISTEN", value_name = "IP")]
    pub listen: Option<IpAddr>,
    /// IP put into the registered address; detected when unset (upstream `xxl.job.executor.ip`).
    #[arg(long, env = "XJOB_EXECUTOR_IP", value_name = "IP")]
    pub ip: Option<IpAddr>,
    /// Port to listen on; 0 picks a free one (upstream `xxl.job.executor.port`).
    #[arg(long, env = "XJOB_EXECUTOR_PORT", value_name = "PORT")]
    pub port: Option<u16>,
    /// Address registered with the admin, used verbatim (upstream `xxl.job.executor.address`).
    #[arg(long, env = "XJOB_EXECUTOR_ADDRESS", value_name = "URL")]
    pub address: Option<String>,
    /// Path prefix of every executor endpoint, for a reverse proxy or ingress ("" or "/prefix").
    #[arg(long, env = "XJOB_EXECUTOR_BASE_PATH", value_name = "PATH")]
    pub base_path: Option<String>,
    /// Root directory of job logs, GLUE sources and failed callbacks (upstream `xxl.job.executor.logpath`).
    #[arg(long, env = "XJOB_EXECUTOR_LOG_PATH", value_name = "DIR")]
    pub log_path: Option<PathBuf>,
    /// Days to keep job log directories; below 3 nothing is deleted (upstream
    /// `xxl.job.executor.logretentiondays`).
    #[arg(long, env = "XJOB_EXECUTOR_LOG_RETENTION_DAYS", value_name = "DAYS")]
    pub log_retention_days: Option<u32>,
    /// Whether GLUE script jobs run (upstream `xxl.job.executor.glueenabled`).
    #[arg(long, env = "XJOB_EXECUTOR_GLUE_ENABLED", value_name = "BOOL")]
    pub glue_enabled: Option<bool>,
    /// Hosts httpJobHandler may call: host, host:port, *.domain or `scheme://host[:port]`, comma-separated.
    /// Empty: every call is refused.
    #[arg(
        long = "http-allow-host",
        env = "XJOB_EXECUTOR_HTTP_ALLOW_HOSTS",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub http_allow_hosts: Vec<String>,
    /// How long running jobs may go on after a shutdown request before they are killed (e.g. 5s, 500ms).
    #[arg(long, env = "XJOB_EXECUTOR_SHUTDOWN_GRACE", value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_grace: Option<Duration>,
    /// Protocol generation of the admin: auto (detected), g1 (2.4–3.2), g2 (3.3–3.4) or g3 (3.5+).
    #[arg(long, env = "XJOB_EXECUTOR_ADMIN_GENERATION", value_name = "GENERATION")]
    pub admin_generation: Option<AdminGeneration>,
    /// Enable `kubernetesJobHandler`, which runs each execution as a Pod or Job; its settings are the
    /// `[kubernetes]` section of the file.
    #[arg(long, env = "XJOB_EXECUTOR_KUBERNETES")]
    pub kubernetes: bool,
}

/// The ready executor's settings after loading; see the module documentation for the sources.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Config {
    /// Upstream `xxl.job.executor.appname`.
    pub(crate) app_name: String,
    /// Upstream `xxl.job.admin.addresses` (a list here, a comma list upstream).
    pub(crate) admin_addresses: Vec<String>,
    /// Upstream `xxl.job.executor.accessToken` (2.4.x: `xxl.job.accessToken`).
    pub(crate) access_token: Option<Secret>,
    /// Explicit opt-in to run without access token.
    pub(crate) insecure_no_token: bool,
    /// The interface to listen on; upstream always listens on all of them.
    pub(crate) listen: IpAddr,
    /// Upstream `xxl.job.executor.ip`: only used to build the registered address.
    pub(crate) ip: Option<IpAddr>,
    /// Upstream `xxl.job.executor.port`; 0 picks a free port (upstream searches from 9999 for values ≤ 0).
    pub(crate) port: u16,
    /// Upstream `xxl.job.executor.address`.
    pub(crate) address: Option<String>,
    /// Path prefix of the executor endpoints.
    pub(crate) base_path: String,
    /// Upstream `xxl.job.executor.logpath`.
    pub(crate) log_path: PathBuf,
    /// Upstream `xxl.job.executor.logretentiondays`.
    pub(crate) log_retention_days: u32,
    /// Upstream `xxl.job.executor.glueenabled`.
    pub(crate) glue_enabled: bool,
    /// Hosts `httpJobHandler` may call.
    pub(crate) http_allow_hosts: Vec<String>,
    /// Time running jobs get after a shutdown request.
    #[serde(deserialize_with = "deserialize_duration")]
    pub(crate) shutdown_grace: Duration,
    /// Protocol generation of the admin.
    pub(crate) admin_generation: AdminGeneration,
    /// The `[kubernetes]` section: `kubernetesJobHandler` and its janitor, when `enabled`.
    pub(crate) kubernetes: KubernetesConfig,
}

/// Which protocol generation to speak to the admin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AdminGeneration {
    /// Detect it from the admin's replies.
    #[default]
    Auto,
    /// Upstream 2.4.0 – 3.2.x.
    G1,
    /// Upstream 3.3.0 – 3.4.2.
    G2,
    /// Upstream 3.5.0 and later.
    G3,
}

/// A secret string (the access token) whose `Debug` does not show it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// A setting that cannot be used; `Display` is the one line start-up prints.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid setting `{key}`: {problem}")]
pub(crate) struct ConfigError {
    key: &'static str,
    problem: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            app_name: String::new(),
            admin_addresses: Vec::new(),
            access_token: None,
            insecure_no_token: false,
            listen: IpAddr::from([0, 0, 0, 0]),
            ip: None,
            // Upstream's sample port.
            port: 9999,
            address: None,
            base_path: String::new(),
            // Upstream's default log root.
            log_path: PathBuf::from("/data/applogs/xxl-job/jobhandler"),
            log_retention_days: 30,
            glue_enabled: true,
            http_allow_hosts: Vec::new(),
            // Upstream waits 5 s (3.3.2+) before it kills running jobs at shutdown.
            shutdown_grace: Duration::from_secs(5),
            admin_generation: AdminGeneration::Auto,
            kubernetes: KubernetesConfig::default(),
        }
    }
}

impl Config {
    /// Loads the settings from the file `args` names (if any) and `args` itself, and validates them.
    pub(crate) fn load(args: &ExecutorArgs) -> anyhow::Result<Config> {
        let mut config = match &args.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        config.apply(args);
        config.validate()?;
        Ok(config)
    }

    fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| anyhow::anyhow!("reading config file {}: {error}", path.display()))?;
        Config::from_toml(&text).map_err(|error| anyhow::anyhow!("config file {}: {error}", path.display()))
    }

    /// Parses TOML text over the defaults; the error is one line with the line number.
    fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|error| {
            let message = error.message().trim_end().replace('\n', " ");
            match error.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!("line {line}: {message}")
                }
                None => message,
            }
        })
    }

    /// Overrides the values that flags or environment variables set.
    fn apply(&mut self, args: &ExecutorArgs) {
        fn set<T: Clone>(target: &mut T, value: &Option<T>) {
            if let Some(value) = value {
                *target = value.clone();
            }
        }
        set(&mut self.app_name, &args.app_name);
        if !args.admin_addresses.is_empty() {
            self.admin_addresses = args.admin_addresses.clone();
        }
        if args.access_token.is_some() {
            self.access_token = args.access_token.clone();
        }
        // The flag can only switch the insecure mode on: its absence is not a statement.
        self.insecure_no_token |= args.insecure_no_token;
        set(&mut self.listen, &args.listen);
        if args.ip.is_some() {
            self.ip = args.ip;
        }
        set(&mut self.port, &args.port);
        if args.address.is_some() {
            self.address = args.address.clone();
        }
        set(&mut self.base_path, &args.base_path);
        set(&mut self.log_path, &args.log_path);
        set(&mut self.log_retention_days, &args.log_retention_days);
        set(&mut self.glue_enabled, &args.glue_enabled);
        if !args.http_allow_hosts.is_empty() {
            self.http_allow_hosts = args.http_allow_hosts.clone();
        }
        set(&mut self.shutdown_grace, &args.shutdown_grace);
        set(&mut self.admin_generation, &args.admin_generation);
        // Like the insecure mode, the flag can only switch the handler on.
        self.kubernetes.enabled |= args.kubernetes;
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let error = |key, problem: String| Err(ConfigError { key, problem });
        if self.app_name.trim().is_empty() {
            return error("app_name", "must not be blank".to_owned());
        }
        if self.admin_addresses.is_empty() {
            return error(
                "admin_addresses",
                "at least one admin base URL is needed".to_owned(),
            );
        }
        for address in &self.admin_addresses {
            if !is_http_url(address) {
                return error("admin_addresses", format!("`{address}` is not an http(s) URL"));
            }
        }
        if self.access_token().is_none() && !self.insecure_no_token {
            return error(
                "access_token",
                "must be set; to run without one, set insecure_no_token (--insecure-no-token)".to_owned(),
            );
        }
        if let Some(address) = &self.address
            && !is_http_url(address)
        {
            return error("address", format!("`{address}` is not an http(s) URL"));
        }
        if !self.base_path.is_empty() && (!self.base_path.starts_with('/') || self.base_path.ends_with('/')) {
            return error(
                "base_path",
                format!("`{}` must be empty or look like /prefix", self.base_path),
            );
        }
        if !self.log_path.is_absolute() {
            return error(
                "log_path",
                format!("`{}` must be an absolute path", self.log_path.display()),
            );
        }
        if let Err(bad) = HostAllowList::parse(&self.http_allow_hosts) {
            return error("http_allow_hosts", bad.to_string());
        }
        Ok(())
    }

    /// The access token, unless blank.
    pub(crate) fn access_token(&self) -> Option<&str> {
        self.access_token
            .as_ref()
            .map(|secret| secret.0.as_str())
            .filter(|token| !token.trim().is_empty())
    }

    /// The allow-list of `httpJobHandler`.
    pub(crate) fn http_allow_list(&self) -> HostAllowList {
        // Validated at load time; an empty list (refusing everything) is the safe reading if it were not.
        HostAllowList::parse(&self.http_allow_hosts).unwrap_or_default()
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Secret(secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Secret(…)")
    }
}

fn is_http_url(text: &str) -> bool {
    Url::parse(text).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
}

/// Reads `500ms`, `5s`, `2m`, `1h`, or a bare number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 500ms, 5s, 2m or 1h"))?;
    let seconds = |factor: u64| Duration::from_secs(number.saturating_mul(factor));
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(number)),
        "" | "s" => Ok(seconds(1)),
        "m" => Ok(seconds(60)),
        "h" => Ok(seconds(3600)),
        _ => Err(format!("`{text}` is not a duration such as 500ms, 5s, 2m or 1h")),
    }
}

/// A duration in the file: a string for [`parse_duration`] or an integer number of seconds.
fn deserialize_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Seconds(seconds) => Ok(Duration::from_secs(seconds)),
        Raw::Text(text) => parse_duration(&text).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests;
