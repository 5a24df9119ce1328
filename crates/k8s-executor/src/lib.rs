//! The Kubernetes handler (`kubernetesJobHandler`): every execution runs as one Pod or batch/v1 Job built
//! from the job parameter.
//!
//! This crate holds the pure core of the handler, free of API calls so it is tested without a cluster:
//! - [`config`]: the `kubernetes` configuration section, parsed and validated into [`config::Settings`];
//! - [`manifest`]: the job parameter parsed strictly into a typed [`manifest::Workload`], with the
//!   executor options read from its annotations;
//! - [`normalise`]: the copy that is actually created — name, namespace, restart policy, deadline backstop,
//!   defaults template, reserved labels, annotations and environment;
//! - [`policy`]: the security policy checked before any API call;
//! - [`outcome`]: the mapping from observed Pod/Job status to the result reported to the admin.
//!
//! [`prepare`] chains parsing, normalisation and policy the way a trigger needs them.
//!
//! The lifecycle talks to the Kubernetes API through the real `kube` client only:
//! - [`KubernetesExecutor`] (module `runtime`): builds everything from [`config::Settings`] — the client
//!   ([`api::connect`]), the permission self-check ([`rbac`]), the handler ([`KubernetesJobHandler`]) and the
//!   janitor — for a standalone executor or the admin to embed;
//! - `lifecycle`: create (adopting on `409` for the same execution), supervise through the shared watch,
//!   delete on kill/timeout, cleanup policy; `hub`: one watch of Pods and Jobs per namespace fanned out by
//!   log id; `logcopy`: live log copy with lossless resume; `janitor`: orphans and retention.
//!
//! ```
//! use xjob_k8s_executor::config::{Host, KubernetesConfig};
//! use xjob_k8s_executor::normalise::Execution;
//! use xjob_k8s_executor::prepare;
//! use xjob_protocol::{JobId, LogId};
//!
//! let host = Host { in_cluster_namespace: None, host_name: "exec-0".to_owned() };
//! let settings = KubernetesConfig::default().validate(&host)?;
//! let execution = Execution {
//!     job_id: JobId(7),
//!     log_id: LogId(42),
//!     log_date_time: 1_700_000_000_000,
//!     executor_timeout: 60,
//!     broadcast_index: 0,
//!     broadcast_total: 1,
//! };
//! let parameter = "apiVersion: v1\nkind: Pod\nmetadata: {name: report}\nspec: {containers: [{name: main, image: busybox}]}";
//! let prepared = prepare(parameter, &execution, &settings)?;
//! assert_eq!(prepared.workload.qualified_name(), "default/report-42");
//!
//! let misspelt = parameter.replace("image:", "imag:");
//! let error = prepare(&misspelt, &execution, &settings).unwrap_err();
//! assert_eq!(error.to_string(), "invalid kubernetes manifest: spec.containers[0].imag: unknown field");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod api;
pub mod config;
mod handler;
mod hub;
mod janitor;
mod lifecycle;
mod logcopy;
pub mod manifest;
mod naming;
pub mod normalise;
pub mod outcome;
pub mod policy;
pub mod rbac;
mod runtime;

pub use handler::KubernetesJobHandler;
pub use naming::{label_value, object_name};
pub use runtime::KubernetesExecutor;

use crate::config::Settings;
use crate::manifest::ManifestError;
use crate::normalise::{Execution, Prepared};
use crate::policy::PolicyError;

/// The handler name under which the executor registers this handler (glue type `BEAN`).
pub const HANDLER_NAME: &str = "kubernetesJobHandler";

/// Why a job parameter cannot be run; its `Display` is the execution's `handleMsg` (code 500).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The parameter is not one acceptable Pod or Job manifest.
    #[error("invalid kubernetes manifest: {0}")]
    Manifest(#[from] ManifestError),
    /// The manifest is well formed but the security policy forbids it.
    #[error("kubernetes policy: {0}")]
    Policy(#[from] PolicyError),
}

/// Parses the job parameter, normalises it for one execution and checks the security policy on the result,
/// so the object handed back is exactly what may be created.
pub fn prepare(
    parameter: &str,
    execution: &Execution,
    settings: &Settings,
) -> Result<Prepared, PrepareError> {
    let parsed = manifest::parse(parameter, &settings.config.label_prefix)?;
    let prepared = normalise::normalise(parsed, execution, settings)?;
    policy::check(&prepared.workload, settings)?;
    Ok(prepared)
}

#[cfg(test)]
mod tests {
    use xjob_protocol::{JobId, LogId};

    use super::*;
    use crate::config::Host;

    fn check(parameter: &str, expected: Result<&str, &str>) {
        let settings = Settings::from_defaults(&Host {
            in_cluster_namespace: None,
            host_name: "h".to_owned(),
        })
        .unwrap();
        let execution = Execution {
            job_id: JobId(1),
            log_id: LogId(2),
            log_date_time: 0,
            executor_timeout: 0,
            broadcast_index: 0,
            broadcast_total: 1,
        };
        let got = prepare(parameter, &execution, &settings)
            .map(|prepared| prepared.workload.qualified_name())
            .map_err(|error| error.to_string());
        assert_eq!(
            got,
            expected.map(str::to_owned).map_err(str::to_owned),
            "{parameter}"
        );
    }

    #[test]
    fn prepare_reports_manifest_and_policy_failures() {
        check(
            "apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a}]}",
            Ok("default/xxl-job-1-2"),
        );
        check(
            "",
            Err("invalid kubernetes manifest: the job parameter is empty; expected a Pod or Job manifest"),
        );
        check(
            "apiVersion: batch/v1\nkind: CronJob",
            Err(
                "invalid kubernetes manifest: unsupported CronJob (apiVersion batch/v1); expected a v1 Pod or a batch/v1 Job",
            ),
        );
        check(
            "apiVersion: v1\nkind: Pod\nspec: {hostNetwork: true, containers: [{name: a}]}",
            Err("kubernetes policy: spec.hostNetwork: host namespaces are not allowed"),
        );
        check(
            "apiVersion: v1\nkind: Pod\nmetadata: {namespace: prod}\nspec: {containers: [{name: a}]}",
            Err(
                "kubernetes policy: metadata.namespace: namespace \"prod\" is not allowed (allowed: default)",
            ),
        );
    }
}
