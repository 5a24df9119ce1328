//! The scheduling center: decides when a job fires and where it runs, calls executors and keeps the logs.

pub mod route;
pub mod trigger;
