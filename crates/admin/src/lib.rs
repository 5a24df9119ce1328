//! The scheduling center.
