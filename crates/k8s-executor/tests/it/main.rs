//! Integration tests of the Kubernetes handler against the Kubernetes API-server stand-in (or a real cluster named
//! by `K8S_E2E_KUBECONFIG`, see `rig`), through the real
//! `kube` client: the pure core (`standin`) and the lifecycle through a real SDK executor and a stand-in admin
//! (`lifecycle`, `faults`, `janitor`).

// Helpers outside #[test] functions panic on setup failures, which is the clearest test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod faults;
mod janitor;
mod lifecycle;
mod rig;
mod standin;
