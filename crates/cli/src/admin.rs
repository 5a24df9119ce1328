//! `xjob admin`: runs the scheduling center until SIGTERM or Ctrl-C; `xjob admin reset-password <user>` gives
//! a console user a new generated password. Settings come from defaults, then the TOML file of `--config`,
//! then `XJOB_ADMIN_…` variables, then flags (clap reads the variables); a bad setting is one line and exit
//! status 2.
//!
//! This module prints what only the operator may see, on stdout and once: the console address and a
//! generated password. The library itself never prints.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use xjob_admin::auth::first_start::{self, Credentials, FirstStart};
use xjob_admin::config::{AdminConfig, Language, Secret, parse_duration, parse_generation, parse_zone};
use xjob_admin::job_api::mint_token;
use xjob_admin::model::{GroupScope, JobGroupId};
use xjob_admin::{Admin, AdminHandle, app};
use xjob_protocol::Generation;

use crate::UsageError;

mod kubernetes;

pub use kubernetes::{DEFAULT_PATH_PREFIX, GROUP_TITLE, InAdmin};

/// `xjob admin [FLAGS]` or `xjob admin reset-password <USER> [FLAGS]`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AdminCommand {
    #[command(subcommand)]
    action: Option<AdminAction>,
    #[command(flatten)]
    args: AdminArgs,
}

#[derive(Debug, clap::Subcommand)]
enum AdminAction {
    /// Give a console user a new generated password (printed once) and end their session.
    ResetPassword {
        /// Login name.
        user: String,
        #[command(flatten)]
        args: AdminArgs,
    },
    /// Create a job-API token (printed once) scoped to every executor group, or to the given group ids.
    CreateToken {
        /// A name that says who uses the token.
        name: String,
        /// Comma-separated executor group ids; without it the token is an administrator token.
        #[arg(long, value_name = "IDS")]
        groups: Option<String>,
        #[command(flatten)]
        args: AdminArgs,
    },
}

/// Settings of the scheduling center. Each flag can also be given through the environment variable in its
/// help; a flag wins over the variable, both win over the file.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct AdminArgs {
    /// TOML file with any of these settings (keys: the variable names, lower-case, without XJOB_ADMIN_;
    /// upstream property names such as xxl.job.timeout are accepted too).
    #[arg(long, env = "XJOB_ADMIN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Interface to listen on (default 127.0.0.1: the console is reachable from this machine only).
    #[arg(long, env = "XJOB_ADMIN_LISTEN", value_name = "IP")]
    pub listen: Option<IpAddr>,
    /// HTTP port, 0 for any free one (default 8080; upstream server.port).
    #[arg(long, env = "XJOB_ADMIN_PORT", value_name = "PORT")]
    pub port: Option<u16>,
    /// Directory of the default SQLite database (default $XDG_DATA_HOME/xjob or ~/.local/share/xjob).
    #[arg(long, env = "XJOB_ADMIN_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://FILE, mysql://… or postgres://… (default: xjob-admin.db in the data directory).
    #[arg(
        long,
        env = "XJOB_ADMIN_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// Database connections at most (upstream spring.datasource.hikari.maximum-pool-size).
    #[arg(long, env = "XJOB_ADMIN_DATABASE_POOL_SIZE", value_name = "N")]
    pub database_pool_size: Option<u32>,
    /// IANA zone of stored times and reports (default: this machine's zone).
    #[arg(long, env = "XJOB_ADMIN_TIME_ZONE", value_parser = parse_zone, value_name = "ZONE")]
    pub time_zone: Option<chrono_tz::Tz>,
    /// Access token of G1/G2 executors (upstream xxl.job.accessToken); required unless --insecure-no-token.
    #[arg(
        long = "token",
        visible_alias = "access-token",
        env = "XJOB_ADMIN_ACCESS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub access_token: Option<String>,
    /// Accept executors without a global access token. For local experiments only.
    #[arg(long, env = "XJOB_ADMIN_INSECURE_NO_TOKEN")]
    pub insecure_no_token: bool,
    /// Connect and read timeout of calls to executors, e.g. 3s (upstream xxl.job.timeout).
    #[arg(long, env = "XJOB_ADMIN_TRIGGER_TIMEOUT", value_parser = parse_duration, value_name = "DURATION")]
    pub trigger_timeout: Option<Duration>,
    /// Concurrent fast triggers, at least 200 (upstream xxl.job.triggerpool.fast.max).
    #[arg(long, env = "XJOB_ADMIN_TRIGGER_POOL_FAST_MAX", value_name = "N")]
    pub trigger_pool_fast_max: Option<u32>,
    /// Concurrent slow triggers, at least 100 (upstream xxl.job.triggerpool.slow.max).
    #[arg(long, env = "XJOB_ADMIN_TRIGGER_POOL_SLOW_MAX", value_name = "N")]
    pub trigger_pool_slow_max: Option<u32>,
    /// Triggers that may wait for the pipeline.
    #[arg(long, env = "XJOB_ADMIN_TRIGGER_QUEUE_CAPACITY", value_name = "N")]
    pub trigger_queue_capacity: Option<usize>,
    /// Jobs per scheduler scan, 50..=500 (upstream xxl.job.schedule.batchsize).
    #[arg(long, env = "XJOB_ADMIN_SCHEDULE_BATCH_SIZE", value_name = "N")]
    pub schedule_batch_size: Option<u32>,
    /// How far ahead each scheduler pass claims fires, 1s..=1h (upstream's 5 s pre-read).
    #[arg(long, env = "XJOB_ADMIN_SCHEDULE_PRE_READ", value_parser = parse_duration, value_name = "DURATION")]
    pub schedule_pre_read: Option<Duration>,
    /// How late a fire may be and still go out as planned, 1s..=1h (upstream's fixed 5 s).
    #[arg(long, env = "XJOB_ADMIN_MISFIRE_THRESHOLD", value_parser = parse_duration, value_name = "DURATION")]
    pub misfire_threshold: Option<Duration>,
    /// Period of the registry monitor, at least 1s (upstream's 30 s beat).
    #[arg(long, env = "XJOB_ADMIN_REGISTRY_BEAT_INTERVAL", value_parser = parse_duration, value_name = "DURATION")]
    pub registry_beat_interval: Option<Duration>,
    /// Silence after which an executor registration is dead (upstream 90 s).
    #[arg(long, env = "XJOB_ADMIN_REGISTRY_DEAD_TIMEOUT", value_parser = parse_duration, value_name = "DURATION")]
    pub registry_dead_timeout: Option<Duration>,
    /// Period of the lost-result detector, at least 1s (upstream 60 s).
    #[arg(long, env = "XJOB_ADMIN_LOST_RESULT_INTERVAL", value_parser = parse_duration, value_name = "DURATION")]
    pub lost_result_interval: Option<Duration>,
    /// Age after which a result whose executor vanished counts as lost (upstream 10 min).
    #[arg(long, env = "XJOB_ADMIN_LOST_RESULT_TIMEOUT", value_parser = parse_duration, value_name = "DURATION")]
    pub lost_result_timeout: Option<Duration>,
    /// Period of the fail monitor that retries and alarms, at least 1s (upstream 10 s).
    #[arg(long, env = "XJOB_ADMIN_FAIL_MONITOR_INTERVAL", value_parser = parse_duration, value_name = "DURATION")]
    pub fail_monitor_interval: Option<Duration>,
    /// Days of trigger logs kept; below 3 keeps everything (upstream xxl.job.logretentiondays).
    #[arg(long, env = "XJOB_ADMIN_LOG_RETENTION_DAYS", value_name = "DAYS")]
    pub log_retention_days: Option<u32>,
    /// Console language: en, zh_CN or zh_TC (upstream xxl.job.i18n).
    #[arg(long, env = "XJOB_ADMIN_LANGUAGE", value_parser = parse_language, value_name = "LANG")]
    pub language: Option<Language>,
    /// This admin's URL as shown in trigger messages (default http://LISTEN:PORT/).
    #[arg(long, env = "XJOB_ADMIN_ADMIN_ADDRESS", value_name = "URL")]
    pub admin_address: Option<String>,
    /// Generation spoken to executors that never registered: g1, g2 or g3.
    #[arg(long, env = "XJOB_ADMIN_EXECUTOR_GENERATION", value_parser = parse_generation, value_name = "GEN")]
    pub executor_generation: Option<Generation>,
    /// Time requests and loops get to finish at shutdown, e.g. 10s.
    #[arg(long, env = "XJOB_ADMIN_SHUTDOWN_GRACE", value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_grace: Option<Duration>,
    /// SMTP server of alarm mails (upstream spring.mail.host).
    #[arg(long, env = "XJOB_ADMIN_MAIL_HOST", value_name = "HOST")]
    pub mail_host: Option<String>,
    /// SMTP port (upstream spring.mail.port).
    #[arg(long, env = "XJOB_ADMIN_MAIL_PORT", value_name = "PORT")]
    pub mail_port: Option<u16>,
    /// SMTP login (upstream spring.mail.username).
    #[arg(long, env = "XJOB_ADMIN_MAIL_USERNAME", value_name = "USER")]
    pub mail_username: Option<String>,
    /// SMTP password (upstream spring.mail.password).
    #[arg(
        long,
        env = "XJOB_ADMIN_MAIL_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub mail_password: Option<String>,
    /// Sender address of alarm mails (upstream spring.mail.from).
    #[arg(long, env = "XJOB_ADMIN_MAIL_FROM", value_name = "ADDRESS")]
    pub mail_from: Option<String>,
    /// Require STARTTLS (upstream spring.mail.properties.mail.smtp.starttls.enable).
    #[arg(long, env = "XJOB_ADMIN_MAIL_STARTTLS", value_name = "BOOL")]
    pub mail_starttls: Option<bool>,
    /// Run jobs on Kubernetes from inside the admin (kubernetes.enabled; the other keys of the file's
    /// [kubernetes] section apply).
    #[arg(long, env = "XJOB_ADMIN_KUBERNETES_EXECUTOR", value_name = "BOOL")]
    pub kubernetes_executor: Option<bool>,
    /// AppName of the built-in Kubernetes executor (kubernetes.app_name).
    #[arg(long, env = "XJOB_ADMIN_KUBERNETES_APP_NAME", value_name = "NAME")]
    pub kubernetes_app_name: Option<String>,
    /// Path of the built-in Kubernetes executor's endpoints on this listener (kubernetes.path_prefix).
    #[arg(long, env = "XJOB_ADMIN_KUBERNETES_PATH_PREFIX", value_name = "PATH")]
    pub kubernetes_path_prefix: Option<String>,
    /// How the Kubernetes API is reached: auto, in-cluster or kubeconfig (kubernetes.mode).
    #[arg(long, env = "XJOB_ADMIN_KUBERNETES_MODE", value_name = "MODE")]
    pub kubernetes_mode: Option<String>,
    /// Kubeconfig file of the Kubernetes API (kubernetes.kubeconfig).
    #[arg(long, env = "XJOB_ADMIN_KUBERNETES_KUBECONFIG", value_name = "FILE")]
    pub kubernetes_kubeconfig: Option<PathBuf>,
    /// Context of that kubeconfig (kubernetes.context).
    #[arg(long, env = "XJOB_ADMIN_KUBERNETES_CONTEXT", value_name = "NAME")]
    pub kubernetes_context: Option<String>,
    /// Namespace of manifests without one (kubernetes.default_namespace).
    #[arg(long, env = "XJOB_ADMIN_KUBERNETES_DEFAULT_NAMESPACE", value_name = "NAME")]
    pub kubernetes_default_namespace: Option<String>,
    /// This admin's id in the labels of its Kubernetes objects (kubernetes.instance_id).
    #[arg(long, env = "XJOB_ADMIN_KUBERNETES_INSTANCE_ID", value_name = "ID")]
    pub kubernetes_instance_id: Option<String>,
}

/// Runs the subcommand to its end.
pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command.action {
        None => serve(command.args).await,
        Some(AdminAction::ResetPassword { user, args }) => reset_password(&user, &args).await,
        Some(AdminAction::CreateToken { name, groups, args }) => {
            create_token(&name, groups.as_deref(), &args).await
        }
    }
}

/// Loads the settings: defaults, the file, then what the environment and flags set; then validates them.
/// Every problem is a [`UsageError`].
pub fn load(args: &AdminArgs) -> anyhow::Result<AdminConfig> {
    let mut config = match &args.config {
        Some(path) => AdminConfig::from_file(path).map_err(UsageError)?,
        None => AdminConfig::default(),
    };
    args.apply(&mut config);
    config.validate().map_err(|error| UsageError(error.to_string()))?;
    kubernetes::settings(&config).map_err(UsageError)?;
    Ok(config)
}

/// Starts the scheduling center with the parts this binary composes in: the built-in Kubernetes executor
/// when the `[kubernetes]` section enables it.
pub async fn start(config: AdminConfig) -> anyhow::Result<AdminHandle> {
    let extensions = kubernetes::settings(&config)
        .map_err(UsageError)?
        .map(InAdmin::extension)
        .into_iter()
        .collect();
    Admin::start_with(config, extensions).await
}

async fn serve(args: AdminArgs) -> anyhow::Result<()> {
    // Listening for signals is set up first, so that a failure there cannot strand a started admin.
    let stop = xjob_executor_bin::shutdown_signal()?;
    let config = load(&args)?;
    let mut admin = start(config).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "console listening on http://{}", admin.addr()).context("writing to stdout")?;
    match admin.take_first_start() {
        FirstStart::Created(credentials) => print_password(&mut out, "created", &credentials)?,
        FirstStart::DefaultPasswords(users) => {
            for user in users {
                writeln!(
                    out,
                    "user {user} still has the upstream default password and cannot log in; \
                     give it a new one with: xjob admin reset-password {user}"
                )
                .context("writing to stdout")?;
            }
        }
        FirstStart::Ready => {}
    }
    out.flush().context("writing to stdout")?;
    drop(out);
    stop.await;
    admin.shutdown().await;
    Ok(())
}

async fn reset_password(user: &str, args: &AdminArgs) -> anyhow::Result<()> {
    let config = load(args)?;
    let store = app::open_store(&config).await?;
    let outcome = first_start::reset_password(&store, user).await;
    store.close().await;
    let credentials = outcome.map_err(|error| match error {
        first_start::ResetError::NoSuchUser(_) => anyhow::Error::new(UsageError(error.to_string())),
        other => anyhow::Error::new(other),
    })?;
    let mut out = std::io::stdout().lock();
    print_password(&mut out, "reset", &credentials)?;
    out.flush().context("writing to stdout")
}

async fn create_token(name: &str, groups: Option<&str>, args: &AdminArgs) -> anyhow::Result<()> {
    let scope = match groups {
        None => GroupScope::All,
        Some(list) => {
            let ids = list
                .split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(|id| id.parse::<i32>().map(JobGroupId))
                .collect::<Result<std::collections::BTreeSet<_>, _>>()
                .map_err(|_| {
                    UsageError(format!(
                        "--groups must be comma-separated group ids, got `{list}`"
                    ))
                })?;
            if ids.is_empty() {
                return Err(UsageError("--groups names no group".to_owned()).into());
            }
            GroupScope::Groups(ids)
        }
    };
    if name.trim().is_empty() {
        return Err(UsageError("the token needs a name".to_owned()).into());
    }
    let config = load(args)?;
    let store = app::open_store(&config).await?;
    let minted = mint_token(&store, name.trim(), scope, None, chrono::Utc::now()).await;
    store.close().await;
    let minted = minted.context("storing the token")?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "job-API token {name} created: {} (shown once; send it as `Authorization: Bearer <token>`)",
        minted.token
    )
    .context("writing to stdout")?;
    out.flush().context("writing to stdout")
}

/// The one line that shows a generated password.
fn print_password(
    out: &mut impl std::io::Write,
    what: &str,
    credentials: &Credentials,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "console user {} {what} with password: {} (shown once; store it now)",
        credentials.username, credentials.password
    )
    .context("writing to stdout")
}

impl AdminArgs {
    /// Overrides the settings that flags or environment variables give.
    fn apply(&self, config: &mut AdminConfig) {
        fn set<T: Clone>(target: &mut T, value: &Option<T>) {
            if let Some(value) = value {
                *target = value.clone();
            }
        }
        fn set_some<T: Clone>(target: &mut Option<T>, value: &Option<T>) {
            if value.is_some() {
                target.clone_from(value);
            }
        }
        let secret = |value: &Option<String>| value.clone().map(Secret::from);
        set(&mut config.listen, &self.listen);
        set(&mut config.port, &self.port);
        set_some(&mut config.data_dir, &self.data_dir);
        set_some(&mut config.database_url, &secret(&self.database_url));
        set_some(&mut config.database_pool_size, &self.database_pool_size);
        set(&mut config.time_zone, &self.time_zone);
        set_some(&mut config.access_token, &secret(&self.access_token));
        // The flag can only switch the insecure mode on: its absence is not a statement.
        config.insecure_no_token |= self.insecure_no_token;
        set(&mut config.trigger_timeout, &self.trigger_timeout);
        set(&mut config.trigger_pool_fast_max, &self.trigger_pool_fast_max);
        set(&mut config.trigger_pool_slow_max, &self.trigger_pool_slow_max);
        set(&mut config.trigger_queue_capacity, &self.trigger_queue_capacity);
        set(&mut config.schedule_batch_size, &self.schedule_batch_size);
        set(&mut config.schedule_pre_read, &self.schedule_pre_read);
        set(&mut config.misfire_threshold, &self.misfire_threshold);
        set(&mut config.registry_beat_interval, &self.registry_beat_interval);
        set(&mut config.registry_dead_timeout, &self.registry_dead_timeout);
        set(&mut config.lost_result_interval, &self.lost_result_interval);
        set(&mut config.lost_result_timeout, &self.lost_result_timeout);
        set(&mut config.fail_monitor_interval, &self.fail_monitor_interval);
        set(&mut config.log_retention_days, &self.log_retention_days);
        set(&mut config.language, &self.language);
        set_some(&mut config.admin_address, &self.admin_address);
        set(&mut config.executor_generation, &self.executor_generation);
        set(&mut config.shutdown_grace, &self.shutdown_grace);
        set_some(&mut config.mail_host, &self.mail_host);
        set(&mut config.mail_port, &self.mail_port);
        set_some(&mut config.mail_username, &self.mail_username);
        set_some(&mut config.mail_password, &secret(&self.mail_password));
        set_some(&mut config.mail_from, &self.mail_from);
        set(&mut config.mail_starttls, &self.mail_starttls);
        let mut section = |key: &str, value: Option<toml::Value>| {
            if let Some(value) = value {
                config.kubernetes.insert(key.to_owned(), value);
            }
        };
        let text = |value: &Option<String>| value.clone().map(toml::Value::String);
        section("enabled", self.kubernetes_executor.map(toml::Value::Boolean));
        section("app_name", text(&self.kubernetes_app_name));
        section("path_prefix", text(&self.kubernetes_path_prefix));
        section("mode", text(&self.kubernetes_mode));
        let kubeconfig = self
            .kubernetes_kubeconfig
            .as_ref()
            .map(|path| path.to_string_lossy().into_owned());
        section("kubeconfig", text(&kubeconfig));
        section("context", text(&self.kubernetes_context));
        section("default_namespace", text(&self.kubernetes_default_namespace));
        section("instance_id", text(&self.kubernetes_instance_id));
    }
}

fn parse_language(text: &str) -> Result<Language, String> {
    text.parse()
}
