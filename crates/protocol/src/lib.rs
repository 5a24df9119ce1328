//! The wire vocabulary between the scheduling center and executors.
