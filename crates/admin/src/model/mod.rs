//! Domain types of the scheduling center and their invariants: executor groups, jobs, trigger logs,
//! registrations, GLUE history, daily reports, console users, API tokens and planned triggers, with id
//! newtypes and the upstream enums.
//!
//! No IO and no serde here: the store maps rows to these types, the web layer maps them to JSON. Enums
//! keep upstream's spellings (through [`xjob_protocol::WireEnum`]) so each literal appears once; values
//! read from a database that this crate does not know stay representable through
//! [`xjob_protocol::Lenient`].

mod enums;
mod glue;
mod group;
mod ids;
mod job;
mod log;
mod planned;
mod registry;
mod report;
mod token;
mod user;

pub use enums::{
    AddressType, AlarmStatus, MisfireStrategy, RouteStrategy, ScheduleType, TriggerStatus, UserRole,
};
pub use glue::LogGlue;
pub use group::{AppName, InvalidAppName, JobGroup, NewJobGroup, address_tokens};
pub use ids::{ApiTokenId, JobGroupId, LogGlueId, LogReportId, PlannedTriggerId, RegistryId, UserId};
pub use job::{ChildJob, Glue, InvalidSchedule, Job, JobSettings, RetryPolicy, Schedule, ScheduleState};
pub use log::{ClearType, JobLog, LogCounts, LogHandle, LogStatus, LogTrigger, NewJobLog};
pub use planned::{NewPlannedTrigger, PlannedTrigger};
pub use registry::Registry;
pub use report::LogReport;
pub use token::{ApiToken, GroupScope, NewApiToken};
pub use user::{NewUser, User};
pub use xjob_protocol::{BlockStrategy, GlueType, JobId, Lenient, LogId, RegistryGroup, WireEnum};
