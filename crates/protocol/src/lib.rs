//! The wire vocabulary between the XXL-JOB-compatible scheduling center ("admin") and executors, in all three
//! protocol generations: request and reply bodies, the reply [`Envelope`], result [`code`]s, enums with their
//! upstream spellings, endpoint paths and header names, the fixed reply texts ([`message`]), the access check
//! ([`authorize`]) and address helpers ([`address`]).
//!
//! Data and serde only: no async runtime, HTTP stack or database driver, so the executor SDK, the admin and
//! the Kubernetes executor can all build on it. Callers bring their own JSON crate and HTTP types.
//!
//! # Decoding and encoding
//!
//! Every body implements `serde::Deserialize` and accepts what any upstream generation sends (unknown
//! properties ignored, `null` and missing treated alike, both spellings where upstream renamed a property).
//! Bodies that every generation writes the same implement `Serialize` directly. The rest take the
//! [`Dialect`] to imitate: [`Envelope::encode`] (which also takes the [`Side`]), [`LogRequest::encode`],
//! [`CallbackItem::encode`], [`CallbackBody::encode`]; each returns a value to hand to any serde serializer.
//!
//! ```
//! use xjob_protocol::{Dialect, Envelope, LogResult, Side};
//!
//! // An executor answering `/log` to an admin of unknown generation.
//! let reply = Envelope::success_with(LogResult { from_line_num: 1, ..LogResult::default() });
//! let json = serde_json::to_string(&reply.encode(Side::Executor, Dialect::Peer)).unwrap();
//! assert_eq!(
//!     json,
//!     r#"{"code":200,"msg":"Success","content":{"fromLineNum":1,"toLineNum":0,"logContent":"","isEnd":false},"data":{"fromLineNum":1,"toLineNum":0,"logContent":"","isEnd":false}}"#
//! );
//! let decoded: Envelope<LogResult> = serde_json::from_str(&json).unwrap();
//! assert_eq!(decoded.data, reply.data);
//! ```
#![warn(missing_docs)]

pub mod address;
mod admin_api;
mod auth;
mod endpoint;
mod envelope;
mod executor_api;
mod generation;
mod java;
mod job;
pub mod job_api;
pub mod message;
mod wire_enum;

pub use admin_api::{
    CallbackBody, CallbackItem, CallbackShape, REGISTRY_BEAT_INTERVAL, REGISTRY_DEAD_TIMEOUT, RegistryGroup,
    RegistryRequest,
};
pub use auth::{AccessRule, AuthFailure, Credentials, authorize};
pub use endpoint::{
    ACCESS_TOKEN_HEADER, ADMIN_API_PATH, APP_NAME_HEADER, AdminEndpoint, EXECUTOR_REPLY_CONTENT_TYPE,
    ExecutorEndpoint, REQUEST_CONTENT_TYPE,
};
pub use envelope::{Envelope, code};
pub use executor_api::{JobIdRequest, LogRequest, LogResult, TriggerRequest, beat_request_body};
pub use generation::{Dialect, Generation, Side};
pub use job::{BlockStrategy, GlueType, JobId, LogId};
pub use wire_enum::{Lenient, UnknownName, WireEnum};
