//! Integration tests of `xjob-protocol`: the golden wire files under `tests/golden/`.

// Helpers outside `#[test]` functions read the crate's own golden files; a missing or unreadable file is a
// broken checkout and should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod golden;
