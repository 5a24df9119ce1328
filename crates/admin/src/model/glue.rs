//! GLUE source history (`xxl_job_logglue`): one row per saved version, the newest 30 kept per job.

use chrono::{DateTime, Utc};
use xjob_protocol::{GlueType, JobId, Lenient};

use crate::model::LogGlueId;

/// A stored row of `xxl_job_logglue`: one saved version of a job's GLUE source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogGlue {
    /// Version id.
    pub id: LogGlueId,
    /// The job the source belongs to.
    pub job_id: JobId,
    /// The job's GLUE type when the version was saved (NULL is possible in upstream rows).
    pub glue_type: Option<Lenient<GlueType>>,
    /// The source as saved.
    pub source: Option<String>,
    /// The remark typed at save.
    pub remark: String,
    /// Save time.
    pub add_time: Option<DateTime<Utc>>,
    /// Save time (upstream writes both columns).
    pub update_time: Option<DateTime<Utc>>,
}
