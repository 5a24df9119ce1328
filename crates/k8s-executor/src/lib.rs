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

pub use naming::{label_value, object_name};

/// The handler name under which the executor registers this handler (glue type `BEAN`).
pub const HANDLER_NAME: &str = "kubernetesJobHandler";
