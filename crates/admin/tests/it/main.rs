//! Integration tests: storage suites run on SQLite and, when configured, on MySQL and PostgreSQL (see
//! `xjob_test_support::db`), adoption of upstream MySQL schemas, the first administrator, the log report
//! monitor, a whole admin started on 127.0.0.1:0, and end-to-end scenarios of that admin driving real
//! executors (`e2e`).

// Helpers outside #[test] functions panic on setup failures, which is the clearest test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adopt;
mod app;
mod e2e;
mod executor_api;
mod first_start;
mod groups;
mod job_api;
mod jobs;
mod lock;
mod logs;
mod migrations;
mod pipeline;
mod planned;
mod pyxxl;
mod report_monitor;
mod results;
mod retry;
mod scheduler;
mod support;
mod trigger_rig;
mod users;
