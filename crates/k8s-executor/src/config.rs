//! The `kubernetes` configuration section (§11 of the Kubernetes executor specification): the serde tree
//! with its defaults, and [`KubernetesConfig::validate`], which turns it into the [`Settings`] the handler
//! runs with (namespaces resolved, image patterns compiled, the defaults template parsed).
//!
//! Loading the file, the environment and flags belongs to the binaries; the two facts this section needs from
//! the machine (the in-cluster namespace and the host name) are passed in as a [`Host`], so nothing here reads
//! files or environment variables.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    LocalObjectReference, PodSecurityContext, ResourceRequirements, SecurityContext, Toleration,
};
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize};

use crate::manifest::{self, StrictError};
use crate::naming;

/// The `kubernetes` section as written by the operator; every key is optional.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// Turns the handler on (and, in the admin, the built-in executor and its registration).
    pub enabled: bool,
    /// AppName used for registration and in the `<prefix>app` label.
    pub app_name: String,
    /// Base path of the executor endpoints; unset means the mode's default (`/k8s-executor/` inside the
    /// admin, `/` standalone), see [`KubernetesConfig::path_prefix_or`].
    pub path_prefix: Option<String>,
    /// How the Kubernetes API is reached.
    pub mode: ApiMode,
    /// Explicit kubeconfig file (mode `kubeconfig`, or `auto` outside a cluster).
    pub kubeconfig: Option<PathBuf>,
    /// Context of the kubeconfig to use; unset means its current context.
    pub context: Option<String>,
    /// Bound for one API call including the client's own retries.
    #[serde(deserialize_with = "duration")]
    pub api_timeout: Duration,
    /// Namespace for manifests without one; unset means the in-cluster namespace, else `default`.
    pub default_namespace: Option<String>,
    /// Namespaces objects may be created in; unset means the default namespace only.
    pub allowed_namespaces: Option<Vec<String>>,
    /// Service accounts a manifest may run as (an empty `serviceAccountName` counts as `default`).
    pub allowed_service_accounts: Vec<String>,
    /// Lifts the privilege checks of the security policy (host namespaces, privileged containers, …).
    pub allow_privileged: bool,
    /// Regular expressions of allowed images, each matched against the whole image reference; empty allows
    /// any image.
    pub allowed_images: Vec<String>,
    /// YAML merged under every manifest (see [`PodDefaults`] for its keys).
    pub pod_defaults: Option<String>,
    /// Prefix of the executor's labels and annotations, including the trailing `/`.
    pub label_prefix: String,
    /// This executor instance's id in the `<prefix>instance` label; unset means the host name.
    pub instance_id: Option<String>,
    /// Longest time from creation until the first container runs (or the pod ends).
    #[serde(deserialize_with = "duration")]
    pub startup_timeout: Duration,
    /// Container waiting reasons that fail an execution at once instead of waiting for the startup timeout.
    pub fail_fast_reasons: Vec<String>,
    /// Grace period used when the executor deletes an object.
    #[serde(deserialize_with = "duration")]
    pub kill_grace_period: Duration,
    /// Added to the trigger's timeout for the `activeDeadlineSeconds` backstop.
    #[serde(deserialize_with = "duration")]
    pub deadline_margin: Duration,
    /// `ttlSecondsAfterFinished` given to Jobs that do not set it.
    #[serde(deserialize_with = "duration")]
    pub job_ttl_after_finished: Duration,
    /// What happens to an object once its result is known.
    pub cleanup: Cleanup,
    /// How long objects kept by the cleanup policy are retained before the janitor removes them.
    #[serde(deserialize_with = "duration")]
    pub retain_finished: Duration,
    /// Period of the janitor.
    #[serde(deserialize_with = "duration")]
    pub janitor_interval: Duration,
    /// Age below which an untracked object is left alone by the janitor.
    #[serde(deserialize_with = "duration")]
    pub orphan_grace: Duration,
    /// What the janitor does with objects no live execution tracks.
    pub orphan_policy: OrphanPolicy,
    /// What happens to running objects when the executor shuts down.
    pub on_shutdown: OnShutdown,
    /// Longest wait for deletions at shutdown.
    #[serde(deserialize_with = "duration")]
    pub shutdown_grace: Duration,
    /// Cap on concurrently running objects of this instance.
    pub max_running: u32,
    /// Longest wait for a log stream to end after its container terminated.
    #[serde(deserialize_with = "duration")]
    pub log_drain_timeout: Duration,
    /// Bytes copied into one execution log before copying stops (an integer, or with `KiB`/`MiB`/`GiB`).
    #[serde(deserialize_with = "byte_size")]
    pub max_log_bytes: u64,
    /// Copy Kubernetes warning events into the execution log.
    pub copy_events: bool,
    /// Publish Kubernetes Events on kill, timeout and janitor actions.
    pub emit_events: bool,
}

/// How the Kubernetes API is reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApiMode {
    /// In-cluster when `KUBERNETES_SERVICE_HOST` is set, otherwise the kubeconfig (the reverse of the client
    /// library's own inference order, which is why the executor decides itself).
    #[default]
    Auto,
    /// The pod's service account.
    InCluster,
    /// An explicit kubeconfig file and optional context.
    Kubeconfig,
}

/// What happens to an object once its result is known (also the `<prefix>cleanup` annotation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cleanup {
    /// Delete it.
    #[default]
    Always,
    /// Delete it on success, keep it on failure.
    OnSuccess,
    /// Keep it.
    Never,
}

/// What the janitor does with an object that no live execution tracks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrphanPolicy {
    /// Resume the execution: reopen its log, follow it to the end, report and clean up.
    #[default]
    Adopt,
    /// Delete it and report the execution failed.
    Delete,
}

/// What happens to running objects at shutdown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnShutdown {
    /// Delete them and report them killed (upstream's semantics).
    #[default]
    Kill,
    /// Leave them running for the next start of the same instance to adopt.
    Detach,
}

/// The defaults template (`pod_defaults`): merged **under** every manifest, so a value the manifest sets
/// always wins. Keys use the Kubernetes spelling; unknown keys are rejected like in manifests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PodDefaults {
    /// Labels added to the object (and a Job's pod template).
    pub labels: BTreeMap<String, String>,
    /// Annotations added to the object (and a Job's pod template).
    pub annotations: BTreeMap<String, String>,
    /// `spec.imagePullSecrets` when the manifest has none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// `spec.nodeSelector` entries the manifest does not set.
    pub node_selector: BTreeMap<String, String>,
    /// `spec.tolerations` when the manifest has none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Requests and limits merged under every container's `resources`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Merged under the pod's `spec.securityContext`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    /// Merged under every container's `securityContext`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_security_context: Option<SecurityContext>,
}

/// Facts about the machine that the defaults depend on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Host {
    /// The namespace of the executor's own pod when it runs in a cluster.
    pub in_cluster_namespace: Option<String>,
    /// The host name (the pod name in a cluster).
    pub host_name: String,
}

impl Host {
    /// The facts of the machine the process runs on: in a pod (`KUBERNETES_SERVICE_HOST` set), its
    /// namespace from the service-account files (`default` when unreadable); the host name from
    /// `HOSTNAME`, else `/etc/hostname`.
    pub fn detect() -> Host {
        const NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
        let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|host| !host.is_empty());
        let in_cluster_namespace = in_cluster.then(|| {
            std::fs::read_to_string(NAMESPACE_FILE)
                .map(|text| text.trim().to_owned())
                .ok()
                .filter(|namespace| !namespace.is_empty())
                .unwrap_or_else(|| "default".to_owned())
        });
        let host_name = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|name| name.trim().to_owned())
            .unwrap_or_default();
        Host {
            in_cluster_namespace,
            host_name,
        }
    }

    /// Whether the process runs in a Kubernetes pod.
    pub fn in_cluster(&self) -> bool {
        self.in_cluster_namespace.is_some()
    }
}

/// The validated configuration the handler runs with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The section as configured (already checked).
    pub config: KubernetesConfig,
    /// Namespace for manifests without one.
    pub default_namespace: String,
    /// Namespaces objects may be created in.
    pub allowed_namespaces: Vec<String>,
    /// Compiled, anchored `allowed_images`.
    pub allowed_images: Vec<Regex>,
    /// The parsed defaults template.
    pub pod_defaults: Option<PodDefaults>,
    /// This instance's id, as configured or the host name.
    pub instance_id: String,
}

/// A configuration value that cannot be used; `Display` names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kubernetes.{key}: {reason}")]
pub struct ConfigError {
    /// The offending key, with an index or path inside it where useful.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            enabled: false,
            app_name: "xxl-job-executor-kubernetes".to_owned(),
            path_prefix: None,
            mode: ApiMode::Auto,
            kubeconfig: None,
            context: None,
            api_timeout: Duration::from_secs(30),
            default_namespace: None,
            allowed_namespaces: None,
            allowed_service_accounts: vec!["default".to_owned()],
            allow_privileged: false,
            allowed_images: Vec::new(),
            pod_defaults: None,
            label_prefix: "xxl-job/".to_owned(),
            instance_id: None,
            startup_timeout: Duration::from_secs(300),
            fail_fast_reasons: vec!["InvalidImageName".to_owned(), "ErrImageNeverPull".to_owned()],
            kill_grace_period: Duration::from_secs(30),
            deadline_margin: Duration::from_secs(60),
            job_ttl_after_finished: Duration::from_secs(3600),
            cleanup: Cleanup::Always,
            retain_finished: Duration::from_secs(24 * 3600),
            janitor_interval: Duration::from_secs(60),
            orphan_grace: Duration::from_secs(30),
            orphan_policy: OrphanPolicy::Adopt,
            on_shutdown: OnShutdown::Kill,
            shutdown_grace: Duration::from_secs(25),
            max_running: 100,
            log_drain_timeout: Duration::from_secs(10),
            max_log_bytes: 64 * 1024 * 1024,
            copy_events: true,
            emit_events: false,
        }
    }
}

impl KubernetesConfig {
    /// The configured path prefix, or `default` (which differs between the in-admin and standalone modes).
    pub fn path_prefix_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.path_prefix.as_deref().unwrap_or(default)
    }

    /// Checks every key and resolves the machine-dependent defaults; the first problem found is returned.
    pub fn validate(self, host: &Host) -> Result<Settings, ConfigError> {
        if self.app_name.trim().is_empty() {
            return Err(error("app_name", "must not be empty"));
        }
        if let Some(prefix) = &self.path_prefix
            && !prefix.starts_with('/')
        {
            return Err(error("path_prefix", format!("{prefix:?} must start with '/'")));
        }
        for (key, value) in [
            ("api_timeout", self.api_timeout),
            ("startup_timeout", self.startup_timeout),
            ("janitor_interval", self.janitor_interval),
            ("log_drain_timeout", self.log_drain_timeout),
        ] {
            if value.is_zero() {
                return Err(error(key, "must be greater than zero"));
            }
        }
        if i32::try_from(self.job_ttl_after_finished.as_secs()).is_err() {
            return Err(error("job_ttl_after_finished", "is too large"));
        }
        if self.max_running == 0 {
            return Err(error("max_running", "must be at least 1"));
        }
        if self.max_log_bytes == 0 {
            return Err(error("max_log_bytes", "must be greater than zero"));
        }
        validate_label_prefix(&self.label_prefix)?;

        let default_namespace = self
            .default_namespace
            .clone()
            .or_else(|| host.in_cluster_namespace.clone())
            .unwrap_or_else(|| "default".to_owned());
        if !naming::is_dns_label(&default_namespace) {
            return Err(error(
                "default_namespace",
                format!("{default_namespace:?} is not a valid namespace name"),
            ));
        }
        let allowed_namespaces = self
            .allowed_namespaces
            .clone()
            .unwrap_or_else(|| vec![default_namespace.clone()]);
        if allowed_namespaces.is_empty() {
            return Err(error("allowed_namespaces", "must name at least one namespace"));
        }
        for (index, namespace) in allowed_namespaces.iter().enumerate() {
            if !naming::is_dns_label(namespace) {
                return Err(error(
                    format!("allowed_namespaces[{index}]"),
                    format!("{namespace:?} is not a valid namespace name"),
                ));
            }
        }
        for (index, account) in self.allowed_service_accounts.iter().enumerate() {
            if !naming::is_dns_subdomain(account) {
                return Err(error(
                    format!("allowed_service_accounts[{index}]"),
                    format!("{account:?} is not a valid service account name"),
                ));
            }
        }
        let allowed_images = self
            .allowed_images
            .iter()
            .enumerate()
            .map(|(index, pattern)| {
                // Anchored so that `registry\.example\.com/.*` cannot be satisfied by an image that merely
                // contains the allowed registry somewhere in its reference.
                Regex::new(&format!("^(?:{pattern})$"))
                    .map_err(|cause| error(format!("allowed_images[{index}]"), cause.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (index, reason) in self.fail_fast_reasons.iter().enumerate() {
            if reason.trim().is_empty() {
                return Err(error(format!("fail_fast_reasons[{index}]"), "must not be empty"));
            }
        }
        let pod_defaults = self.pod_defaults.as_deref().map(parse_pod_defaults).transpose()?;

        let instance_id = match &self.instance_id {
            Some(id) if id.trim().is_empty() => return Err(error("instance_id", "must not be empty")),
            Some(id) => id.clone(),
            None if self.on_shutdown == OnShutdown::Detach => {
                return Err(error(
                    "on_shutdown",
                    "detach needs an explicit instance_id that stays the same across restarts",
                ));
            }
            None if host.host_name.trim().is_empty() => {
                return Err(error("instance_id", "not set and the host name is unknown"));
            }
            None => host.host_name.clone(),
        };

        Ok(Settings {
            config: self,
            default_namespace,
            allowed_namespaces,
            allowed_images,
            pod_defaults,
            instance_id,
        })
    }
}

impl Settings {
    /// Settings from the defaults alone, for a host with the given name.
    pub fn from_defaults(host: &Host) -> Result<Settings, ConfigError> {
        KubernetesConfig::default().validate(host)
    }
}

fn error(key: impl Into<String>, reason: impl fmt::Display) -> ConfigError {
    ConfigError {
        key: key.into(),
        reason: reason.to_string(),
    }
}

fn validate_label_prefix(prefix: &str) -> Result<(), ConfigError> {
    let Some(domain) = prefix.strip_suffix('/') else {
        return Err(error("label_prefix", format!("{prefix:?} must end with '/'")));
    };
    if !naming::is_dns_subdomain(domain) {
        return Err(error(
            "label_prefix",
            format!("{domain:?} is not a valid label prefix (a DNS subdomain)"),
        ));
    }
    Ok(())
}

fn parse_pod_defaults(text: &str) -> Result<PodDefaults, ConfigError> {
    let tree: serde_json::Value =
        serde_yaml_ng::from_str(text).map_err(|cause| error("pod_defaults", cause))?;
    if tree.is_null() {
        return Ok(PodDefaults::default());
    }
    manifest::strict_from_value(tree).map_err(|StrictError { path, reason }| {
        let key = if path.is_empty() {
            "pod_defaults".to_owned()
        } else {
            format!("pod_defaults.{path}")
        };
        error(key, reason)
    })
}

/// Accepts whole seconds as an integer, or a string with a unit: `500ms`, `30s`, `5m`, `24h`, `7d`.
fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
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

fn parse_duration(text: &str) -> Result<Duration, String> {
    let units = [
        ("ms", 1),
        ("", 1000),
        ("s", 1000),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
    ];
    let millis = parse_with_unit(
        text,
        &units,
        "a duration such as 30s, 5m or 24h",
        "duration unit",
        "ms, s, m, h or d",
    )?;
    Ok(Duration::from_millis(millis))
}

/// Accepts bytes as an integer, or a string with `B`, `KiB`, `MiB` or `GiB`.
fn byte_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bytes(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Bytes(bytes) => Ok(bytes),
        Raw::Text(text) => parse_byte_size(&text).map_err(serde::de::Error::custom),
    }
}

fn parse_byte_size(text: &str) -> Result<u64, String> {
    let units = [
        ("", 1),
        ("B", 1),
        ("KiB", 1 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
    ];
    parse_with_unit(
        text,
        &units,
        "a size such as 64MiB",
        "size unit",
        "B, KiB, MiB or GiB",
    )
}

/// Reads `<digits><unit>` and multiplies the amount by the unit's factor from `units`.
fn parse_with_unit(
    text: &str,
    units: &[(&str, u64)],
    example: &str,
    unit_kind: &str,
    unit_list: &str,
) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let amount: u64 = digits.parse().map_err(|_| format!("{text:?} is not {example}"))?;
    let unit = unit.trim();
    let Some((_, factor)) = units.iter().find(|(name, _)| *name == unit) else {
        return Err(format!("unknown {unit_kind} {unit:?} (use {unit_list})"));
    };
    amount
        .checked_mul(*factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host {
            in_cluster_namespace: None,
            host_name: "node-1".to_owned(),
        }
    }

    fn load(text: &str) -> Result<Settings, String> {
        let config: KubernetesConfig = toml::from_str(text).map_err(|cause| cause.message().to_owned())?;
        config.validate(&host()).map_err(|cause| cause.to_string())
    }

    /// One case: a TOML section and either what a derived value shows or the exact error.
    fn check(text: &str, expected: Result<&str, &str>, show: fn(&Settings) -> String) {
        match (load(text), expected) {
            (Ok(settings), Ok(want)) => assert_eq!(show(&settings), want, "{text}"),
            (Err(got), Err(want)) => assert_eq!(got, want, "{text}"),
            (got, want) => panic!("{text}: got {:?}, want {want:?}", got.map(|s| show(&s))),
        }
    }

    #[test]
    fn defaults_match_the_specification() {
        let settings = load("").unwrap();
        let config = &settings.config;
        assert!(!config.enabled);
        assert_eq!(config.app_name, "xxl-job-executor-kubernetes");
        assert_eq!(config.path_prefix_or("/k8s-executor/"), "/k8s-executor/");
        assert_eq!(config.mode, ApiMode::Auto);
        assert_eq!(config.api_timeout, Duration::from_secs(30));
        assert_eq!(settings.default_namespace, "default");
        assert_eq!(settings.allowed_namespaces, ["default"]);
        assert_eq!(config.allowed_service_accounts, ["default"]);
        assert!(!config.allow_privileged);
        assert!(settings.allowed_images.is_empty());
        assert_eq!(settings.pod_defaults, None);
        assert_eq!(config.label_prefix, "xxl-job/");
        assert_eq!(settings.instance_id, "node-1");
        assert_eq!(config.startup_timeout, Duration::from_secs(300));
        assert_eq!(
            config.fail_fast_reasons,
            ["InvalidImageName", "ErrImageNeverPull"]
        );
        assert_eq!(config.kill_grace_period, Duration::from_secs(30));
        assert_eq!(config.deadline_margin, Duration::from_secs(60));
        assert_eq!(config.job_ttl_after_finished, Duration::from_secs(3600));
        assert_eq!(config.cleanup, Cleanup::Always);
        assert_eq!(config.retain_finished, Duration::from_secs(86_400));
        assert_eq!(config.janitor_interval, Duration::from_secs(60));
        assert_eq!(config.orphan_grace, Duration::from_secs(30));
        assert_eq!(config.orphan_policy, OrphanPolicy::Adopt);
        assert_eq!(config.on_shutdown, OnShutdown::Kill);
        assert_eq!(config.shutdown_grace, Duration::from_secs(25));
        assert_eq!(config.max_running, 100);
        assert_eq!(config.log_drain_timeout, Duration::from_secs(10));
        assert_eq!(config.max_log_bytes, 64 << 20);
        assert!(config.copy_events);
        assert!(!config.emit_events);
    }

    #[test]
    fn in_cluster_namespace_is_the_default_namespace() {
        let host = Host {
            in_cluster_namespace: Some("jobs".to_owned()),
            host_name: "pod-0".to_owned(),
        };
        let settings = KubernetesConfig::default().validate(&host).unwrap();
        assert_eq!(settings.default_namespace, "jobs");
        assert_eq!(settings.allowed_namespaces, ["jobs"]);
    }

    #[test]
    fn values_and_errors() {
        let durations = |s: &Settings| format!("{:?} {:?}", s.config.api_timeout, s.config.retain_finished);
        check(
            "api_timeout = 5\nretain_finished = \"2h\"",
            Ok("5s 7200s"),
            durations,
        );
        check("api_timeout = \"1500ms\"", Ok("1.5s 86400s"), durations);
        check(
            "api_timeout = 0",
            Err("kubernetes.api_timeout: must be greater than zero"),
            durations,
        );
        check(
            "api_timeout = \"5 weeks\"",
            Err("unknown duration unit \"weeks\" (use ms, s, m, h or d)"),
            durations,
        );
        check(
            "api_timeout = \"soon\"",
            Err("\"soon\" is not a duration such as 30s, 5m or 24h"),
            durations,
        );
        check(
            "api_timeout = \"99999999999999999d\"",
            Err("\"99999999999999999d\" is too large"),
            durations,
        );
        let bytes = |s: &Settings| s.config.max_log_bytes.to_string();
        check("max_log_bytes = \"1KiB\"", Ok("1024"), bytes);
        check("max_log_bytes = 5000", Ok("5000"), bytes);
        check("max_log_bytes = \"2GiB\"", Ok("2147483648"), bytes);
        check(
            "max_log_bytes = 0",
            Err("kubernetes.max_log_bytes: must be greater than zero"),
            bytes,
        );
        let namespaces = |s: &Settings| format!("{} {:?}", s.default_namespace, s.allowed_namespaces);
        check("default_namespace = \"jobs\"", Ok("jobs [\"jobs\"]"), namespaces);
        check(
            "allowed_namespaces = [\"a\", \"b\"]",
            Ok("default [\"a\", \"b\"]"),
            namespaces,
        );
        check(
            "allowed_namespaces = []",
            Err("kubernetes.allowed_namespaces: must name at least one namespace"),
            namespaces,
        );
        check(
            "allowed_namespaces = [\"ok\", \"Not_OK\"]",
            Err("kubernetes.allowed_namespaces[1]: \"Not_OK\" is not a valid namespace name"),
            namespaces,
        );
        check(
            "default_namespace = \"\"",
            Err("kubernetes.default_namespace: \"\" is not a valid namespace name"),
            namespaces,
        );
        let images = |s: &Settings| {
            s.allowed_images
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        check(
            "allowed_images = [\"busybox(:.*)?\"]",
            Ok("^(?:busybox(:.*)?)$"),
            images,
        );
        check(
            "allowed_images = [\"ok\", \"(\"]",
            Err(
                "kubernetes.allowed_images[1]: regex parse error:\n    ^(?:()$\n     ^\nerror: unclosed group",
            ),
            images,
        );
        let instance = |s: &Settings| s.instance_id.clone();
        check("instance_id = \"exec-0\"", Ok("exec-0"), instance);
        check(
            "instance_id = \"exec-0\"\non_shutdown = \"detach\"",
            Ok("exec-0"),
            instance,
        );
        check(
            "on_shutdown = \"detach\"",
            Err(
                "kubernetes.on_shutdown: detach needs an explicit instance_id that stays the same across restarts",
            ),
            instance,
        );
        check(
            "instance_id = \" \"",
            Err("kubernetes.instance_id: must not be empty"),
            instance,
        );
        let prefix = |s: &Settings| s.config.label_prefix.clone();
        check(
            "label_prefix = \"jobs.example.com/\"",
            Ok("jobs.example.com/"),
            prefix,
        );
        check(
            "label_prefix = \"xxl-job\"",
            Err("kubernetes.label_prefix: \"xxl-job\" must end with '/'"),
            prefix,
        );
        check(
            "label_prefix = \"Bad_Prefix/\"",
            Err("kubernetes.label_prefix: \"Bad_Prefix\" is not a valid label prefix (a DNS subdomain)"),
            prefix,
        );
        let modes = |s: &Settings| {
            format!(
                "{:?} {:?} {:?}",
                s.config.mode, s.config.cleanup, s.config.orphan_policy
            )
        };
        check(
            "mode = \"in-cluster\"\ncleanup = \"on-success\"\norphan_policy = \"delete\"",
            Ok("InCluster OnSuccess Delete"),
            modes,
        );
        check(
            "mode = \"cluster\"",
            Err("unknown variant `cluster`, expected one of `auto`, `in-cluster`, `kubeconfig`"),
            modes,
        );
        check(
            "unknown_key = 1",
            Err(
                "unknown field `unknown_key`, expected one of `enabled`, `app_name`, `path_prefix`, `mode`, `kubeconfig`, `context`, `api_timeout`, `default_namespace`, `allowed_namespaces`, `allowed_service_accounts`, `allow_privileged`, `allowed_images`, `pod_defaults`, `label_prefix`, `instance_id`, `startup_timeout`, `fail_fast_reasons`, `kill_grace_period`, `deadline_margin`, `job_ttl_after_finished`, `cleanup`, `retain_finished`, `janitor_interval`, `orphan_grace`, `orphan_policy`, `on_shutdown`, `shutdown_grace`, `max_running`, `log_drain_timeout`, `max_log_bytes`, `copy_events`, `emit_events`",
            ),
            modes,
        );
        check(
            "path_prefix = \"k8s\"",
            Err("kubernetes.path_prefix: \"k8s\" must start with '/'"),
            modes,
        );
        check(
            "max_running = 0",
            Err("kubernetes.max_running: must be at least 1"),
            modes,
        );
        check(
            "app_name = \"\"",
            Err("kubernetes.app_name: must not be empty"),
            modes,
        );
        check(
            "fail_fast_reasons = [\"\"]",
            Err("kubernetes.fail_fast_reasons[0]: must not be empty"),
            modes,
        );
        check(
            "allowed_service_accounts = [\"UPPER\"]",
            Err("kubernetes.allowed_service_accounts[0]: \"UPPER\" is not a valid service account name"),
            modes,
        );
        check(
            "job_ttl_after_finished = 9999999999",
            Err("kubernetes.job_ttl_after_finished: is too large"),
            modes,
        );
    }

    #[test]
    fn pod_defaults_are_parsed_strictly() {
        let defaults = |s: &Settings| serde_json::to_string(&s.pod_defaults).unwrap();
        check(
            "pod_defaults = \"\"\"\nlabels: {team: data}\nnodeSelector: {pool: jobs}\ntolerations: [{key: jobs, operator: Exists}]\n\"\"\"",
            Ok(
                r#"{"labels":{"team":"data"},"annotations":{},"nodeSelector":{"pool":"jobs"},"tolerations":[{"key":"jobs","operator":"Exists"}]}"#,
            ),
            defaults,
        );
        check(
            "pod_defaults = \"\"\"\nresources: {limits: {memory: 1Gi}}\nsecurityContext: {runAsNonRoot: true}\n\"\"\"",
            Ok(
                r#"{"labels":{},"annotations":{},"nodeSelector":{},"resources":{"limits":{"memory":"1Gi"}},"securityContext":{"runAsNonRoot":true}}"#,
            ),
            defaults,
        );
        check(
            "pod_defaults = \"tolerations: [{key: jobs, operater: Exists}]\"",
            Err("kubernetes.pod_defaults.tolerations[0].operater: unknown field"),
            defaults,
        );
        check(
            "pod_defaults = \"nodeSelectors: {}\"",
            Err(
                "kubernetes.pod_defaults.nodeSelectors: unknown field `nodeSelectors`, expected one of `labels`, `annotations`, `imagePullSecrets`, `nodeSelector`, `tolerations`, `resources`, `securityContext`, `containerSecurityContext`",
            ),
            defaults,
        );
    }
}
