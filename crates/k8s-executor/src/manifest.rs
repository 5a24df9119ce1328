//! The job parameter as a manifest: exactly one `v1` Pod or `batch/v1` Job, in YAML or JSON, parsed into
//! the `k8s-openapi` types, plus the executor options written as annotations on its own `metadata`.
//!
//! # Strictness
//!
//! The `k8s-openapi` types skip unknown fields silently and accept a document without `apiVersion` or `kind`,
//! so a misspelt `imagePullPolcy` would vanish without a word. Parsing therefore happens in three steps:
//! 1. the text becomes a generic JSON tree, and `apiVersion`/`kind` are checked on that tree;
//! 2. the tree is deserialised into the typed object through `serde_path_to_error`, so a type error names the
//!    path of the offending value;
//! 3. the typed object is serialised again and compared with the tree: every key of the input (at any depth,
//!    through objects and arrays) must still be present in the output. A key that is gone was not a field of
//!    the type — it is reported with its path, e.g. `spec.containers[0].imagePullPolcy`. Keys whose value is
//!    `null` are exempt, since they carry nothing and typed serialisation omits them (`kubectl get -o yaml`
//!    writes `creationTimestamp: null`). Only keys are compared, never values, so normalised spellings of a
//!    value (`cpu: 1` read back as `"1"`) are not mistaken for losses.
//!
//! `status` is set aside before these steps: it is never sent, so it is neither checked nor kept.
//!
//! The same check serves the configuration's defaults template ([`strict_from_value`]). What the manifest
//! means for an execution (names, labels, deadlines) is decided in [`crate::normalise`], not here.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Cleanup;

/// The two kinds of object an execution can run as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `v1` Pod.
    Pod,
    /// `batch/v1` Job.
    Job,
}

/// A parsed manifest: the typed object to create.
#[derive(Clone, Debug, PartialEq)]
pub enum Workload {
    /// A bare Pod, run once.
    Pod(Box<Pod>),
    /// A Job; its pods are created by the Job controller.
    Job(Box<Job>),
}

/// A manifest and the executor options read from its annotations.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    /// The typed object as written.
    pub workload: Workload,
    /// The executor options (`<prefix>cleanup`, …); unset ones fall back to the configuration.
    pub options: Options,
}

/// Executor options set as annotations on the manifest's own `metadata`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `<prefix>cleanup`.
    pub cleanup: Option<Cleanup>,
    /// `<prefix>startup-timeout`, whole seconds.
    pub startup_timeout: Option<Duration>,
    /// `<prefix>kill-grace-period`, whole seconds.
    pub kill_grace_period: Option<Duration>,
    /// `<prefix>log-containers`.
    pub log_containers: LogContainers,
    /// `<prefix>log-timestamps`.
    pub log_timestamps: bool,
}

/// Which containers' output is copied into the execution log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LogContainers {
    /// Every init and app container (`*`, the default).
    #[default]
    All,
    /// The named containers only.
    Named(Vec<String>),
}

/// Why a job parameter is not an acceptable manifest; `Display` is the reason after
/// `invalid kubernetes manifest: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Nothing but whitespace, comments or empty documents.
    #[error("the job parameter is empty; expected a Pod or Job manifest")]
    Empty,
    /// More than one non-empty YAML document.
    #[error("the job parameter holds {0} documents; expected exactly one Pod or Job")]
    MultipleDocuments(usize),
    /// Not YAML or JSON at all.
    #[error("not valid YAML or JSON: {0}")]
    Syntax(String),
    /// The document is a scalar or a list.
    #[error("the document is not an object")]
    NotAnObject,
    /// `apiVersion` or `kind` is absent (or not a string).
    #[error("missing {0}")]
    Missing(&'static str),
    /// A kind other than `v1` Pod and `batch/v1` Job.
    #[error("unsupported {kind} (apiVersion {api_version}); expected a v1 Pod or a batch/v1 Job")]
    UnsupportedKind {
        /// The document's `apiVersion`.
        api_version: String,
        /// The document's `kind`.
        kind: String,
    },
    /// A value of the wrong type, a missing required field, or an unknown field.
    #[error("{path}: {reason}")]
    Field {
        /// Where, e.g. `spec.containers[0].imagePullPolcy`.
        path: String,
        /// What is wrong there.
        reason: String,
    },
}

/// A strict deserialisation failure: the path (empty for the root) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrictError {
    /// Where, in dotted form with `[index]` for list items.
    pub path: String,
    /// What is wrong there.
    pub reason: String,
}

impl fmt::Display for Kind {
    /// The lower-case word used in result messages (`pod ns/name failed: …`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Pod => "pod",
            Kind::Job => "job",
        })
    }
}

impl Workload {
    /// Pod or Job.
    pub fn kind(&self) -> Kind {
        match self {
            Workload::Pod(_) => Kind::Pod,
            Workload::Job(_) => Kind::Job,
        }
    }

    /// The object's own metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Workload::Pod(pod) => &pod.metadata,
            Workload::Job(job) => &job.metadata,
        }
    }

    /// The object's own metadata, mutable.
    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Workload::Pod(pod) => &mut pod.metadata,
            Workload::Job(job) => &mut job.metadata,
        }
    }

    /// The pod spec: the Pod's own, or the Job's template. Always present after [`parse`].
    pub fn pod_spec(&self) -> Option<&PodSpec> {
        match self {
            Workload::Pod(pod) => pod.spec.as_ref(),
            Workload::Job(job) => job.spec.as_ref().and_then(|spec| spec.template.spec.as_ref()),
        }
    }

    /// The pod spec, mutable.
    pub fn pod_spec_mut(&mut self) -> Option<&mut PodSpec> {
        match self {
            Workload::Pod(pod) => pod.spec.as_mut(),
            Workload::Job(job) => job.spec.as_mut().and_then(|spec| spec.template.spec.as_mut()),
        }
    }

    /// The path of the pod spec in the manifest, for messages.
    pub fn pod_spec_path(&self) -> &'static str {
        match self {
            Workload::Pod(_) => "spec",
            Workload::Job(_) => "spec.template.spec",
        }
    }

    /// `<namespace>/<name>` (empty parts when unset).
    pub fn qualified_name(&self) -> String {
        let metadata = self.metadata();
        format!(
            "{}/{}",
            metadata.namespace.as_deref().unwrap_or(""),
            metadata.name.as_deref().unwrap_or("")
        )
    }

    /// The object as JSON, as it would be sent to the API server.
    pub fn to_json(&self) -> Value {
        let result = match self {
            Workload::Pod(pod) => serde_json::to_value(pod),
            Workload::Job(job) => serde_json::to_value(job),
        };
        // The k8s-openapi types serialise infallibly into a JSON tree: every map key is a string and every
        // timestamp is formatted from a valid instant.
        result.expect("k8s-openapi objects always serialise to JSON")
    }
}

/// Parses the job parameter into one Pod or Job and its executor options (annotations under `label_prefix`).
pub fn parse(parameter: &str, label_prefix: &str) -> Result<Parsed, ManifestError> {
    let mut tree = document(parameter)?;
    let Value::Object(object) = &mut tree else {
        return Err(ManifestError::NotAnObject);
    };
    // The status is never sent (normalisation drops it) and an object exported from a newer cluster may
    // carry status fields this API level does not know, so it is set aside before the strict check.
    object.remove("status");
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or(ManifestError::Missing("apiVersion"))?;
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .ok_or(ManifestError::Missing("kind"))?;
    let workload = match (api_version, kind) {
        ("v1", "Pod") => Workload::Pod(Box::new(strict_from_value(tree.clone()).map_err(field_error)?)),
        ("batch/v1", "Job") => Workload::Job(Box::new(strict_from_value(tree.clone()).map_err(field_error)?)),
        _ => {
            return Err(ManifestError::UnsupportedKind {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            });
        }
    };
    check_shape(&workload)?;
    let options = options(&workload, label_prefix)?;
    Ok(Parsed { workload, options })
}

/// Deserialises `tree` into `T` and rejects every key the typed value would drop (see the module docs).
pub fn strict_from_value<T: DeserializeOwned + Serialize>(tree: Value) -> Result<T, StrictError> {
    let typed: T = serde_path_to_error::deserialize(&tree).map_err(|cause| StrictError {
        path: clean_path(cause.path().to_string()),
        reason: cause.inner().to_string(),
    })?;
    let round_trip = serde_json::to_value(&typed).map_err(|cause| StrictError {
        path: String::new(),
        reason: cause.to_string(),
    })?;
    let mut dropped = Vec::new();
    collect_dropped(&tree, &round_trip, "", &mut dropped);
    match dropped.split_first() {
        None => Ok(typed),
        Some((first, [])) => Err(StrictError {
            path: first.clone(),
            reason: "unknown field".to_owned(),
        }),
        Some((first, rest)) => Err(StrictError {
            path: first.clone(),
            reason: format!("unknown field (also unknown: {})", rest.join(", ")),
        }),
    }
}

/// The single non-empty document of `parameter`, as a generic tree.
pub(crate) fn document(parameter: &str) -> Result<Value, ManifestError> {
    let text = parameter.trim_start_matches('\u{feff}');
    if let Some(body) = text.trim_start().strip_prefix('{') {
        // JSON is valid YAML, but parsing it as JSON first also accepts tab indentation. A YAML flow mapping
        // (`{apiVersion: v1, …}`) fails here and goes on to the YAML parser; a document that looks like JSON
        // (a quoted first key) gets the JSON parser's error, which points at the real mistake.
        match serde_json::from_str(text) {
            Ok(value) => return Ok(value),
            Err(cause) if body.trim_start().starts_with('"') => {
                return Err(ManifestError::Syntax(cause.to_string()));
            }
            Err(_) => {}
        }
    }
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value: Value = serde::Deserialize::deserialize(document)
            .map_err(|cause| ManifestError::Syntax(cause.to_string()))?;
        // Empty documents (a trailing `---`, comments only) are skipped, as kubectl does.
        if !value.is_null() {
            documents.push(value);
        }
    }
    match documents.len() {
        0 => Err(ManifestError::Empty),
        1 => Ok(documents.remove(0)),
        count => Err(ManifestError::MultipleDocuments(count)),
    }
}

fn field_error(error: StrictError) -> ManifestError {
    ManifestError::Field {
        path: error.path,
        reason: error.reason,
    }
}

/// Checks what the API server would reject only after a round trip, or what makes no sense for an execution.
fn check_shape(workload: &Workload) -> Result<(), ManifestError> {
    let spec_path = workload.pod_spec_path();
    if let Workload::Job(job) = workload {
        let Some(spec) = &job.spec else {
            return Err(field(&"spec", "missing; a Job needs a spec with a pod template"));
        };
        if spec.suspend == Some(true) {
            return Err(field(&"spec.suspend", "a suspended Job would never run"));
        }
    }
    let Some(pod_spec) = workload.pod_spec() else {
        return Err(field(
            &spec_path,
            "missing; a pod spec with at least one container is required",
        ));
    };
    if pod_spec.containers.is_empty() {
        return Err(field(
            &format!("{spec_path}.containers"),
            "at least one container is required",
        ));
    }
    let lists = [
        (
            "initContainers",
            pod_spec.init_containers.as_deref().unwrap_or_default(),
        ),
        ("containers", &pod_spec.containers),
    ];
    for (list, containers) in lists {
        for (index, container) in containers.iter().enumerate() {
            if container.name.is_empty() {
                return Err(field(&format!("{spec_path}.{list}[{index}].name"), "required"));
            }
        }
    }
    Ok(())
}

fn field(path: &dyn fmt::Display, reason: &str) -> ManifestError {
    ManifestError::Field {
        path: path.to_string(),
        reason: reason.to_owned(),
    }
}

/// The option names, without the prefix, that a manifest may set.
const OPTION_NAMES: &str = "cleanup, startup-timeout, kill-grace-period, log-containers, log-timestamps";

/// Annotations under the prefix that the executor writes itself; a manifest copied from a live object may
/// carry them, and normalisation overwrites or removes them.
pub(crate) const RESERVED_ANNOTATIONS: [&str; 3] = ["log-date-time", "timeout", "retain-until"];

pub(crate) fn options(workload: &Workload, label_prefix: &str) -> Result<Options, ManifestError> {
    let mut options = Options::default();
    let empty = BTreeMap::new();
    let annotations = workload.metadata().annotations.as_ref().unwrap_or(&empty);
    for (key, value) in annotations {
        let Some(name) = key.strip_prefix(label_prefix) else {
            continue;
        };
        let path = format!("metadata.annotations.{key}");
        let value = value.trim();
        match name {
            "cleanup" => {
                options.cleanup = Some(match value {
                    "always" => Cleanup::Always,
                    "on-success" => Cleanup::OnSuccess,
                    "never" => Cleanup::Never,
                    _ => return Err(option_error(&path, value, "expected always, on-success or never")),
                });
            }
            "startup-timeout" => {
                let seconds = seconds(&path, value)?;
                if seconds == 0 {
                    return Err(option_error(&path, value, "must be at least 1 second"));
                }
                options.startup_timeout = Some(Duration::from_secs(seconds));
            }
            "kill-grace-period" => {
                options.kill_grace_period = Some(Duration::from_secs(seconds(&path, value)?))
            }
            "log-timestamps" => {
                options.log_timestamps = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(option_error(&path, value, "expected true or false")),
                };
            }
            "log-containers" => options.log_containers = log_containers(workload, &path, value)?,
            reserved if RESERVED_ANNOTATIONS.contains(&reserved) => {}
            _ => {
                return Err(ManifestError::Field {
                    path,
                    reason: format!("unknown executor option; known options are {OPTION_NAMES}"),
                });
            }
        }
    }
    Ok(options)
}

fn seconds(path: &str, value: &str) -> Result<u64, ManifestError> {
    value
        .parse()
        .map_err(|_| option_error(path, value, "expected whole seconds"))
}

fn log_containers(workload: &Workload, path: &str, value: &str) -> Result<LogContainers, ManifestError> {
    if value == "*" {
        return Ok(LogContainers::All);
    }
    let known: Vec<&str> = workload
        .pod_spec()
        .into_iter()
        .flat_map(|spec| spec.init_containers.iter().flatten().chain(&spec.containers))
        .map(|container| container.name.as_str())
        .collect();
    let mut names = Vec::new();
    for name in value.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(option_error(
                path,
                value,
                "expected `*` or a comma-separated list of container names",
            ));
        }
        if !known.contains(&name) {
            return Err(option_error(path, value, &format!("no container named {name:?}")));
        }
        names.push(name.to_owned());
    }
    Ok(LogContainers::Named(names))
}

fn option_error(path: &str, value: &str, reason: &str) -> ManifestError {
    ManifestError::Field {
        path: path.to_owned(),
        reason: format!("invalid value {value:?}: {reason}"),
    }
}

/// `serde_path_to_error` writes the root as `.`; messages use an empty path there.
fn clean_path(path: String) -> String {
    if path == "." { String::new() } else { path }
}

fn collect_dropped(input: &Value, output: &Value, path: &str, dropped: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(input), Value::Object(output)) => {
            for (key, value) in input {
                if value.is_null() {
                    continue;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match output.get(key) {
                    None => dropped.push(child),
                    Some(kept) => collect_dropped(value, kept, &child, dropped),
                }
            }
        }
        (Value::Array(input), Value::Array(output)) => {
            for (index, (value, kept)) in input.iter().zip(output).enumerate() {
                collect_dropped(value, kept, &format!("{path}[{index}]"), dropped);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
