//! Integration tests of the ready executor: real executors on loopback, real child processes, the stand-in
//! admin of `xjob-test-support` and a local HTTP server.
// Helpers outside `#[test]` functions panic on purpose: a failed set-up is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod command;
mod harness;
mod http;
mod scripts;
