//! Turns a parsed manifest into the object created for one execution (§3 and §4 of the Kubernetes executor
//! specification): server-managed fields dropped, namespace and deterministic name set, restart policy,
//! back-off and TTL fixed, the deadline backstop and token default applied, the configured defaults merged
//! underneath, and the executor's labels, annotations and environment added on top.
//!
//! Everything here is a pure function of the manifest, the trigger and the settings, so a repeated trigger
//! produces the same object (same name) and creation is idempotent. The security policy is checked on the
//! result by [`crate::policy`]; nothing here talks to the API.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};
use xjob_protocol::{JobId, LogId, TriggerRequest};

use crate::config::{Cleanup, PodDefaults, Settings};
use crate::manifest::{self, LogContainers, ManifestError, Parsed, RESERVED_ANNOTATIONS, Workload};
use crate::naming::{label_value, object_name};

/// Label that marks every object this executor creates (value [`MANAGED_BY_VALUE`]).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "xxl-job-executor";

/// The trigger facts that shape the created object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    /// The job.
    pub job_id: JobId,
    /// The execution; part of the object name.
    pub log_id: LogId,
    /// Trigger time, epoch milliseconds.
    pub log_date_time: i64,
    /// Timeout in seconds; `<= 0` means none.
    pub executor_timeout: i32,
    /// Shard index (0 when not broadcasting).
    pub broadcast_index: i32,
    /// Shard count (1 when not broadcasting).
    pub broadcast_total: i32,
}

/// The object to create and what the lifecycle needs to know about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// The normalised object; namespace and name are always set.
    pub workload: Workload,
    /// The executor options with configuration defaults filled in.
    pub options: ExecutionOptions,
    /// Lines for the execution log about changes made to the manifest (replaced restart policy, overwritten
    /// environment variables).
    pub notes: Vec<String>,
}

/// Executor options resolved against the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionOptions {
    /// What happens to the object once the result is known.
    pub cleanup: Cleanup,
    /// Longest time from creation until the first container runs.
    pub startup_timeout: Duration,
    /// Grace period used when the executor deletes the object.
    pub kill_grace_period: Duration,
    /// Which containers' output is copied.
    pub log_containers: LogContainers,
    /// Whether copied lines get the container's timestamp.
    pub log_timestamps: bool,
}

/// The executor's label and annotation keys under one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// Label: the executor's AppName.
    pub app: String,
    /// Label: the executor instance id.
    pub instance: String,
    /// Label: `jobId`.
    pub job_id: String,
    /// Label: `logId`.
    pub log_id: String,
    /// Label: `broadcastIndex`.
    pub shard_index: String,
    /// Label: `broadcastTotal`.
    pub shard_total: String,
    /// Annotation: `logDateTime` (epoch ms), needed to reopen the execution log after a restart.
    pub log_date_time: String,
    /// Annotation: `executorTimeout` seconds.
    pub timeout: String,
    /// Annotation: RFC 3339 instant after which the janitor removes a kept object.
    pub retain_until: String,
}

impl Execution {
    /// The trigger facts of a `/run` request.
    pub fn from_trigger(trigger: &TriggerRequest) -> Execution {
        Execution {
            job_id: trigger.job_id,
            log_id: trigger.log_id,
            log_date_time: trigger.log_date_time,
            executor_timeout: trigger.executor_timeout,
            broadcast_index: trigger.broadcast_index,
            broadcast_total: trigger.broadcast_total,
        }
    }
}

impl Keys {
    /// The keys under `prefix` (e.g. `xxl-job/`).
    pub fn new(prefix: &str) -> Keys {
        Keys {
            app: format!("{prefix}app"),
            instance: format!("{prefix}instance"),
            job_id: format!("{prefix}job-id"),
            log_id: format!("{prefix}log-id"),
            shard_index: format!("{prefix}shard-index"),
            shard_total: format!("{prefix}shard-total"),
            log_date_time: format!("{prefix}log-date-time"),
            timeout: format!("{prefix}timeout"),
            retain_until: format!("{prefix}retain-until"),
        }
    }
}

/// The label selector matching every object of this executor instance (for the shared watch and the
/// janitor).
pub fn instance_selector(settings: &Settings) -> String {
    let keys = Keys::new(&settings.config.label_prefix);
    format!(
        "{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{}={},{}={}",
        keys.app,
        label_value(&settings.config.app_name),
        keys.instance,
        label_value(&settings.instance_id)
    )
}

/// The names of the environment variables the executor sets in every container, in the order they are set.
pub const ENV_NAMES: [&str; 6] = [
    "XXL_JOB_JOB_ID",
    "XXL_JOB_LOG_ID",
    "XXL_JOB_LOG_DATE_TIME",
    "XXL_JOB_SHARD_INDEX",
    "XXL_JOB_SHARD_TOTAL",
    "XXL_JOB_TIMEOUT",
];

/// Builds the object to create for `execution` from a parsed manifest.
pub fn normalise(
    parsed: Parsed,
    execution: &Execution,
    settings: &Settings,
) -> Result<Prepared, ManifestError> {
    let Parsed {
        mut workload,
        options,
    } = parsed;
    let config = &settings.config;
    let mut notes = Vec::new();

    drop_server_fields(&mut workload);
    let metadata = workload.metadata_mut();
    if metadata.namespace.as_deref().is_none_or(str::is_empty) {
        metadata.namespace = Some(settings.default_namespace.clone());
    }
    let base = match (&metadata.name, &metadata.generate_name) {
        (Some(name), _) if !name.is_empty() => name.clone(),
        (_, Some(generate)) => generate.trim_end_matches('-').to_owned(),
        _ => String::new(),
    };
    let fallback = format!("xxl-job-{}", execution.job_id.0);
    metadata.name = Some(object_name(&base, &fallback, execution.log_id.0));
    metadata.generate_name = None;

    let backstop = (execution.executor_timeout > 0).then(|| {
        let margin = i64::try_from(config.deadline_margin.as_secs()).unwrap_or(i64::MAX);
        i64::from(execution.executor_timeout).saturating_add(margin)
    });
    match &mut workload {
        Workload::Pod(pod) => {
            let spec = pod.spec.as_mut().ok_or_else(missing_spec)?;
            if let Some(policy) = spec.restart_policy.as_deref().filter(|policy| *policy != "Never") {
                notes.push(format!(
                    "restartPolicy {policy} replaced by Never: each execution runs once"
                ));
            }
            spec.restart_policy = Some("Never".to_owned());
            spec.active_deadline_seconds = tighter_deadline(spec.active_deadline_seconds, backstop);
        }
        Workload::Job(job) => {
            let spec = job.spec.as_mut().ok_or_else(missing_spec)?;
            let pod_spec = spec.template.spec.as_mut().ok_or_else(missing_spec)?;
            match pod_spec.restart_policy.as_deref() {
                Some("OnFailure") | Some("Never") | None => {}
                Some(policy) => notes.push(format!("pod template restartPolicy {policy} replaced by Never")),
            }
            if pod_spec.restart_policy.as_deref() != Some("OnFailure") {
                pod_spec.restart_policy = Some("Never".to_owned());
            }
            // The admin's fail-retry is the retry mechanism, so Kubernetes retries only when asked for. A
            // per-index limit passes through untouched: a job-wide limit of 0 would end an Indexed Job at its
            // first failed index, so the Kubernetes default (no job-wide limit) is left to apply.
            if spec.backoff_limit_per_index.is_none() {
                spec.backoff_limit.get_or_insert(0);
            }
            spec.ttl_seconds_after_finished
                .get_or_insert(i32::try_from(config.job_ttl_after_finished.as_secs()).unwrap_or(i32::MAX));
            spec.active_deadline_seconds = tighter_deadline(spec.active_deadline_seconds, backstop);
        }
    }
    let pod_spec = workload.pod_spec_mut().ok_or_else(missing_spec)?;
    pod_spec.automount_service_account_token.get_or_insert(false);

    if let Some(defaults) = &settings.pod_defaults {
        apply_defaults(&mut workload, defaults)?;
    }
    add_labels_and_annotations(&mut workload, execution, settings);
    let overwritten = add_env(&mut workload, execution);
    if !overwritten.is_empty() {
        notes.push(format!(
            "reserved environment variables overwritten: {}",
            overwritten.join(", ")
        ));
    }

    let options = ExecutionOptions {
        cleanup: options.cleanup.unwrap_or(config.cleanup),
        startup_timeout: options.startup_timeout.unwrap_or(config.startup_timeout),
        kill_grace_period: options.kill_grace_period.unwrap_or(config.kill_grace_period),
        log_containers: options.log_containers,
        log_timestamps: options.log_timestamps,
    };
    Ok(Prepared {
        workload,
        options,
        notes,
    })
}

/// The normalised object as YAML for the execution log, with literal values of environment variables whose
/// names look secret replaced by `***` (values taken from Secrets by reference are not in the manifest).
pub fn masked_manifest(workload: &Workload) -> String {
    let mut tree = workload.to_json();
    mask_env(&mut tree);
    render(&tree)
}

/// The job parameter as written, masked like [`masked_manifest`], for the generic `Param:` start line of the
/// execution log. A parameter that is not one YAML or JSON document is not shown at all, since nothing in it
/// can be told apart from a secret.
pub fn masked_parameter(parameter: &str) -> String {
    match manifest::document(parameter) {
        Ok(mut tree) => {
            mask_env(&mut tree);
            render(&tree)
        }
        Err(_) => "(not a single YAML or JSON document; not shown)".to_owned(),
    }
}

/// Replaces secret-looking literal `env` values in every container list of a Pod or Job tree.
fn mask_env(tree: &mut Value) {
    for pointer in ["/spec", "/spec/template/spec"] {
        let Some(spec) = tree.pointer_mut(pointer) else {
            continue;
        };
        for list in ["initContainers", "containers"] {
            let containers = spec
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten();
            let variables = containers
                .filter_map(|c| c.get_mut("env"))
                .filter_map(Value::as_array_mut)
                .flatten();
            for variable in variables {
                let secret = variable
                    .get("name")
                    .and_then(Value::as_str)
                    .is_some_and(looks_secret);
                if secret && let Some(value) = variable.get_mut("value") {
                    *value = Value::String("***".to_owned());
                }
            }
        }
    }
}

fn render(tree: &Value) -> String {
    serde_yaml_ng::to_string(tree).unwrap_or_else(|cause| format!("(manifest not printable: {cause})"))
}

/// Whether an environment variable's name suggests its value is a secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "KEY", "CREDENTIAL"]
        .iter()
        .any(|word| upper.contains(word))
}

fn missing_spec() -> ManifestError {
    // Parsing guarantees a pod spec; this only guards callers that build a Parsed by hand.
    ManifestError::Field {
        path: "spec".to_owned(),
        reason: "missing".to_owned(),
    }
}

/// The manifest's own deadline when it is already tighter than the backstop.
fn tighter_deadline(manifest: Option<i64>, backstop: Option<i64>) -> Option<i64> {
    match (manifest, backstop) {
        (Some(own), Some(backstop)) => Some(own.min(backstop)),
        (own, backstop) => own.or(backstop),
    }
}

/// Removes what the API server manages, so a manifest exported with `kubectl get -o yaml` can be pasted.
fn drop_server_fields(workload: &mut Workload) {
    let metadata = workload.metadata_mut();
    *metadata = ObjectMeta {
        uid: None,
        resource_version: None,
        creation_timestamp: None,
        deletion_timestamp: None,
        deletion_grace_period_seconds: None,
        generation: None,
        managed_fields: None,
        owner_references: None,
        finalizers: None,
        self_link: None,
        ..std::mem::take(metadata)
    };
    match workload {
        Workload::Pod(pod) => pod.status = None,
        Workload::Job(job) => {
            job.status = None;
            // An exported Job carries the selector and template labels its controller generated; sent back,
            // they would be rejected (or would tie the new Job to the old one's uid).
            if let Some(spec) = job
                .spec
                .as_mut()
                .filter(|spec| spec.manual_selector != Some(true))
            {
                spec.selector = None;
                if let Some(labels) = spec.template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
                    for key in [
                        "controller-uid",
                        "batch.kubernetes.io/controller-uid",
                        "job-name",
                        "batch.kubernetes.io/job-name",
                    ] {
                        labels.remove(key);
                    }
                }
            }
        }
    }
}

/// Merges the defaults template under the manifest: anything the manifest sets wins.
fn apply_defaults(workload: &mut Workload, defaults: &PodDefaults) -> Result<(), ManifestError> {
    let fill = |metadata: &mut ObjectMeta| {
        fill_map(&mut metadata.labels, &defaults.labels);
        fill_map(&mut metadata.annotations, &defaults.annotations);
    };
    fill(workload.metadata_mut());
    if let Workload::Job(job) = workload
        && let Some(spec) = job.spec.as_mut()
    {
        fill(spec.template.metadata.get_or_insert_with(ObjectMeta::default));
    }

    let spec_path = workload.pod_spec_path();
    let pod_spec = workload.pod_spec_mut().ok_or_else(missing_spec)?;
    let mut tree = serde_json::to_value(&*pod_spec).map_err(|cause| ManifestError::Field {
        path: spec_path.to_owned(),
        reason: cause.to_string(),
    })?;
    let pod_level = json!({
        "imagePullSecrets": defaults.image_pull_secrets,
        "nodeSelector": defaults.node_selector,
        "tolerations": defaults.tolerations,
        "securityContext": defaults.security_context,
    });
    merge_under(&mut tree, &pod_level);
    let container_level = json!({
        "resources": defaults.resources,
        "securityContext": defaults.container_security_context,
    });
    for list in ["initContainers", "containers"] {
        for container in tree
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            merge_under(container, &container_level);
        }
    }
    *pod_spec = serde_json::from_value::<PodSpec>(tree).map_err(|cause| ManifestError::Field {
        path: spec_path.to_owned(),
        reason: cause.to_string(),
    })?;
    Ok(())
}

/// Copies into `target` every part of `defaults` that `target` lacks; objects are merged key by key, and any
/// other value present in `target` (including a list) is kept whole. Empty defaults add nothing.
fn merge_under(target: &mut Value, defaults: &Value) {
    let (Value::Object(target), Value::Object(defaults)) = (target, defaults) else {
        return;
    };
    for (key, default) in defaults {
        let empty = match default {
            Value::Null => true,
            Value::Object(map) => map.is_empty(),
            Value::Array(list) => list.is_empty(),
            _ => false,
        };
        if empty {
            continue;
        }
        match target.get_mut(key) {
            Some(existing) if !existing.is_null() => merge_under(existing, default),
            _ => {
                target.insert(key.clone(), default.clone());
            }
        }
    }
}

fn fill_map(target: &mut Option<BTreeMap<String, String>>, defaults: &BTreeMap<String, String>) {
    if defaults.is_empty() {
        return;
    }
    let target = target.get_or_insert_with(BTreeMap::new);
    for (key, value) in defaults {
        target.entry(key.clone()).or_insert_with(|| value.clone());
    }
}

fn add_labels_and_annotations(workload: &mut Workload, execution: &Execution, settings: &Settings) {
    let keys = Keys::new(&settings.config.label_prefix);
    let labels = [
        (MANAGED_BY_LABEL.to_owned(), MANAGED_BY_VALUE.to_owned()),
        (keys.app.clone(), label_value(&settings.config.app_name)),
        (keys.instance.clone(), label_value(&settings.instance_id)),
        (keys.job_id.clone(), execution.job_id.0.to_string()),
        (keys.log_id.clone(), execution.log_id.0.to_string()),
        (keys.shard_index.clone(), execution.broadcast_index.to_string()),
        (keys.shard_total.clone(), execution.broadcast_total.to_string()),
    ];
    let set_labels = |metadata: &mut ObjectMeta| {
        metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .extend(labels.iter().cloned());
    };
    let metadata = workload.metadata_mut();
    set_labels(metadata);
    let annotations = metadata.annotations.get_or_insert_with(BTreeMap::new);
    // Only the executor sets these; any copy from an exported object is stale.
    for name in RESERVED_ANNOTATIONS {
        annotations.remove(&format!("{}{name}", settings.config.label_prefix));
    }
    annotations.insert(keys.log_date_time.clone(), execution.log_date_time.to_string());
    annotations.insert(
        keys.timeout.clone(),
        execution.executor_timeout.max(0).to_string(),
    );
    if let Workload::Job(job) = workload
        && let Some(spec) = job.spec.as_mut()
    {
        set_labels(spec.template.metadata.get_or_insert_with(ObjectMeta::default));
    }
}

/// Sets the executor's variables in every container; returns `container/NAME` for each user value replaced.
fn add_env(workload: &mut Workload, execution: &Execution) -> Vec<String> {
    let values = [
        execution.job_id.0.to_string(),
        execution.log_id.0.to_string(),
        execution.log_date_time.to_string(),
        execution.broadcast_index.to_string(),
        execution.broadcast_total.to_string(),
        execution.executor_timeout.max(0).to_string(),
    ];
    let mut overwritten = Vec::new();
    let Some(spec) = workload.pod_spec_mut() else {
        return overwritten;
    };
    let containers: Vec<&mut Container> = spec
        .init_containers
        .iter_mut()
        .flatten()
        .chain(spec.containers.iter_mut())
        .collect();
    for container in containers {
        let env = container.env.get_or_insert_with(Vec::new);
        env.retain(|variable| {
            let reserved = ENV_NAMES.contains(&variable.name.as_str());
            if reserved {
                overwritten.push(format!("{}/{}", container.name, variable.name));
            }
            !reserved
        });
        // Ours go first: Kubernetes expands `$(NAME)` in a variable's value only from variables defined before
        // it, so user variables can then be built from the shard index and the log id.
        let ours = ENV_NAMES.iter().zip(&values).map(|(name, value)| EnvVar {
            name: (*name).to_owned(),
            value: Some(value.clone()),
            value_from: None,
        });
        env.splice(0..0, ours);
    }
    overwritten
}

#[cfg(test)]
mod tests;
