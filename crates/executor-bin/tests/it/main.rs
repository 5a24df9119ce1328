//! Integration tests of the ready executor: real executors on loopback, real child processes, a recording
//! admin and a local HTTP server.
// Helpers outside `#[test]` functions panic on purpose: a failed set-up is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod binary;
mod command;
mod harness;
mod http;
mod scripts;
