//! The scheduling center's settings: one [`AdminConfig`] tree with defaults in code, read from an optional TOML
//! file ([`AdminConfig::from_toml`]), then overridden field by field by the caller (the command line applies
//! `XJOB_ADMIN_…` variables and flags), then checked once by [`AdminConfig::validate`]. A bad value stops
//! start-up with one line that names the key.
//!
//! File keys are the field names below. Where users know an upstream property (`xxl.job.timeout`,
//! `server.port`, `spring.mail.host`, …) the file may use that name instead, quoted (`"xxl.job.timeout" = 5`)
//! or as nested tables (`[xxl.job]` `timeout = 5`); [`UPSTREAM_KEYS`] lists them. Giving both spellings of one
//! setting is an error.
//!
//! This is the only module of the crate that reads the process environment, and only to find the default
//! data directory.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use reqwest::Url;
use serde::{Deserialize, Deserializer};
use xjob_protocol::{Generation, REGISTRY_BEAT_INTERVAL, REGISTRY_DEAD_TIMEOUT};

/// The smallest period or age of the background parts: the database keeps times in whole seconds.
const SECOND: Duration = Duration::from_secs(1);

/// The SQLite file created in the data directory when no database URL is configured.
pub const DEFAULT_DATABASE_FILE: &str = "xjob-admin.db";

/// Upstream property names accepted in the file, and the key each one sets.
pub const UPSTREAM_KEYS: &[(&str, &str)] = &[
    ("server.port", "port"),
    ("xxl.job.accessToken", "access_token"),
    ("xxl.job.timeout", "trigger_timeout"),
    ("xxl.job.i18n", "language"),
    ("xxl.job.triggerpool.fast.max", "trigger_pool_fast_max"),
    ("xxl.job.triggerpool.slow.max", "trigger_pool_slow_max"),
    ("xxl.job.schedule.batchsize", "schedule_batch_size"),
    ("xxl.job.logretentiondays", "log_retention_days"),
    ("spring.datasource.hikari.maximum-pool-size", "database_pool_size"),
    ("spring.mail.host", "mail_host"),
    ("spring.mail.port", "mail_port"),
    ("spring.mail.username", "mail_username"),
    ("spring.mail.password", "mail_password"),
    ("spring.mail.from", "mail_from"),
    (
        "spring.mail.properties.mail.smtp.starttls.enable",
        "mail_starttls",
    ),
];

/// Every setting of the scheduling center. Field docs name the upstream property where there is one.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// The interface the console and APIs listen on. Default 127.0.0.1: the console stays on this machine
    /// until someone decides otherwise (upstream listens on every interface).
    pub listen: IpAddr,
    /// HTTP port; 0 picks a free one (upstream `server.port`, default 8080).
    pub port: u16,
    /// Directory of the default SQLite database; created on first start. Default `$XDG_DATA_HOME/xjob` or
    /// `$HOME/.local/share/xjob`.
    pub data_dir: Option<PathBuf>,
    /// `sqlite://…`, `mysql://user:pass@host:3306/db` or `postgres://user:pass@host/db`; default a SQLite
    /// file [`DEFAULT_DATABASE_FILE`] in the data directory (upstream `spring.datasource.url`, MySQL only).
    pub database_url: Option<Secret>,
    /// Database connections at most; default 4 for SQLite, 16 otherwise (upstream
    /// `spring.datasource.hikari.maximum-pool-size`, default 30).
    pub database_pool_size: Option<u32>,
    /// The zone the admin's DATETIME columns and reports are kept in (upstream: the JVM's default zone).
    /// Default: this machine's zone, UTC when unknown.
    #[serde(deserialize_with = "deserialize_zone")]
    pub time_zone: Tz,
    /// The access token executors of protocol generations G1/G2 present and are called with (upstream
    /// `xxl.job.accessToken`, 2.4–3.4; G3 keeps a token per group). Required unless `insecure_no_token`.
    pub access_token: Option<Secret>,
    /// Explicit opt-in to accept executors without a global access token.
    pub insecure_no_token: bool,
    /// Connect and read timeout of every call to an executor (upstream `xxl.job.timeout`, 3 s).
    #[serde(deserialize_with = "deserialize_duration")]
    pub trigger_timeout: Duration,
    /// Concurrent triggers of quick jobs; below 200 means 200 (upstream `xxl.job.triggerpool.fast.max`).
    pub trigger_pool_fast_max: u32,
    /// Concurrent triggers of jobs that were slow lately; below 100 means 100 (upstream
    /// `xxl.job.triggerpool.slow.max`).
    pub trigger_pool_slow_max: u32,
    /// Triggers waiting for the pipeline before submitters wait or are refused (upstream's fast queue
    /// holds 2000, the slow one 5000).
    pub trigger_queue_capacity: usize,
    /// Jobs the scheduler reads per scan; outside 50..=500 means 100 (upstream `xxl.job.schedule.batchsize`).
    pub schedule_batch_size: u32,
    /// How far ahead each scheduler pass claims due fires (upstream's pre-read window `PRE_READ_MS`, 5 s);
    /// 1 s to 1 h. A shorter window notices new and edited schedules sooner at the cost of more scans.
    #[serde(deserialize_with = "deserialize_duration")]
    pub schedule_pre_read: Duration,
    /// How late a scheduled fire may be found and still go out as planned; later, the job's misfire
    /// strategy decides (upstream's fixed 5 s). 1 s to 1 h; raise it when admins pause longer (GC, VM
    /// migration) and late fires should still run.
    #[serde(deserialize_with = "deserialize_duration")]
    pub misfire_threshold: Duration,
    /// Period of the registry monitor, which forgets dead executors and rebuilds the address lists of
    /// automatic groups from live registrations (upstream's registry beat, 30 s); at least 1 s. Executors
    /// should beat at least this often.
    #[serde(deserialize_with = "deserialize_duration")]
    pub registry_beat_interval: Duration,
    /// Silence after which an executor's registration is dead and its address leaves its group (upstream's
    /// registry dead timeout, three beats: 90 s); longer than `registry_beat_interval`.
    #[serde(deserialize_with = "deserialize_duration")]
    pub registry_dead_timeout: Duration,
    /// Period of the lost-result detector (upstream's lost-job monitor, 60 s); at least 1 s.
    #[serde(deserialize_with = "deserialize_duration")]
    pub lost_result_interval: Duration,
    /// How long after its trigger an execution without result, whose executor is no longer registered, is
    /// recorded as failed with upstream's lost-result message (upstream 10 min); at least 1 s.
    #[serde(deserialize_with = "deserialize_duration")]
    pub lost_result_timeout: Duration,
    /// Period of the fail monitor, which retries and alarms failed executions (upstream's fail monitor,
    /// 10 s); at least 1 s. A job's own retry interval is waited on top, counted in whole passes.
    #[serde(deserialize_with = "deserialize_duration")]
    pub fail_monitor_interval: Duration,
    /// Days of trigger logs kept; below 3 keeps everything (upstream `xxl.job.logretentiondays`, 30).
    pub log_retention_days: u32,
    /// Language of the console and of messages (upstream `xxl.job.i18n`; upstream's default is `zh_CN`).
    pub language: Language,
    /// The address executors and people reach this admin at, shown in trigger messages; default
    /// `http://<listen>:<port>/`.
    pub admin_address: Option<String>,
    /// The protocol generation spoken to executor addresses that never registered (manual addresses).
    #[serde(deserialize_with = "deserialize_generation")]
    pub executor_generation: Generation,
    /// Time in-flight requests and loops get to finish at shutdown before they are cut off.
    #[serde(deserialize_with = "deserialize_duration")]
    pub shutdown_grace: Duration,
    /// SMTP server for alarm mails; unset disables mail alarms (upstream `spring.mail.host`).
    pub mail_host: Option<String>,
    /// SMTP port (upstream `spring.mail.port`, 25).
    pub mail_port: u16,
    /// SMTP login (upstream `spring.mail.username`).
    pub mail_username: Option<String>,
    /// SMTP password (upstream `spring.mail.password`).
    pub mail_password: Option<Secret>,
    /// Sender of alarm mails; default the login (upstream `spring.mail.from`).
    pub mail_from: Option<String>,
    /// Whether to require STARTTLS (upstream `spring.mail.properties.mail.smtp.starttls.enable`, true).
    pub mail_starttls: bool,
    /// The `[kubernetes]` section: the built-in Kubernetes executor (`enabled`, `app_name`, `path_prefix`
    /// and the Kubernetes settings). Kept as written: the admin serves what the program that starts it
    /// composes in (see [`crate::app::Extension`]), and that program reads and checks these keys. The older
    /// top-level key `kubernetes_executor` is read as `kubernetes.enabled`.
    pub kubernetes: toml::Table,
}

/// The console's language (upstream `xxl.job.i18n`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum Language {
    /// English.
    #[default]
    #[serde(rename = "en")]
    En,
    /// Simplified Chinese.
    #[serde(rename = "zh_CN")]
    ZhCn,
    /// Traditional Chinese.
    #[serde(rename = "zh_TC")]
    ZhTc,
}

/// A string that must not appear in logs (tokens, passwords, URLs that may carry a password): its `Debug`
/// shows nothing.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// A setting that cannot be used; `Display` is the one line start-up prints.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid setting `{key}`: {problem}")]
pub struct ConfigError {
    /// The key, as spelled in the file.
    pub key: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8080,
            data_dir: None,
            database_url: None,
            database_pool_size: None,
            time_zone: local_zone(),
            access_token: None,
            insecure_no_token: false,
            trigger_timeout: Duration::from_secs(3),
            trigger_pool_fast_max: 300,
            trigger_pool_slow_max: 200,
            trigger_queue_capacity: 5000,
            schedule_batch_size: 100,
            schedule_pre_read: Duration::from_secs(5),
            misfire_threshold: Duration::from_secs(5),
            registry_beat_interval: REGISTRY_BEAT_INTERVAL,
            registry_dead_timeout: REGISTRY_DEAD_TIMEOUT,
            lost_result_interval: Duration::from_secs(60),
            lost_result_timeout: Duration::from_secs(10 * 60),
            fail_monitor_interval: Duration::from_secs(10),
            log_retention_days: 30,
            language: Language::En,
            admin_address: None,
            executor_generation: Generation::G3,
            // Upstream's scheduler waits up to 10 s for the time ring at shutdown.
            shutdown_grace: Duration::from_secs(10),
            mail_host: None,
            mail_port: 25,
            mail_username: None,
            mail_password: None,
            mail_from: None,
            mail_starttls: true,
            kubernetes: toml::Table::new(),
        }
    }
}

impl AdminConfig {
    /// Reads a TOML file over the defaults; the error is one line naming the file.
    pub fn from_file(path: &Path) -> Result<AdminConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("reading config file {}: {error}", path.display()))?;
        AdminConfig::from_toml(&text).map_err(|error| format!("config file {}: {error}", path.display()))
    }

    /// Parses TOML text over the defaults, accepting the upstream names in [`UPSTREAM_KEYS`]. The error is
    /// one line, with the line number when the file uses only our own keys.
    pub fn from_toml(text: &str) -> Result<AdminConfig, String> {
        let mut table: toml::Table = text.parse().map_err(|error| toml_error(text, &error))?;
        let upstream = rename_upstream_keys(&mut table)?;
        if !(move_kubernetes_switch(&mut table)? || upstream) {
            // Parsing the text itself keeps line numbers in the messages.
            return toml::from_str(text).map_err(|error| toml_error(text, &error));
        }
        toml::Value::Table(table)
            .try_into()
            .map_err(|error: toml::de::Error| one_line(error.message()))
    }

    /// Checks the settings once; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let error = |key, problem: String| Err(ConfigError { key, problem });
        if self.access_token().is_none() && !self.insecure_no_token {
            return error(
                "access_token",
                "must be set; to accept executors without one, set insecure_no_token (--insecure-no-token)"
                    .to_owned(),
            );
        }
        if let Some(url) = &self.database_url
            && crate::store::Engine::from_url(url.expose()).is_none()
        {
            let scheme = url.expose().split_once(':').map_or("", |(scheme, _)| scheme);
            return error(
                "database_url",
                format!("scheme `{scheme}` is not sqlite, mysql or postgres"),
            );
        }
        if let Some(dir) = &self.data_dir
            && !dir.is_absolute()
        {
            return error(
                "data_dir",
                format!("`{}` must be an absolute path", dir.display()),
            );
        }
        if self.database_url.is_none() && self.data_dir.is_none() && default_data_dir().is_none() {
            return error(
                "data_dir",
                "neither HOME nor XDG_DATA_HOME is set; set data_dir or database_url".to_owned(),
            );
        }
        if self.database_pool_size == Some(0) {
            return error("database_pool_size", "must be at least 1".to_owned());
        }
        if self.trigger_timeout.is_zero() {
            return error("trigger_timeout", "must be longer than zero".to_owned());
        }
        if self.trigger_queue_capacity == 0 {
            return error("trigger_queue_capacity", "must be at least 1".to_owned());
        }
        for (key, value) in [
            ("schedule_pre_read", self.schedule_pre_read),
            ("misfire_threshold", self.misfire_threshold),
        ] {
            if !(SECOND..=Duration::from_secs(3600)).contains(&value) {
                return error(key, "must be between 1s and 1h".to_owned());
            }
        }
        for (key, value) in [
            ("registry_beat_interval", self.registry_beat_interval),
            ("lost_result_interval", self.lost_result_interval),
            ("lost_result_timeout", self.lost_result_timeout),
            ("fail_monitor_interval", self.fail_monitor_interval),
        ] {
            if value < SECOND {
                return error(key, "must be at least 1s".to_owned());
            }
        }
        if self.registry_dead_timeout <= self.registry_beat_interval {
            return error(
                "registry_dead_timeout",
                format!(
                    "must be longer than registry_beat_interval ({:?})",
                    self.registry_beat_interval
                ),
            );
        }
        if let Some(address) = &self.admin_address
            && !is_http_url(address)
        {
            return error("admin_address", format!("`{address}` is not an http(s) URL"));
        }
        if self.mail_port == 0 {
            return error("mail_port", "must not be 0".to_owned());
        }
        Ok(())
    }

    /// The address to bind.
    pub fn listen_address(&self) -> SocketAddr {
        SocketAddr::new(self.listen, self.port)
    }

    /// The access token, unless blank.
    pub fn access_token(&self) -> Option<&str> {
        self.access_token
            .as_ref()
            .map(Secret::expose)
            .filter(|token| !token.trim().is_empty())
    }

    /// The data directory: the configured one, else the per-user default (`None` when neither exists).
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.data_dir.clone().or_else(default_data_dir)
    }

    /// The database to open: the configured URL, else the SQLite file in the data directory.
    pub fn database_url(&self) -> Option<String> {
        match &self.database_url {
            Some(url) => Some(url.expose().to_owned()),
            None => self
                .data_dir()
                .map(|dir| format!("sqlite://{}", dir.join(DEFAULT_DATABASE_FILE).display())),
        }
    }

    /// Concurrent fast triggers, raised to upstream's minimum of 200.
    pub fn fast_pool_size(&self) -> u32 {
        self.trigger_pool_fast_max.max(200)
    }

    /// Concurrent slow triggers, raised to upstream's minimum of 100.
    pub fn slow_pool_size(&self) -> u32 {
        self.trigger_pool_slow_max.max(100)
    }

    /// Jobs per scheduler scan: the configured value inside 50..=500, else upstream's 100.
    pub fn schedule_batch(&self) -> u32 {
        if (50..=500).contains(&self.schedule_batch_size) {
            self.schedule_batch_size
        } else {
            100
        }
    }

    /// Days of logs to keep, or `None` when retention is off (below 3 days, as upstream).
    pub fn retention_days(&self) -> Option<u32> {
        (self.log_retention_days >= 3).then_some(self.log_retention_days)
    }
}

impl Secret {
    /// The secret text, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
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

impl std::str::FromStr for Language {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "en" => Ok(Language::En),
            "zh_CN" => Ok(Language::ZhCn),
            "zh_TC" => Ok(Language::ZhTc),
            _ => Err(format!("`{text}` is not one of en, zh_CN, zh_TC")),
        }
    }
}

/// Reads `500ms`, `5s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let problem = || format!("`{text}` is not a duration such as 500ms, 5s, 2m or 1h");
    let number: u64 = number.parse().map_err(|_| problem())?;
    let seconds = |factor: u64| Duration::from_secs(number.saturating_mul(factor));
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(number)),
        "" | "s" => Ok(seconds(1)),
        "m" => Ok(seconds(60)),
        "h" => Ok(seconds(3600)),
        _ => Err(problem()),
    }
}

/// Reads an IANA zone name such as `Europe/Berlin`.
pub fn parse_zone(text: &str) -> Result<Tz, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an IANA time zone such as Europe/Berlin"))
}

/// Reads `g1`, `g2` or `g3`.
pub fn parse_generation(text: &str) -> Result<Generation, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "g1" => Ok(Generation::G1),
        "g2" => Ok(Generation::G2),
        "g3" => Ok(Generation::G3),
        _ => Err(format!("`{text}` is not one of g1, g2, g3")),
    }
}

/// This machine's zone, UTC when it cannot be found or is not an IANA name.
fn local_zone() -> Tz {
    iana_time_zone::get_timezone()
        .ok()
        .and_then(|name| name.parse().ok())
        .unwrap_or(Tz::UTC)
}

/// `$XDG_DATA_HOME/xjob`, else `$HOME/.local/share/xjob`; only absolute values count.
fn default_data_dir() -> Option<PathBuf> {
    let absolute = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    absolute("XDG_DATA_HOME")
        .map(|base| base.join("xjob"))
        .or_else(|| absolute("HOME").map(|home| home.join(".local/share/xjob")))
}

fn is_http_url(text: &str) -> bool {
    Url::parse(text).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
}

/// Moves every upstream-named value in `table` to our key; true when there was one.
fn rename_upstream_keys(table: &mut toml::Table) -> Result<bool, String> {
    let mut renamed = false;
    for (upstream, ours) in UPSTREAM_KEYS {
        let quoted = table.remove(*upstream);
        let nested = take_nested(table, upstream);
        let value = match (quoted, nested) {
            (Some(_), Some(_)) => return Err(format!("`{upstream}` is given twice")),
            (Some(value), None) | (None, Some(value)) => value,
            (None, None) => continue,
        };
        if table.contains_key(*ours) {
            return Err(format!(
                "`{ours}` and `{upstream}` name the same setting; keep one"
            ));
        }
        // Upstream's timeout is a plain number of seconds, which our duration fields accept as well.
        table.insert((*ours).to_owned(), value);
        renamed = true;
    }
    Ok(renamed)
}

/// Moves the older top-level switch `kubernetes_executor` to `kubernetes.enabled`; true when it was there.
fn move_kubernetes_switch(table: &mut toml::Table) -> Result<bool, String> {
    const OLD: &str = "kubernetes_executor";
    let Some(value) = table.remove(OLD) else {
        return Ok(false);
    };
    let section = table
        .entry("kubernetes")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(section) = section.as_table_mut() else {
        return Err("`kubernetes` must be a table".to_owned());
    };
    if section.contains_key("enabled") {
        return Err(format!(
            "`{OLD}` and `kubernetes.enabled` name the same setting; keep one"
        ));
    }
    section.insert("enabled".to_owned(), value);
    Ok(true)
}

/// Removes `a.b.c` given as nested tables, dropping tables the removal left empty.
fn take_nested(table: &mut toml::Table, dotted: &str) -> Option<toml::Value> {
    fn take(table: &mut toml::Table, path: &[&str]) -> Option<toml::Value> {
        let (first, rest) = path.split_first()?;
        if rest.is_empty() {
            return table.remove(*first);
        }
        let child = table.get_mut(*first)?.as_table_mut()?;
        let value = take(child, rest);
        if child.is_empty() {
            table.remove(*first);
        }
        value
    }
    let path: Vec<&str> = dotted.split('.').collect();
    take(table, &path)
}

fn toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = one_line(error.message());
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message,
    }
}

fn one_line(message: &str) -> String {
    message.trim_end().replace('\n', " ")
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

fn deserialize_zone<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
    parse_zone(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

fn deserialize_generation<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Generation, D::Error> {
    parse_generation(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests;
