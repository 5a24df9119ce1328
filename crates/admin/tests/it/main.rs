//! Storage integration tests: one suite body per test, run on SQLite and, when configured, on MySQL
//! and PostgreSQL (see `xjob_test_support::db`), plus adoption of upstream MySQL schemas.

// Helpers outside #[test] functions panic on setup failures, which is the clearest test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adopt;
mod executor_api;
mod groups;
mod job_api;
mod jobs;
mod lock;
mod logs;
mod migrations;
mod pipeline;
mod results;
mod retry;
mod scheduler;
mod support;
mod trigger_rig;
mod users;
