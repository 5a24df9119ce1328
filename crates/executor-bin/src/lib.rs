//! The ready executor.
