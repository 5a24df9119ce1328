//! Integration tests of the handler's pure core against the Kubernetes API-server stand-in: the normalised
//! objects are accepted by an API server, the injected environment reaches the processes, and the result
//! mapping reads the statuses a kubelet really writes.

// Helpers outside #[test] functions panic on setup failures, which is the clearest test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod standin;
