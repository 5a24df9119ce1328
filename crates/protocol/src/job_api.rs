//! Bodies of the G3 job-management API (`/api/addJob`, `/api/updateJob`, `/api/removeJob`, `/api/startJob`,
//! `/api/stopJob`, `/api/triggerJob`), which third parties call through the admin's `/api/` dispatcher.
//!
//! Every string is optional and kept verbatim because the admin validates them itself and answers with its
//! own messages; the schedule type, misfire and route strategy stay strings here since only the admin
//! interprets them. Replies are plain [`crate::Envelope`]s (`addJob` carries the new id as a string).

use crate::java::{null_as_default, wire_struct};
use crate::{BlockStrategy, GlueType, JobId, Lenient};

wire_struct! {
    /// Body of `/api/addJob`: create a job (stopped) in a group.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[serde(rename_all = "camelCase")]
    pub struct JobAddRequest {
        /// The executor group's id.
        #[serde(default, deserialize_with = "null_as_default")]
        pub job_group: i32,
        /// The job's settings.
        #[serde(flatten)]
        pub job: JobSettings,
    }
}

wire_struct! {
    /// Body of `/api/updateJob`: change a job's settings. The admin keeps the job's group, ignores the glue
    /// fields, and clears its child job ids.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[serde(rename_all = "camelCase")]
    pub struct JobUpdateRequest {
        /// The job.
        #[serde(default, deserialize_with = "null_as_default")]
        pub id: JobId,
        /// The new settings.
        #[serde(flatten)]
        pub job: JobSettings,
    }
}

wire_struct! {
    /// The job settings shared by [`JobAddRequest`] and [`JobUpdateRequest`], in upstream property order.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[serde(rename_all = "camelCase")]
    pub struct JobSettings {
        /// The job's name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub name: Option<String>,
        /// The owner.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub author: Option<String>,
        /// Comma-separated alarm addresses.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub alarm_email: Option<String>,
        /// `NONE`, `CRON` or `FIX_RATE`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub schedule_type: Option<String>,
        /// The cron expression or the rate in seconds; must be present on update.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub schedule_conf: Option<String>,
        /// `DO_NOTHING` or `FIRE_ONCE_NOW`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub misfire_strategy: Option<String>,
        /// One of the ten route strategy names (`FIRST`, `ROUND`, `SHARDING_BROADCAST`, …).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub executor_route_strategy: Option<String>,
        /// The handler name; must be present (empty for GLUE jobs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub executor_handler: Option<String>,
        /// The job parameter.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub executor_param: Option<String>,
        /// The block strategy, as sent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub executor_block_strategy: Option<Lenient<BlockStrategy>>,
        /// Execution timeout in seconds.
        #[serde(default, deserialize_with = "null_as_default")]
        pub executor_timeout: i32,
        /// Retries after a failed execution.
        #[serde(default, deserialize_with = "null_as_default")]
        pub executor_fail_retry_count: i32,
        /// The glue type, as sent (used by add only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub glue_type: Option<Lenient<GlueType>>,
        /// Initial GLUE source (used by add only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub glue_source: Option<String>,
        /// Remark of the initial GLUE version (used by add only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub glue_remark: Option<String>,
    }
}

wire_struct! {
    /// Body of `/api/removeJob`, `/api/startJob` and `/api/stopJob`: `{"id":…}`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct JobOperateRequest {
        /// The job.
        #[serde(default, deserialize_with = "null_as_default")]
        pub id: JobId,
    }
}

wire_struct! {
    /// Body of `/api/triggerJob`: run a job once now (trigger type MANUAL).
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[serde(rename_all = "camelCase")]
    pub struct JobTriggerRequest {
        /// The job.
        #[serde(default, deserialize_with = "null_as_default")]
        pub id: JobId,
        /// Parameter override; `None` runs with `""`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub executor_param: Option<String>,
        /// Comma-separated executor addresses overriding routing; blank routes as usual.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub address_list: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_bodies_tolerate_nulls_and_unknown_spellings() {
        let add: JobAddRequest = serde_json::from_str(
            r#"{"jobGroup":null,"name":"n","glueType":"GLUE_RUBY","executorBlockStrategy":null,
                "executorTimeout":null,"unknown":1}"#,
        )
        .unwrap();
        assert_eq!(
            add,
            JobAddRequest {
                job_group: 0,
                job: JobSettings {
                    name: Some("n".to_owned()),
                    glue_type: Some(Lenient::Unknown("GLUE_RUBY".to_owned())),
                    ..JobSettings::default()
                },
            }
        );

        let update: JobUpdateRequest = serde_json::from_str(r#"{"id":57,"jobGroup":3}"#).unwrap();
        assert_eq!(
            update,
            JobUpdateRequest {
                id: JobId(57),
                job: JobSettings::default()
            }
        );

        assert!(serde_json::from_str::<JobOperateRequest>("[57]").is_err());
        let trigger: JobTriggerRequest = serde_json::from_str(r#"{"id":57}"#).unwrap();
        assert_eq!(
            trigger,
            JobTriggerRequest {
                id: JobId(57),
                executor_param: None,
                address_list: None
            }
        );
    }
}
