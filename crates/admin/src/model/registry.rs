//! Heartbeat registrations (`xxl_job_registry`): one row per (kind, AppName, address), refreshed every
//! 30 s by the executor and dropped after 90 s of silence.

use chrono::{DateTime, Utc};
use xjob_protocol::{Generation, Lenient, RegistryGroup};

use crate::model::RegistryId;

/// A stored registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry {
    /// Row id.
    pub id: RegistryId,
    /// Registration kind; executors send `EXECUTOR`, other spellings are stored as received.
    pub group: Lenient<RegistryGroup>,
    /// The executor's AppName.
    pub key: String,
    /// The executor's address.
    pub value: String,
    /// Last heartbeat (admin clock).
    pub update_time: Option<DateTime<Utc>>,
    /// The protocol generation the executor was last heard speaking; `None` when no admin could tell (or
    /// the row was written by an upstream admin).
    pub generation: Option<Generation>,
}
