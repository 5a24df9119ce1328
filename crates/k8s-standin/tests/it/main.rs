//! Integration tests of the Kubernetes stand-in through the real `kube` client (and `kubectl`, when installed):
//! API semantics, watches, logs, the fake kubelet's process handling, the Job controller and every fault.

// Helpers outside #[test] functions panic on setup failures, which is the clearest test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod faults;
mod jobs;
mod kubectl;
mod kubelet;
mod logs;
mod security;
mod support;
mod watches;
