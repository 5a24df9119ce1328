//! Integration tests of the executor SDK: a real executor on loopback driven over HTTP by the stand-in admin
//! of each protocol generation.

// Helpers outside `#[test]` functions panic on setup failures too: in a test that is the clearest report.
#![allow(clippy::unwrap_used)]

mod callbacks;
mod harness;
mod jobs;
mod lifecycle;
mod mounted;
mod protocol;
mod pyxxl;
