//! Planned triggers (`xjob_planned_trigger`, a table of this product): one-off MANUAL triggers of a job
//! asked for through the job API for a later instant. The scheduler claims them like scheduled fires;
//! a planned trigger exists until it is claimed for firing or cancelled.

use chrono::{DateTime, Utc};
use xjob_protocol::JobId;

use crate::model::PlannedTriggerId;

/// A stored planned trigger, waiting for its instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedTrigger {
    /// Its id, which the caller cancels it by.
    pub id: PlannedTriggerId,
    /// The job to trigger.
    pub job_id: JobId,
    /// When to trigger (Unix ms).
    pub trigger_time: i64,
    /// Replaces the job's parameter when set.
    pub executor_param: Option<String>,
    /// Run on these executors instead of routing over the group (empty: route as usual).
    pub address_list: Vec<String>,
    /// When it was planned (whole seconds, as every DATETIME column).
    pub created_at: DateTime<Utc>,
    /// Who planned it: the API token's name and id.
    pub created_by: String,
}

/// The fields of a planned trigger to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPlannedTrigger {
    /// The job to trigger.
    pub job_id: JobId,
    /// When to trigger (Unix ms).
    pub trigger_time: i64,
    /// Replaces the job's parameter when set.
    pub executor_param: Option<String>,
    /// Chosen executors (empty: route as usual).
    pub address_list: Vec<String>,
    /// Who plans it.
    pub created_by: String,
}
