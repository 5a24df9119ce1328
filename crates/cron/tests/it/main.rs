//! Integration tests of the cron crate: the shared conformance records.

mod conformance;
