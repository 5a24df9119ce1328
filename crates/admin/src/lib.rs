//! The scheduling center ("admin") as a library. Domain types live in [`model`] and every SQL statement in
//! [`store`]; [`route`] decides where a trigger goes and [`trigger`] talks to executors and writes the trigger
//! message. The scheduler, registry, web and console layers build on these; a thin binary composes them.
//!
//! [`app`] composes a running admin from an [`AdminConfig`] ([`config`]); [`auth`] hashes console passwords
//! and creates the first administrator; [`report`] keeps the daily log report and deletes old logs.
//!
//! Nothing in [`model`] or [`store`] knows about axum, status codes or serde: the wire shapes belong to the
//! protocol crate and the web layer.

pub mod app;
pub mod auth;
pub mod complete;
pub mod config;
pub mod executor_api;
pub mod job_api;
pub mod model;
pub mod registry;
pub mod report;
pub mod route;
pub mod schedule;
pub mod store;
pub mod trigger;

pub use app::{Admin, AdminContext, AdminHandle, Background, Extension, ExtensionGroup, Mounted};
pub use config::AdminConfig;
