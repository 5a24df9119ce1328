//! The probe FAILOVER and BUSYOVER call before choosing an address, and the record of each attempt that
//! the trigger message shows.
//!
//! The probe itself is the caller's: in production the executor client bound to the group's credentials,
//! in tests anything that answers.

use std::future::Future;

use xjob_protocol::{Envelope, JobId};

/// Asks executors whether they can take a trigger. An error of the call is reported as a failure envelope
/// carrying the error text, as upstream turns the exception into its message.
pub trait Probe {
    /// `/beat` on `address` (FAILOVER).
    fn beat<'a>(&'a self, address: &'a str) -> impl Future<Output = Envelope<String>> + Send + 'a;

    /// `/idleBeat` for `job_id` on `address` (BUSYOVER).
    fn idle_beat<'a>(
        &'a self,
        address: &'a str,
        job_id: JobId,
    ) -> impl Future<Output = Envelope<String>> + Send + 'a;
}

/// Which probe an attempt used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// `/beat`.
    Beat,
    /// `/idleBeat`.
    IdleBeat,
}

/// One probe of one address: what the route message lists for FAILOVER and BUSYOVER.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeAttempt {
    /// Which probe was called.
    pub kind: ProbeKind,
    /// The address probed, as listed.
    pub address: String,
    /// The reply's code (500 for a failed call).
    pub code: i32,
    /// The reply's message (the error text for a failed call).
    pub msg: Option<String>,
}
