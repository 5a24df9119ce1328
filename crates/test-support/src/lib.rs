//! Helpers shared by the integration tests of every crate.

pub mod db;
