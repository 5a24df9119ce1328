//! The scheduling center ("admin") as a library: domain types in [`model`] and every SQL statement in
//! [`store`]. The scheduler, trigger, registry, web and console layers build on these two modules; a thin
//! binary composes them.
//!
//! Nothing here speaks HTTP yet, and nothing in [`model`] or [`store`] knows about axum, status codes or
//! serde: the wire shapes belong to the protocol crate and the web layer.

pub mod model;
pub mod store;
