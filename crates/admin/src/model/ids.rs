//! Id newtypes for the admin's own tables; [`xjob_protocol::JobId`] and [`xjob_protocol::LogId`] cover jobs
//! and logs because they travel on the wire. Each wraps the column's integer width upstream.

use std::fmt;

macro_rules! id_newtype {
    ($(#[$meta:meta])* $name:ident($inner:ty)) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$inner> for $name {
            fn from(id: $inner) -> Self {
                $name(id)
            }
        }
    };
}

id_newtype!(
    /// An executor group (`xxl_job_group.id`).
    JobGroupId(i32)
);
id_newtype!(
    /// A heartbeat registration (`xxl_job_registry.id`; INT in 2.4.x databases, BIGINT later).
    RegistryId(i64)
);
id_newtype!(
    /// A GLUE source version (`xxl_job_logglue.id`).
    LogGlueId(i32)
);
id_newtype!(
    /// A daily report row (`xxl_job_log_report.id`).
    LogReportId(i32)
);
id_newtype!(
    /// A console user (`xxl_job_user.id`); the login session carries it.
    UserId(i32)
);
id_newtype!(
    /// An API token (`xjob_api_token.id`, a table of this product).
    ApiTokenId(i64)
);
id_newtype!(
    /// A trigger planned for a later instant (`xjob_planned_trigger.id`, a table of this product).
    PlannedTriggerId(i64)
);
