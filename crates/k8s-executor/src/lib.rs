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
//! [`prepare`] chains parsing, normalisation and policy the way a trigger needs them. The lifecycle (create,
//! watch, live log copy, kill, cleanup, janitor) builds on these pieces and is not here yet; it is also the only
//! part that will talk to the Kubernetes API.
#![warn(missing_docs)]

pub mod config;
pub mod manifest;
mod naming;
pub mod normalise;

pub use naming::{label_value, object_name};

use crate::config::Settings;
use crate::manifest::ManifestError;
use crate::normalise::{Execution, Prepared};

/// The handler name under which the executor registers this handler (glue type `BEAN`).
pub const HANDLER_NAME: &str = "kubernetesJobHandler";

/// Why a job parameter cannot be run; its `Display` is the execution's `handleMsg` (code 500).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The parameter is not one acceptable Pod or Job manifest.
    #[error("invalid kubernetes manifest: {0}")]
    Manifest(#[from] ManifestError),
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
    Ok(prepared)
}
