//! The Kubernetes handler.
