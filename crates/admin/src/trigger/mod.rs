//! Turning a fire into executor calls: the HTTP client that speaks each protocol generation to executors
//! ([`ExecutorClient`]) and the texts a trigger leaves in its log row ([`message`]).
//!
//! Choosing the address is [`crate::route`]'s job; when a job fires is the scheduler's. Storage of the log
//! row is not here either.

mod executor_client;
pub mod message;
pub mod pipeline;
mod request;
pub mod retry;

pub use executor_client::{ClientError, ClientOptions, ExecutorClient, ExecutorTarget, GroupProbe};
pub use pipeline::{Pipeline, PipelineDeps, PipelineHandle, PipelineLimits};
pub use request::{ExecutorGenerations, TriggerQueue, TriggerRejected, TriggerRequest, TriggerType};
