//! Routing: which executor address of a job's group receives a trigger. The ten strategies of upstream's
//! `executor_route_strategy` ([`RouteStrategy`]), the per-admin in-memory state some of them keep
//! ([`Router`]), the probe FAILOVER and BUSYOVER call ([`Probe`]), and the shard → address rule of
//! SHARDING_BROADCAST ([`shard_address`]).
//!
//! Pure decisions over the address list, the job id, `now` and an injectable random source: no HTTP, no
//! storage and no message texts live here. The probes go through whatever [`Probe`] the caller supplies, and
//! the trigger module renders attempts and failures as the console's HTML.

mod hash;
mod probe;
mod router;
mod strategy;

pub use probe::{Probe, ProbeAttempt, ProbeKind};
pub use router::{RandomSource, RouteFailure, Routed, Router, ThreadRandom, shard_address};
pub use strategy::{RouteStrategy, UnknownRouteStrategy};
