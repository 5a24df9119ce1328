//! Integration tests of the `xjob` binary, run as a real child process.

// Helpers outside `#[test]` functions panic on purpose: a failed set-up is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod cron_batch;
mod cron_next;
mod executor;
mod kubernetes;

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

/// Runs `xjob` with `args`, feeding `stdin`, and waits for it to finish.
pub(crate) fn xjob(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xjob"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the xjob binary starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    // Write from a thread so a full stdout pipe cannot deadlock against a full stdin pipe.
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    let output = child.wait_with_output().expect("xjob runs to completion");
    writer
        .join()
        .expect("the stdin writer does not panic")
        .expect("xjob reads all of stdin");
    output
}
